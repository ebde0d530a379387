"""Which way the TUI draws pictures in this terminal, and why.

`GLADTUI_PICTURES` (for this terminal) or `tui.pictures` (in the config)
forces one; the environment wins, since it belongs to the terminal the
reviewer is sitting at. Otherwise the facts decide (terminalfacts.py):

- outside tmux: sixel where the terminal says so in its device attributes,
  else kitty graphics where it answers the kitty graphics query (kitty and
  Ghostty, which draw no sixel), else coloured half blocks;
- inside tmux: sixel where tmux draws it itself (3.4 and later, built with
  sixel); else kitty graphics through tmux's passthrough, as Unicode
  placeholders (text that tmux keeps in place), when passthrough is on and
  the outer terminal is one known to draw placeholders (kitty, Ghostty);
  else half blocks, and the reason says what would give pixels.

No Textual here: `gladtui status` reports the choice without starting a TUI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from gladtui.config import ConfigError
from gladtui.terminalfacts import TerminalFacts, Tmux, draws_placeholders, examine

Protocol = Literal["kitty", "sixel", "iterm2", "halfblocks"]
Setting = Literal["auto", "kitty", "sixel", "iterm2", "halfblocks"]
PROTOCOLS: tuple[str, ...] = get_args(Protocol)
ENV = "GLADTUI_PICTURES"
PASSTHROUGH_LINE = "set -g allow-passthrough on"
PASSTHROUGH_FIX = (
    f"add `{PASSTHROUGH_LINE}` to ~/.tmux.conf, then `tmux source-file ~/.tmux.conf`"
    " and start gladtui again"
)
OUTSIDE_TMUX = "or run `gladtui --ssh HOST` from your own terminal, outside tmux"

DESCRIPTIONS = {
    "kitty": "kitty graphics protocol (real pixels)",
    "sixel": "sixel (real pixels)",
    "iterm2": "iTerm2 inline images (real pixels)",
    "halfblocks": "coloured half blocks (two pixels per cell)",
}


class ProtocolError(ConfigError):
    """An unknown protocol name; the message lists the known ones."""


@dataclass(frozen=True, slots=True)
class Choice:
    protocol: Protocol
    why: str
    facts: TerminalFacts | None = None  # None: the terminal was not examined

    def describe(self) -> str:
        return f"{DESCRIPTIONS[self.protocol]}: {self.why}"

    def describe_cells(self) -> str:
        """A cell's size in pixels, which sizes the pictures, and where it came from."""
        if self.facts is None:
            return "not examined"
        cell = self.facts.cell
        return f"{cell.width}x{cell.height} pixels ({cell.source})"

    @property
    def in_tmux(self) -> bool:
        """Escapes for the outer terminal need wrapping for tmux's passthrough."""
        return self.facts is not None and self.facts.tmux is not None


def choose(
    setting: str, env: Mapping[str, str] | None = None, facts: TerminalFacts | None = None
) -> Choice:
    """The protocol to draw with: $GLADTUI_PICTURES, else `setting`, else detection.

    `facts`: what is known of the terminal; by default it is examined now (which
    asks it, so call this before Textual takes the terminal over).
    """
    env = os.environ if env is None else env
    forced = env.get(ENV, "").strip()
    if forced and forced != "auto":
        protocol = _checked(forced, f"${ENV}")
        source = f"forced by ${ENV}={forced}"
    elif setting != "auto":
        protocol = _checked(setting, "tui.pictures")
        source = f"forced by tui.pictures: {setting}"
    else:
        facts = examine(env) if facts is None else facts
        return detect(facts)
    facts = examine(env) if facts is None else facts
    warning = _forced_warning(protocol, facts)
    return Choice(protocol, f"{source}{'; ' + warning if warning else ''}", facts)


def _checked(name: str, source: str) -> Protocol:
    if name not in PROTOCOLS:
        known = ", ".join(("auto", *PROTOCOLS))
        raise ProtocolError(f"{source}: unknown picture protocol {name!r}; known: {known}")
    return name  # type: ignore[return-value]  # checked against the Literal's values


