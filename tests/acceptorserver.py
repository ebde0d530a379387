"""The API's Acceptor alone, in a process short of files, for
tests/daemon/api/test_connection_limits.py.

    python -m tests.acceptorserver SOCKET SPARE_FILES

Binds SOCKET, lowers its open-file limit to the files it has open plus
SPARE_FILES, then accepts with caps too high to matter, so what stops it is
accept() failing (EMFILE). Each admitted connection is told `admitted` and
held until its client closes it. Logs to stderr; prints `ready` on stdout
once accepting; SIGTERM stops it (closing the Acceptor says what its log held
back).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import sys
from pathlib import Path

from daemon.api.acceptor import Acceptor
from daemon.api.connlimits import ConnectionGate, ConnectionLimits, Slot
from daemon.api.unixsocket import bind_socket

NO_CAP = 1 << 20


class Held(asyncio.Protocol):
    def __init__(self, slot: Slot) -> None:
        self.slot = slot

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(b"admitted\n")

    def connection_lost(self, exc: Exception | None) -> None:
        self.slot.release()


async def serve(path: Path, spare: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    sock = bind_socket(path)
    limits = ConnectionLimits(NO_CAP, NO_CAP, 1, frozenset({os.geteuid()}))
    acceptor = Acceptor(sock, ConnectionGate(limits), Held, loop)
    files = sum(1 for _ in Path("/proc/self/fd").iterdir())
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (files + spare, hard))
    acceptor.start()
    print("ready", flush=True)
    await stop.wait()
    acceptor.close()


def main() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(message)s")
    asyncio.run(serve(Path(sys.argv[1]), int(sys.argv[2])))


if __name__ == "__main__":
    main()
