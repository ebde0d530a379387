"""The drop folder's layout: which names are candidates, and where files go after.

Nothing the user dropped is ever deleted or overwritten: an accepted file moves
to `processed/`, a refused one to `failed/` with `<name>.error.txt` beside it,
and a name already taken there gets a `-2`, `-3`, ... suffix (gladtui/atomicfiles.py).
A name too long for its suffix, or for `.error.txt` beside it, is shortened to fit
the 255 bytes a name may have (its stem cut, its extension kept).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from gladtui.atomicfiles import free_names, move_to_free_name, replace_file
from gladtui.filemodes import PRIVATE_FILE, close_to_others, make_folders

PROCESSED = "processed"
FAILED = "failed"
TASK_SUFFIXES = (".yaml", ".yml")
# Editors and downloaders write under these names first; never read them.
_TEMPORARY_SUFFIXES = (".tmp", ".part", ".swp", ".swx", ".crdownload", "~")
REASON_SUFFIX = ".error.txt"
# A name in failed/ leaves room for its reason's name beside it.
_REASON_ROOM = len(REASON_SUFFIX.encode())

log = logging.getLogger(__name__)


def is_candidate_name(name: str) -> bool:
    """A task file name: *.yaml or *.yml, not hidden, not a temporary name."""
    if name.startswith(".") or name.endswith(_TEMPORARY_SUFFIXES):
        return False
    return name.lower().endswith(TASK_SUFFIXES)


class DropFolder:
    """Paths and moves inside one drop folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.processed = root / PROCESSED
        self.failed = root / FAILED

    def prepare(self) -> None:
        for folder in (self.root, self.processed, self.failed):
            make_folders(folder)

    def is_candidate(self, path: Path) -> bool:
        """A file directly in the drop folder with a task file name."""
        return path.parent == self.root and is_candidate_name(path.name)

    def scan(self) -> Iterator[Path]:
        """Every candidate currently in the folder (subfolders are not entered).

        A name that is not UTF-8 (`caf\\xe9.yaml` from a Latin-1 system) is renamed
        first, to `caf%E9.yaml`: the store, the API and the log hold names as
        UTF-8 text, and such a name used to fail its whole batch, again at every
        rescan (and watchfiles cannot report it at all, see daemon/intake/watcher.py).
        """
        with os.scandir(self.root) as entries:
            names = [entry.name for entry in entries if is_candidate_name(entry.name)]
        for name in names:
            path = self.root / name
            if name == utf8_name(name):
                yield path
                continue
            try:
                renamed = move_to_free_name(path, self.root, utf8_name(name))
            except FileNotFoundError:
                continue  # gone meanwhile
            except OSError as exc:
                log.error("cannot rename %s, whose name is not UTF-8: %s", ascii(name), exc)
                continue
            log.warning("renamed %s to %s: its name is not UTF-8", ascii(name), renamed.name)
            yield renamed

    def destinations(self, name: str, *, refused: bool) -> Iterator[Path]:
        """The names a file called `name` may take in processed/ (or failed/), in the
        order a move tries them: whoever looks for where a file went walks the same."""
        if refused:
            return free_names(self.failed, name, reserve=_REASON_ROOM)
        return free_names(self.processed, name)

    def accept(self, path: Path) -> Path:
        """Move an accepted file to processed/; returns where it went.

        Moved files are made the daemon's alone (when they are its user's): their
        mode was the dropper's umask's, and they hold titles and prompts.
        """
        moved = move_to_free_name(path, self.processed)
        close_to_others(moved)
        return moved

    def refuse(self, path: Path, message: str) -> Path:
        """Move a refused file to failed/ with its reason beside it.

        The reason is written before the file's name leaves the drop folder: a
        kill in between leaves both names, and the next pass finishes the move
        (daemon/intake/ingest.py), never a refused file without its reason.
        """

        moved = move_to_free_name(
            path,
            self.failed,
            reserve=_REASON_ROOM,
            before_leaving=lambda moved: write_reason(moved, message),
        )
        close_to_others(moved)
        return moved


def utf8_name(name: str) -> str:
    """`name` with each byte that is not UTF-8 (a surrogate escape) written as %XX."""
    return "".join(f"%{ord(c) - 0xDC00:02X}" if "\udc80" <= c <= "\udcff" else c for c in name)


def reason_path(moved: Path) -> Path:
    """Where the reason for refusing `moved` (a file in failed/) is: `<name>.error.txt`."""
    return moved.with_name(moved.name + REASON_SUFFIX)


def write_reason(moved: Path, message: str) -> None:
    """Write the reason beside a refused file, whole or not at all (never half a reason)."""
    replace_file(reason_path(moved), f"{message}\n".encode(), permissions=PRIVATE_FILE)
