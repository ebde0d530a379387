"""Idle connections held open by another user, for the connection-limit tests.

`Flood` forks a child that becomes `uid` (root only, like tests/privileges.py),
opens `count` connections to the daemon's socket that send nothing, and then
asks `GET /api/health` on one more connection (the probe). The daemon accepts
in order, so once the probe is answered every earlier connection has been
admitted or refused: a refused one has its 503 waiting to be read, an admitted
one has nothing. The child reports which were which, then holds the admitted
ones until `close()`.

Like tests/privileges.py, the child uses only modules already imported here.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.privileges import NOBODY

CONNECT_SECONDS = 60.0


@dataclass(frozen=True)
class Held:
    admitted: int  # connections the daemon kept open
    refused: int  # connections answered 503 and closed
    refusal: str  # the first refusal's JSON message ("" if none)
    probe: int  # the probe's HTTP status
    probe_message: str  # its JSON error message ("" for a 2xx)


def connect(path: Path) -> socket.socket:
    """A connected socket, waiting while the daemon's backlog is full (EAGAIN)."""
    deadline = time.monotonic() + CONNECT_SECONDS
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(str(path))
        except BlockingIOError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        sock.setblocking(True)
        sock.settimeout(CONNECT_SECONDS)
        return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the daemon closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_answer(sock: socket.socket) -> bytes:
    """One answer: its head, then as many bytes as its Content-Length says."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer's head: {raw!r}")
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    length = int(split_answer(head + b"\r\n\r\n")[1]["content-length"])
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            raise ConnectionError(f"closed after {len(body)} of {length} bytes")
        body += chunk
    return head + b"\r\n\r\n" + body


def split_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """An HTTP answer's status, headers (lower-case names) and body."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def request(path: Path, method: str = "GET", url: str = "/api/health") -> tuple[int, str]:
    """One request on a new connection: its status and JSON error message ("" if none)."""
    with connect(path) as sock:
        # Refused and closed before the request went? The refusal is there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(f"{method} {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, _headers, body = split_answer(read_answer(sock))
    return status, error_message(body) if status >= 400 else ""


def error_message(body: bytes) -> str:
    return str(json.loads(body)["error"]["message"])


def _classify(held: list[socket.socket]) -> tuple[list[socket.socket], int, str]:
    """The connections still open, how many were refused, the first refusal's message."""
    kept, refused, refusal = [], 0, ""
    for sock in held:
        sock.setblocking(False)
        try:
            first = sock.recv(65536)
        except BlockingIOError:
            kept.append(sock)
            continue
        sock.setblocking(True)
        raw = first + read_all(sock)  # the refusal, then the end
        sock.close()
        status, _headers, body = split_answer(raw)
        if status != 503:
            raise AssertionError(f"a held connection was answered {raw!r}")
        refused += 1
        refusal = refusal or error_message(body)
    return kept, refused, refusal


class Flood:
    """`count` idle connections from `uid`, held from `open()` to `close()`."""

    def __init__(self, socket_path: Path, count: int, uid: int = NOBODY, gid: int = NOBODY):
        self.socket_path, self.count, self.uid, self.gid = socket_path, count, uid, gid
        self._pid = 0
        self._stop = -1

    def open(self) -> Held:
        report_read, report_write = os.pipe()
        stop_read, self._stop = os.pipe()
        self._pid = os.fork()
        if self._pid == 0:  # the child
            os.close(report_read)
            os.close(self._stop)
            self._child(report_write, stop_read)
        os.close(report_write)
        os.close(stop_read)
        with os.fdopen(report_read, "rb") as pipe:
            ok, value = pickle.loads(pipe.read())
        if not ok:
            self.close()
            raise value
        assert isinstance(value, Held)
        return value

    def _child(self, report: int, stop: int) -> None:
        try:
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)
            held = [connect(self.socket_path) for _ in range(self.count)]
            probe, probe_message = request(self.socket_path)
            kept, refused, refusal = _classify(held)
            outcome: tuple[bool, object] = (
                True,
                Held(len(kept), refused, refusal, probe, probe_message),
            )
        except BaseException as exc:
            outcome = (False, exc)
        with os.fdopen(report, "wb") as pipe:
            pipe.write(pickle.dumps(outcome))
        os.read(stop, 1)  # until the parent closes its end
        os._exit(0)

    def close(self) -> None:
        """Close the held connections (the child exits) and wait for it."""
        if self._pid:
            os.close(self._stop)
            os.waitpid(self._pid, 0)
            self._pid = 0

    def __enter__(self) -> Flood:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()
