"""How an escape sequence reaches the terminal the reviewer sits at, through tmux.

tmux draws its panes itself and keeps graphics escapes to itself, except those
wrapped for its passthrough: `ESC P tmux;` + the sequence with every ESC
doubled + `ESC \\`. tmux then writes the inner sequence to its own terminal,
unchanged, when `allow-passthrough` is on (tmux 3.3 and later; before 3.3
passthrough was always on), and drops it when it is off. It does not move the
cursor first: the sequence lands wherever tmux last left the outer cursor, so
only escapes that need no position (kitty's transmission and virtual
placement, queries) are worth wrapping.
"""

from __future__ import annotations

from collections.abc import Callable

ESC = "\x1b"
TMUX_START = ESC + "Ptmux;"
STRING_END = ESC + "\\"

Wrap = Callable[[str], str]


def tmux_wrap(sequence: str) -> str:
    """`sequence` as tmux's passthrough carries it to the outer terminal."""
    return TMUX_START + sequence.replace(ESC, ESC + ESC) + STRING_END


def unwrapped(sequence: str) -> str:
    return sequence


def wrap_for(in_tmux: bool) -> Wrap:
    """The wrapping for escapes meant for the outer terminal."""
    return tmux_wrap if in_tmux else unwrapped
