"""The drop folder's layout: which names are candidates, and where files go after.

Nothing the user dropped is ever deleted or overwritten: an accepted file moves
to `processed/`, a refused one to `failed/` with `<name>.error.txt` beside it,
and a name already taken there gets a `-2`, `-3`, ... suffix.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

PROCESSED = "processed"
FAILED = "failed"
TASK_SUFFIXES = (".yaml", ".yml")
# Editors and downloaders write under these names first; never read them.
_TEMPORARY_SUFFIXES = (".tmp", ".part", ".swp", ".swx", ".crdownload", "~")

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
            folder.mkdir(parents=True, exist_ok=True)

    def is_candidate(self, path: Path) -> bool:
        """A file directly in the drop folder with a task file name."""
        return path.parent == self.root and is_candidate_name(path.name)

    def scan(self) -> Iterator[Path]:
        """Every candidate currently in the folder (subfolders are not entered).

        A name that is not UTF-8 (`caf\\xe9.yaml` from a Latin-1 system) is renamed
        first, to `caf%E9.yaml`: the store, the API and the log hold names as
        UTF-8 text, and such a name used to fail its whole batch, again at every
        rescan (and watchfiles cannot report it at all, see daemon/watcher.py).
        """
        with os.scandir(self.root) as entries:
            names = [entry.name for entry in entries if is_candidate_name(entry.name)]
        for name in names:
            path = self.root / name
            if name == utf8_name(name):
                yield path
                continue
            try:
                renamed = _move_to_free_name(path, self.root, utf8_name(name))
            except FileNotFoundError:
                continue  # gone meanwhile
            except OSError as exc:
                log.error("cannot rename %s, whose name is not UTF-8: %s", ascii(name), exc)
                continue
            log.warning("renamed %s to %s: its name is not UTF-8", ascii(name), renamed.name)
            yield renamed

    def accept(self, path: Path) -> Path:
        """Move an accepted file to processed/; returns where it went."""
        return _move_to_free_name(path, self.processed)

    def refuse(self, path: Path, message: str) -> Path:
        """Move a refused file to failed/ with its reason beside it.

        The reason is written before the file's name leaves the drop folder: a
        kill in between leaves both names, and the next pass finishes the move
        (daemon/ingest.py), never a refused file without its reason.
        """

        def give_reason(destination: Path) -> None:
            reason = destination.with_name(destination.name + ".error.txt")
            _write_atomically(reason, f"{message}\n")

        return _move_to_free_name(path, self.failed, before_leaving=give_reason)


def utf8_name(name: str) -> str:
    """`name` with each byte that is not UTF-8 (a surrogate escape) written as %XX."""
    return "".join(f"%{ord(c) - 0xDC00:02X}" if "\udc80" <= c <= "\udcff" else c for c in name)


def _move_to_free_name(
    path: Path,
    folder: Path,
    name: str | None = None,
    *,
    before_leaving: Callable[[Path], None] | None = None,
) -> Path:
    """rename(2) into `folder` (as `name`, default the same) without replacing anything there.

    The link-then-unlink dance makes "is the name free?" and "take it" one step;
    a plain rename would silently replace an older file of the same name.
    Directories (a folder named x.yaml) cannot be linked and are renamed after
    an existence check instead; only the daemon writes into these folders.
    `before_leaving(destination)` runs once the destination is taken, before
    the file's old name is gone.
    """
    name = name or path.name
    stem, suffix = Path(name).stem, Path(name).suffix
    for n in range(1, 100_000):
        candidate = folder / (name if n == 1 else f"{stem}-{n}{suffix}")
        try:
            os.link(path, candidate, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK):
                raise
            if candidate.exists() or candidate.is_symlink():
                continue
            if before_leaving is not None:
                before_leaving(candidate)
            path.rename(candidate)
            return candidate
        if before_leaving is not None:
            before_leaving(candidate)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return candidate
    raise FileExistsError(f"no free name for {path.name} in {folder}")


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
