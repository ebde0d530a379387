"""The reviewer's own cache of pictures fetched from the daemon, bounded in bytes.

Pictures come through the API (the client never opens a path from the task
JSON), so a reviewer over SSH fetches each one once: moving back to a task,
or opening the TUI again tomorrow, reads it from here. A variation's bytes
never change under its path (the file name carries the time it was made),
so an entry is valid for as long as it is kept; the least recently used go
first once the folder holds more than `max_bytes`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from pathlib import Path

import platformdirs

APP_NAME = "gladtui"
DEFAULT_MAX_BYTES = 256 << 20  # about 2,000 thumbnails at 320 px, or 150 full 1024² PNGs
PRUNE_TO = 0.8  # prune down to this share of the bound, so pruning is rare


def default_folder() -> Path:
    """`$XDG_CACHE_HOME/gladtui/pictures` (platformdirs' user cache folder)."""
    return platformdirs.user_cache_path(APP_NAME) / "pictures"


def picture_key(task_id: str, index: int, path: str, width: int) -> str:
    """A file name for one variation's picture at one width (0: full size).

    Not the daemon's socket: over SSH it is a new temporary path each time. The
    variation's path names the daemon's folder and the moment the file was made.
    """
    raw = "\0".join([task_id, str(index), path, str(width)])
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest() + ".png"


class DiskCache:
    """Files in a private folder; `get` marks an entry used, `put` prunes past the bound."""

    def __init__(self, folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._total: int | None = None  # bytes in the folder, counted at the first put
        self._lock = threading.Lock()
        self._prepared = False
        self._last_use = 0  # ns: the latest time given to an entry by this cache

    def _prepare_folder(self) -> None:
        """The folder, 0700 (a folder an older version made 0755 is closed too).

        Made again if it was removed since: a cache is rebuilt freely."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self._prepared:
            self.folder.chmod(0o700)
            self._prepared = True

    def _mark_used(self, path: Path) -> None:
        """Most recently used: pruned last. The kernel's clock ticks coarsely (a few ms),
        so two uses in one tick would tie; each use gets a later time than the last."""
        with self._lock:
            self._last_use = max(time.time_ns(), self._last_use + 1)
            stamp = self._last_use
        os.utime(path, ns=(stamp, stamp))

    def get(self, key: str) -> bytes | None:
        path = self.folder / key
        try:
            data = path.read_bytes()
        except OSError:
            return None
        with contextlib.suppress(OSError):
            self._mark_used(path)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Keep `data` under `key`; a cache that cannot be written is only slower."""
        try:
            self._prepare_folder()
            temp = self.folder / f".{key}.{threading.get_ident()}.tmp"
            _write_private(temp, data)
            temp.replace(self.folder / key)
            self._mark_used(self.folder / key)
        except OSError:
            return
        with self._lock:
            if self._total is None:
                self._total = self._size()
            else:
                self._total += len(data)
            if self._total > self.max_bytes:
                self._total = self._prune()

    def _entries(self) -> list[os.DirEntry[str]]:
        with os.scandir(self.folder) as found:
            return [entry for entry in found if entry.is_file() and entry.name.endswith(".png")]

    def _size(self) -> int:
        return sum(entry.stat().st_size for entry in self._entries())

    def _prune(self) -> int:
        """Remove the least recently used entries down to PRUNE_TO of the bound."""
        entries = sorted(self._entries(), key=lambda entry: entry.stat().st_mtime_ns)
        total = sum(entry.stat().st_size for entry in entries)
        for entry in entries:
            if total <= self.max_bytes * PRUNE_TO:
                break
            with contextlib.suppress(OSError):
                size = entry.stat().st_size
                Path(entry.path).unlink()
                total -= size
        return total


def _write_private(path: Path, data: bytes) -> None:
    """Write `path` as mode 0600 whatever the umask: pictures are the reviewers' only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=False) as stream:
            stream.write(data)
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    finally:
        os.close(fd)
