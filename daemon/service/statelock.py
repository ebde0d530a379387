"""One daemon per state folder: an exclusive lock taken before the database opens.

DuckDB refuses a second writer with a lock error that names neither the other
daemon nor what to do. The daemon instead takes an exclusive flock on
`daemon.lock` in the state folder first, and writes its pid and socket path
in it once the lock is held. A second daemon finds the lock taken, reads who
holds it, and stops before opening anything else.

The kernel releases a flock when its holder dies, however it dies, so a
killed daemon's lock never blocks the next start: its stale text is only
read while another live process holds the lock, which has rewritten it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from gladtui.filemodes import PRIVATE_FILE, make_folders

LOCK_NAME = "daemon.lock"
MAX_LOCK_BYTES = 4096


class DaemonAlreadyRunning(Exception):
    """Another daemon holds the state folder; the message names its pid and socket."""


class StateLockError(Exception):
    """The lock file cannot be created or locked (not because another daemon holds it)."""


class StateLock:
    """Held from `acquire` until `release` (or until the process ends)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state_dir: Path, socket_path: Path) -> StateLock:
        """The state folder's lock, or DaemonAlreadyRunning naming the daemon that holds it."""
        path = state_dir / LOCK_NAME
        try:
            make_folders(state_dir)
            # No O_TRUNC: a second daemon must not blank what the first wrote.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
        except OSError as exc:
            raise StateLockError(f"cannot create the lock file {path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise DaemonAlreadyRunning(
                f"a gladtui daemon is already running for this state folder ({holder}); "
                f"stop it first, or give this one its own state_dir ({state_dir} is in use)"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StateLockError(f"cannot lock {path}: {exc.strerror}") from exc
        lock = cls(path, fd)
        lock._write(f"pid {os.getpid()}\nsocket {socket_path}\n")
        return lock

    def _write(self, text: str) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:
        """Unlock and close; the file stays (removing it would race a daemon starting now)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _holder(fd: int) -> str:
    """'pid N, socket S' from the lock file, as far as the holder has written it yet."""
    try:
        text = os.pread(fd, MAX_LOCK_BYTES, 0).decode(errors="replace")
    except OSError:
        text = ""
    fields = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    pid = fields.get("pid", "unknown")
    socket = fields.get("socket", "unknown")
    return f"pid {pid}, socket {socket}"
