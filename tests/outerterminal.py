"""The terminal outside tmux, played by a test: a pty that `tmux attach` runs in.

It answers what the real terminal would (here kitty by default: its XTVERSION,
its device attributes, OK to the kitty graphics query, its cell size, the
status report), keeps every byte tmux writes to it, and keeps the screen those
bytes draw (pyte, fed as they come), which the test reads as that terminal
would (tests/kittybytes.py).
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pyte

QUERIES = re.compile(
    rb"\x1b\[>q|\x1b\[>0?c|\x1b\[0?c|\x1b\[1[46]t|\x1b\[5n"
    rb"|\x1b_G[^;\x1b]*a=q[^;\x1b]*;[^\x1b]*\x1b\\"
)
KITTY_QUERY_ID = re.compile(rb"i=(\d+)")
STRING_START = re.compile(rb"\x1b[_P]")  # APC and DCS: graphics, which pyte would print
STRING_END = b"\x1b\\"
T = TypeVar("T")


class OuterTerminal:
    def __init__(
        self,
        columns: int,
        rows: int,
        cell: tuple[int, int] = (12, 24),
        name: str = "kitty(0.35.2)",
        kitty: bool = True,
    ) -> None:
        self.columns, self.rows, self.cell = columns, rows, cell
        self.name, self.kitty = name, kitty
        self.output = bytearray()
        self._screen = pyte.Screen(columns, rows)
        self._stream = pyte.ByteStream(self._screen)
        self._fed = 0  # the output before this offset is on the screen
        self._answered_to = 0  # the queries before this offset are answered
        self.lock = threading.RLock()  # the output and the screen change under it
        self._main: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._reader = threading.Thread(target=self._run, daemon=True)
        self._ended: str | None = None

    def attach(self, tmux: str, socket: Path, env: dict[str, str]) -> None:
        """`tmux -S socket attach` in the pty, as the terminal's user would."""
        main, child = os.openpty()
        width, height = self.cell
        pixels = (self.columns * width, self.rows * height)
        size = struct.pack("HHHH", self.rows, self.columns, *pixels)
        fcntl.ioctl(child, termios.TIOCSWINSZ, size)
        self._process = subprocess.Popen(
            [tmux, "-S", str(socket), "attach"],
            stdin=child,
            stdout=child,
            stderr=child,
            env=env,
            start_new_session=True,
        )
        os.close(child)
        self._main = main
        self._reader.start()

    def wait_for(self, until: Callable[[bytes], T], what: str, timeout: float = 60) -> T:
        """What `until(output)` gives once it is true; fail after `timeout` seconds.
        It is asked every 0.1 s, while no byte comes in (the screen is consistent)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if self._ended is not None:
                    raise AssertionError(f"tmux's client ended before {what}: {self._ended}")
                found = until(bytes(self.output))
                if found:
                    return found
                tail = bytes(self.output[-1500:])
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout:g} s for {what}; the last bytes: {tail!r}")
            time.sleep(0.1)

    def _run(self) -> None:
        """Read all tmux writes, as a terminal does, and answer at once."""
        assert self._main is not None
        while True:
            try:
                data = os.read(self._main, 1 << 16)
            except OSError as error:  # the client ended, or the test hung up
                data, self._ended = b"", str(error)
            if not data:
                self._ended = self._ended or "end of output"
                return
            with self.lock:
                self.output += data
                self._answer(len(self.output) - len(data))

    @property
    def screen(self) -> pyte.Screen:
        """The screen as the output so far draws it. Fed here, not as bytes come: a
        reader slower than tmux makes tmux discard output, graphics included."""
        with self.lock:
            self._draw()
            return self._screen

    def _draw(self) -> None:
        """Feed the screen, leaving out APC and DCS strings (whole or not yet ended)."""
        while self._fed < len(self.output):
            start = STRING_START.search(self.output, self._fed)
            if start is None:
                end = len(self.output) - (1 if self.output.endswith(b"\x1b") else 0)
                self._stream.feed(bytes(self.output[self._fed : end]))
                self._fed = end  # an ESC at the end may start a string: left for later
                return
            self._stream.feed(bytes(self.output[self._fed : start.start()]))
            end = self.output.find(STRING_END, start.end())
            if end < 0:
                self._fed = start.start()  # the rest when the string has ended
                return
            self._fed = end + len(STRING_END)

    def _answer(self, new: int) -> None:
        """Answer the queries that came, looking only at the new bytes (and a query's
        length before them, for one that came in two reads)."""
        assert self._main is not None
        for query in QUERIES.finditer(self.output, max(self._answered_to, new - 256)):
            reply = self._reply(query.group(0))
            if reply:
                os.write(self._main, reply)
            self._answered_to = query.end()

    def _reply(self, query: bytes) -> bytes:
        width, height = self.cell
        if query == b"\x1b[>q":
            return b"\x1bP>|" + self.name.encode() + b"\x1b\\"
        if query.startswith(b"\x1b[>"):
            return b"\x1b[>1;4000;29c"  # kitty's secondary device attributes
        if query.endswith(b"c"):
            return b"\x1b[?62;c"  # kitty's primary device attributes: no sixel
        if query == b"\x1b[16t":
            return f"\x1b[6;{height};{width}t".encode()
        if query == b"\x1b[14t":
            return f"\x1b[4;{self.rows * height};{self.columns * width}t".encode()
        if query == b"\x1b[5n":
            return b"\x1b[0n"
        found = KITTY_QUERY_ID.search(query)
        if self.kitty and found is not None:
            return b"\x1b_Gi=" + found.group(1) + b";OK\x1b\\"
        return b""

    def close(self) -> None:
        """Stop the client, then hang up."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(10)
        if self._reader.is_alive():
            self._reader.join(10)  # the pty reports the end once the client is gone
        if self._main is not None:
            os.close(self._main)
            self._main = None