def detect(facts: TerminalFacts) -> Choice:
    """The best protocol these facts allow, and why."""
    if not facts.terminal:
        return Choice("halfblocks", "not a terminal", facts)
    if facts.tmux is not None:
        return _in_tmux(facts, facts.tmux)
    if facts.screen:
        why = (
            "inside GNU screen, which passes no graphics through; run `gladtui --ssh HOST`"
            " from your own terminal, outside screen"
        )
        return Choice("halfblocks", why, facts)
    if facts.sixel:
        return Choice("sixel", "the terminal answered the sixel query", facts)
    if facts.kitty:
        return Choice("kitty", "the terminal answered the kitty graphics query", facts)
    why = "the terminal answered neither the sixel nor the kitty graphics query"
    return Choice("halfblocks", why, facts)


def _in_tmux(facts: TerminalFacts, tmux: Tmux) -> Choice:
    if not tmux.asked:
        why = "inside tmux, but no `tmux` command here to ask it whether graphics pass through"
        return Choice("halfblocks", why, facts)
    where = f"inside tmux {tmux.version}"
    yours = f"your terminal ({facts.name})" if facts.name else "your terminal"
    if tmux.draws_sixel and "sixel" in tmux.features:
        return Choice("sixel", f"{where}, which draws sixel on {yours}", facts)
    placeholders = draws_placeholders(facts.name)
    if not tmux.passthrough:
        why = f"{where} with allow-passthrough off: no graphics reach {yours}"
        if placeholders is not False:
            why += f"; for real pixels {PASSTHROUGH_FIX}"
        return Choice("halfblocks", why, facts)
    if placeholders and facts.kitty:
        why = (
            f"{where} with allow-passthrough on, {yours} answered the kitty graphics query;"
            " drawn as Unicode placeholders, which tmux keeps in place"
        )
        return Choice("kitty", why, facts)
    if placeholders:
        why = (
            f"{where} with allow-passthrough on, {yours} is known to draw kitty's Unicode"
            " placeholders (its answer to the kitty graphics query did not come back)"
        )
        return Choice("kitty", why, facts)
    return Choice("halfblocks", f"{where}: {_no_pixels_in_tmux(facts, tmux, yours)}", facts)


def _no_pixels_in_tmux(facts: TerminalFacts, tmux: Tmux, yours: str) -> str:
    no_sixel = _tmux_sixel_note(tmux)
    if draws_placeholders(facts.name) is False:
        return (
            f"{yours} draws kitty graphics but not its Unicode placeholders, the only kitty"
            f" images tmux keeps in place; {no_sixel}; {OUTSIDE_TMUX}"
        )
    if facts.kitty:
        return (
            f"{yours} answered the kitty graphics query but is not one known to draw"
            f" its Unicode placeholders (kitty, Ghostty): set {ENV}=kitty to try; {no_sixel}"
        )
    return f"{yours} did not answer the kitty graphics query through tmux; {no_sixel}"


def _tmux_sixel_note(tmux: Tmux) -> str:
    if tmux.number < (3, 4):
        return f"tmux {tmux.version} cannot carry sixel (3.4 and later built with sixel can)"
    if not tmux.draws_sixel:
        return f"this tmux {tmux.version} was built without sixel"
    return "tmux does not know your terminal draws sixel (terminal-features: sixel)"


def _forced_warning(protocol: Protocol, facts: TerminalFacts) -> str:
    """What will go wrong with a forced protocol inside tmux, if anything."""
    tmux = facts.tmux
    if tmux is None or protocol == "halfblocks":
        return ""
    if protocol == "kitty" and not tmux.passthrough:
        return f"but tmux's allow-passthrough is off, so nothing is drawn: {PASSTHROUGH_FIX}"
    if protocol == "sixel" and not tmux.draws_sixel:
        return f"but {_tmux_sixel_note(tmux)}"
    if protocol == "iterm2":
        return "but tmux passes iTerm2 images without placing them: they land out of place"
    return ""
