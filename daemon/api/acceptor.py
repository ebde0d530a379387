"""Accepting the API's connections: each admitted, or refused at once with a reason.

The daemon accepts on its listening socket itself rather than through
`loop.create_unix_server`, for two reasons:

- A connection over a cap (daemon/api/connlimits.py) is refused before any
  transport or protocol exists: a short 503 JSON answer naming the limit is
  sent on the fresh socket (its buffer is empty, so the send cannot block)
  and the socket is closed at once, so a flood of refused connections does
  not hold descriptors.
- When accept() fails for want of descriptors (EMFILE and kin), asyncio's own
  loop logs `socket.accept() out of system resource` once per pending
  connection and schedules a retry for each, which grows into a storm
  (measured: 652,000 lines, 163 MB in 80 s). Here accepting pauses for a
  second, once, and the line is rate limited (daemon/api/lograte.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable

from daemon.api.connections import raw_error
from daemon.api.connlimits import ConnectionGate, Slot
from daemon.api.lograte import RateLimitedLog
from daemon.api.unixsocket import peer_credentials
from gladtui.shapes import ErrorCode

log = logging.getLogger(__name__)

ACCEPTS_PER_WAKEUP = 64  # then other work on the loop gets its turn
RETRY_SECONDS = 1.0  # after accept() found no descriptor free
DRAIN_BYTES = 65536  # read from a refused connection before it is closed
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

ProtocolFactory = Callable[[Slot], asyncio.Protocol]


def refusal(message: str) -> bytes:
    return raw_error(503, "Service Unavailable", ErrorCode.BUSY, message, "Retry-After: 1")


class Acceptor:
    """Reads the listening socket from `start()` to `close()`; `protocol(slot)` serves a
    connection it admits."""

    def __init__(
        self,
        sock: socket.socket,
        gate: ConnectionGate,
        protocol: ProtocolFactory,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._sock = sock
        self._gate = gate
        self._protocol = protocol
        self._loop = loop
        self._retry: asyncio.TimerHandle | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._closed = False
        self.refusals = RateLimitedLog(log)
        self._starved = RateLimitedLog(log, logging.ERROR)

    def start(self) -> None:
        self._retry = None
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting and close the listening socket; connections already made stay."""
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        for task in self._pending:
            task.cancel()
        self.refusals.flush()
        self._starved.flush()

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                conn, _address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # none left waiting
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause(exc)
                else:
                    log.error("accepting an API connection failed: %s", exc)
                return
            self._admit(conn)

    def _pause(self, exc: OSError) -> None:
        """No descriptor free: stop reading the socket for a moment (the kernel keeps
        the waiting connections in the backlog), and say so, rarely."""
        self._loop.remove_reader(self._sock.fileno())
        self._retry = self._loop.call_later(RETRY_SECONDS, self.start)
        self._starved.note(
            "accept",
            f"cannot accept API connections: {exc.strerror}; the daemon has "
            f"{self._gate.total:,} API connections open and other files besides. Retrying "
            f"every {RETRY_SECONDS:g} s; lower api.max_connections or raise the open-file "
            "limit (LimitNOFILE= in the service)",
        )

    def _admit(self, conn: socket.socket) -> None:
        try:
            uid, _gid = peer_credentials(conn)
        except OSError:  # gone already
            conn.close()
            return
        slot = self._gate.admit(uid)
        if isinstance(slot, str):
            self._refuse(conn, uid, slot)
            return
        conn.setblocking(False)
        task = self._loop.create_task(self._connect(conn, slot))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _refuse(self, conn: socket.socket, uid: int, reason: str) -> None:
        conn.setblocking(False)
        with contextlib.suppress(OSError):  # the client left: nobody to tell
            # What the client sent already (its request, usually): closing with it
            # unread would end the client's reading with a reset instead of an end.
            conn.recv(DRAIN_BYTES)
        with contextlib.suppress(OSError):
            conn.send(refusal(reason))
        conn.close()
        self.refusals.note(f"refused {uid}", f"refused an API connection: {reason}")

    async def _connect(self, conn: socket.socket, slot: Slot) -> None:
        try:
            await self._loop.connect_accepted_socket(lambda: self._protocol(slot), conn)
        except BaseException as exc:
            conn.close()
            slot.release()
            if not isinstance(exc, Exception):
                raise  # cancelled at shutdown
            log.warning("could not set up an API connection: %s", exc)
