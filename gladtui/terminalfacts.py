"""What the reviewer's terminal can do, found out before the TUI starts.

From the environment, from tmux when inside it (`tmux display -p`: its version,
`allow-passthrough`, and what it learnt of its own terminal: the XTVERSION
answer `client_termtype`, `client_termfeatures`, the cell size), and from the
terminal's answers to a few queries (termquery.py), wrapped for tmux's
passthrough when it is on. pictureprotocol.py turns these facts into a choice.

Measured with Debian's tmux 3.3a: passthrough is off by default; with it on,
the outer terminal's answers to wrapped queries (kitty graphics, XTVERSION,
`CSI 16 t`, DA1, DSR) come back to the pane; tmux itself answers DA1 (no
sixel: 3.3a has none) and DSR but not `CSI 16 t` (3.4 and later answer it).
The first pane of a session created detached keeps tmux's guessed 16x32
pixel cells in its window size until a resize, while `#{client_cell_width}`
and `#{client_cell_height}` hold the attached terminal's real ones.
"""

from __future__ import annotations

import array
import fcntl
import os
import re
import shutil
import subprocess
import sys
import termios
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from gladtui import termquery
from gladtui.passthrough import tmux_wrap, unwrapped

ASSUMED_CELL = (10, 20)  # pixels: a VT340's cell, what textual-image assumes too
SIXEL = 4  # the DA1 attribute that says "sixel graphics"
TMUX_FORMAT = "\t".join(
    (
        "#{version}",
        "#{allow-passthrough}",
        "#{client_termtype}",
        "#{client_termname}",
        "#{client_termfeatures}",
        "#{client_cell_width}",
        "#{client_cell_height}",
    )
)


# Inside a tmux that cannot be asked (no `tmux` on PATH): nothing known, nothing passed.
UNASKED_TMUX = ["", "off", "", "", "", "", ""]


class CellPixels(NamedTuple):
    width: int
    height: int
    source: str  # where the size came from, for `gladtui status` and the help


@dataclass(frozen=True, slots=True)
class Tmux:
    """The tmux this runs in, and what it knows of the terminal outside it."""

    version: str  # "3.3a"
    passthrough: bool  # escapes wrapped for it reach the outer terminal
    termtype: str  # the outer terminal's XTVERSION answer, as tmux got it ("" if none)
    termname: str  # the outer terminal's TERM ("xterm-kitty")
    features: frozenset[str]  # client_termfeatures: RGB, sixel, ...
    draws_sixel: bool  # tmux itself says sixel in its DA1 answer (3.4+ built with it)
    asked: bool = True  # False: `tmux display` could not be run, nothing above is known

    @property
    def number(self) -> tuple[int, int]:
        """(3, 3) for "3.3a"; (0, 0) when tmux does not say."""
        match = re.search(r"(\d+)\.(\d+)", self.version)
        return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


@dataclass(frozen=True, slots=True)
class TerminalFacts:
    terminal: bool  # stdin and stdout are a terminal: it could be asked
    tmux: Tmux | None
    screen: bool  # inside GNU screen
    name: str  # the outer terminal's name and version as it gave it, "" if unknown
    kitty: bool | None  # answered the kitty graphics query OK; None: not asked
    sixel: bool  # its DA1 answer lists sixel
    cell: CellPixels


# Terminals by the name they give (XTVERSION, else TERM): whether they draw kitty's
# Unicode placeholders, the only kitty images tmux keeps in place. kitty since
# 0.28 and Ghostty since 1.0 do (their docs); WezTerm and Konsole draw kitty
# graphics but not placeholders (wezterm/wezterm PR 7924, still open; Konsole
# per image.nvim issue 74), and answer the kitty query all the same.
PLACEHOLDERS = re.compile(r"\bkitty\b|ghostty", re.IGNORECASE)
NO_PLACEHOLDERS = re.compile(r"wezterm|konsole", re.IGNORECASE)
KITTY_VERSION = re.compile(r"kitty\((\d+)\.(\d+)")
FIRST_KITTY_WITH_PLACEHOLDERS = (0, 28)


def draws_placeholders(name: str) -> bool | None:
    """True or False when the terminal named `name` is known to, or not to; else None."""
    version = KITTY_VERSION.search(name)
    if version is not None:
        return (int(version.group(1)), int(version.group(2))) >= FIRST_KITTY_WITH_PLACEHOLDERS
    if PLACEHOLDERS.search(name):
        return True
    if NO_PLACEHOLDERS.search(name):
        return False
    return None


