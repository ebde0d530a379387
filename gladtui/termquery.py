"""Asking the terminal: queries written, answers read back before the TUI starts.

A terminal answers queries in the order they came, so the queries go out in
one write followed by a status report request (`CSI 5 n`, answered `CSI 0 n`
by every terminal since the VT100): once its answer is in, every answer that
will come has come, and nothing is left to arrive later as a keystroke. The
other queries' answers are told apart by their shapes (and the kitty answer
by its id), so a late answer to someone else's earlier query is harmless.
Inside tmux the queries are wrapped for its passthrough and the outer
terminal answers; tmux 3.3a hands those answers to the pane (measured).

No policy here: what the answers mean for pictures is terminalfacts.py's.
"""

from __future__ import annotations

import os
import re
import select
import termios
import time
import tty
from dataclasses import dataclass, field

from gladtui.passthrough import Wrap

KITTY_QUERY_ID = 4242  # any id: `a=q` stores nothing and replaces nothing
TIMEOUT = 2.0  # seconds for the status report: long enough for a slow SSH link

# The queries: primary device attributes (4 among them: sixel), kitty graphics
# (a 1x1 RGB image, queried, not stored), XTVERSION (the terminal's name and
# version), the cell size in pixels, and last the status report that ends it.
DEVICE_ATTRIBUTES = "\x1b[c"
KITTY_GRAPHICS = f"\x1b_Gi={KITTY_QUERY_ID},s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
XTVERSION = "\x1b[>q"
CELL_SIZE = "\x1b[16t"
STATUS_REPORT = "\x1b[5n"

_DA1 = re.compile(rb"\x1b\[\?([0-9;]*)c")
_KITTY = re.compile(rb"\x1b_Gi=(\d+)[^;\x1b]*;([^\x1b]*)\x1b\\")
_XTVERSION = re.compile(rb"\x1bP>\|([^\x1b]*)\x1b\\")
_CELL = re.compile(rb"\x1b\[6;(\d+);(\d+)t")
_STATUS = b"\x1b[0n"


@dataclass(frozen=True, slots=True)
class Answers:
    """What came back, in the order it came."""

    device_attributes: list[tuple[int, ...]] = field(default_factory=list)
    kitty: list[str] = field(default_factory=list)  # "OK" or the terminal's error
    versions: list[str] = field(default_factory=list)  # XTVERSION: "kitty(0.35.2)"
    cells: list[tuple[int, int]] = field(default_factory=list)  # (width, height) pixels
    complete: bool = False  # the status report came: nothing more is on its way


def parse(data: bytes, kitty_id: int = KITTY_QUERY_ID) -> Answers:
    """The answers in `data`; the kitty answers only to the query with `kitty_id`."""
    return Answers(
        device_attributes=[
            tuple(int(p) for p in m.group(1).split(b";") if p) for m in _DA1.finditer(data)
        ],
        kitty=[
            m.group(2).decode("ascii", "replace")
            for m in _KITTY.finditer(data)
            if int(m.group(1)) == kitty_id
        ],
        versions=[m.group(1).decode("utf-8", "replace") for m in _XTVERSION.finditer(data)],
        cells=[(int(m.group(2)), int(m.group(1))) for m in _CELL.finditer(data)],
        complete=_STATUS in data,
    )


def probe(wrap: Wrap) -> str:
    """The queries for the terminal `wrap` reaches (itself, or the one outside tmux)."""
    queries = (DEVICE_ATTRIBUTES, KITTY_GRAPHICS, XTVERSION, CELL_SIZE, STATUS_REPORT)
    return "".join(wrap(q) for q in queries)


def ask(query: str, fd_in: int, fd_out: int, timeout: float = TIMEOUT) -> bytes:
    """Write `query` (which ends with the status report) and read until its answer.

    The terminal is in cbreak mode meanwhile (no echo, no line editing); its mode
    is restored after. Past `timeout` what came is returned (`complete` false).
    """
    saved = termios.tcgetattr(fd_in)
    try:
        tty.setcbreak(fd_in, termios.TCSANOW)
        os.write(fd_out, query.encode())
        return _read_until_status(fd_in, time.monotonic() + timeout)
    finally:
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)


def _read_until_status(fd: int, deadline: float) -> bytes:
    data = b""
    while _STATUS not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    return data
