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

    def get(self, key: str) -> bytes | None:
        path = self.folder / key
        try:
            data = path.read_bytes()
        except OSError:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: pruned last
        return data

    def put(self, key: str, data: bytes) -> None:
        """Keep `data` under `key`; a cache that cannot be written is only slower."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            temp = self.folder / f".{key}.{threading.get_ident()}.tmp"
            temp.write_bytes(data)
            temp.replace(self.folder / key)
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