def examine(env: Mapping[str, str] | None = None) -> TerminalFacts:
    """Ask what can be asked: tmux, then the terminal (only when it is one)."""
    env = os.environ if env is None else env
    terminal = _is_terminal()
    tmux_fields = (_tmux_fields(env) or UNASKED_TMUX) if env.get("TMUX") else None
    if not terminal:
        tmux = _tmux(tmux_fields, tmux_da1=()) if tmux_fields else None
        return TerminalFacts(False, tmux, bool(env.get("STY")), "", None, False, _assumed())
    passthrough = tmux_fields is not None and _passthrough(tmux_fields)
    if tmux_fields is None:
        query = termquery.probe(unwrapped)
    elif passthrough:  # tmux answers the first DA1 itself; the outer terminal the rest
        query = termquery.DEVICE_ATTRIBUTES + termquery.probe(tmux_wrap)
    else:
        query = termquery.DEVICE_ATTRIBUTES + termquery.STATUS_REPORT
    try:
        data = termquery.ask(query, sys.stdin.fileno(), sys.stdout.fileno())
    except (OSError, termios.error):  # a terminal that cannot be put in cbreak mode
        data = b""
    return facts_from(env, termquery.parse(data), tmux_fields, _window_cell())


def facts_from(
    env: Mapping[str, str],
    answers: termquery.Answers,
    tmux_fields: list[str] | None,
    window_cell: tuple[int, int] | None,
) -> TerminalFacts:
    """The facts, from the answers a terminal gave (the part of `examine` without I/O)."""
    attributes = list(answers.device_attributes)
    tmux = None
    if tmux_fields is not None:
        tmux = _tmux(tmux_fields, attributes.pop(0) if attributes else ())
    outer_attributes = attributes[0] if attributes else ()
    reached = tmux is None or tmux.passthrough  # did the queries reach the outer terminal
    name = _name(env, answers, tmux)
    kitty = (answers.kitty[:1] == ["OK"]) if reached else None
    cell = _cell(answers, tmux_fields, window_cell, reached)
    return TerminalFacts(
        True, tmux, bool(env.get("STY")), name, kitty, SIXEL in outer_attributes, cell
    )


def _name(env: Mapping[str, str], answers: termquery.Answers, tmux: Tmux | None) -> str:
    if answers.versions and (tmux is None or tmux.passthrough):
        return answers.versions[0]
    if tmux is not None:
        return tmux.termtype or tmux.termname
    program = env.get("TERM_PROGRAM", "")
    return f"{program} {env.get('TERM_PROGRAM_VERSION', '')}".strip()


def _cell(
    answers: termquery.Answers,
    tmux_fields: list[str] | None,
    window_cell: tuple[int, int] | None,
    reached: bool,
) -> CellPixels:
    """The terminal's own answer first; tmux's view of it; the window size; a guess."""
    if reached and answers.cells and all(answers.cells[0]):
        return CellPixels(*answers.cells[0], "the terminal's answer to CSI 16 t")
    if tmux_fields is not None:
        width, height = (int(v) if v.isdigit() else 0 for v in tmux_fields[5:7])
        if width and height:
            return CellPixels(width, height, "tmux's client_cell_width and client_cell_height")
    if window_cell is not None:
        return CellPixels(*window_cell, "the window size's pixel fields (TIOCGWINSZ)")
    return _assumed()


def _assumed() -> CellPixels:
    return CellPixels(*ASSUMED_CELL, "assumed: the terminal did not say")


def _is_terminal() -> bool:
    streams = (sys.stdin, sys.stdout)
    return all(s is not None and not s.closed and s.isatty() for s in streams)


def _window_cell() -> tuple[int, int] | None:
    """Pixels per cell from the window size, where the terminal fills its pixel fields."""
    size = array.array("H", [0, 0, 0, 0])
    try:
        fcntl.ioctl(sys.stdout.fileno(), termios.TIOCGWINSZ, size)
    except OSError:
        return None
    rows, columns, width, height = size
    if not (rows and columns and width and height):
        return None
    return width // columns, height // rows


def _tmux_fields(env: Mapping[str, str]) -> list[str] | None:
    """tmux's view: TMUX_FORMAT's fields, or None when tmux cannot be asked."""
    program = shutil.which("tmux", path=env.get("PATH"))
    if program is None:
        return None
    target = ["-t", env["TMUX_PANE"]] if env.get("TMUX_PANE") else []
    try:
        result = subprocess.run(
            [program, "display-message", "-p", *target, TMUX_FORMAT],
            capture_output=True,
            text=True,
            timeout=5,
            env=dict(env),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    fields = result.stdout.rstrip("\n").split("\t")
    return fields if result.returncode == 0 and len(fields) == 7 else None


def _passthrough(fields: list[str]) -> bool:
    """On: "on" or "all" (3.4+), "1" in a format; before 3.3 there was no switch."""
    value = fields[1]
    if value == "":
        return Tmux(fields[0], False, "", "", frozenset(), False).number < (3, 3)
    return value not in ("0", "off")


def _tmux(fields: list[str], tmux_da1: tuple[int, ...]) -> Tmux:
    return Tmux(
        version=fields[0],
        passthrough=_passthrough(fields),
        termtype=fields[2],
        termname=fields[3],
        features=frozenset(f for f in fields[4].split(",") if f),
        draws_sixel=SIXEL in tmux_da1,
        asked=fields is not UNASKED_TMUX,
    )
