"""`gladtui submit`: validate task files here, then place them in the drop folder atomically.

The daemon must never read a half-written file, so the bytes go to a hidden
temporary name first (the watcher ignores dotfiles) and then appear under their
real name in one step. `os.link` is used for that step rather than `rename`,
because link refuses to replace an existing file: a pending file of the same
name is never overwritten, the new one gets a `-2`, `-3`, ... name instead.

The temporary file's mtime is set a moment into the past before it is linked,
so its ctime is newer than its mtime: the daemon's sign that a file is complete
(daemon/readiness.py), which lets it take the file without waiting.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from gladtui.taskfile import TaskFile, TaskRules, read_task_bytes, task_file

_MARK_COMPLETE_NS = 1_000_000  # 1 ms: older than any ctime the link will set


@dataclass(frozen=True, slots=True)
class Placed:
    """A task file now in the drop folder."""

    source: Path
    destination: Path
    task: TaskFile


def submit_file(source: Path, drop_dir: Path, *, rules: TaskRules) -> Placed:
    """Validate `source` and place a copy of its exact bytes in `drop_dir`.

    Raises TaskFileError (nothing is placed) or OSError (the drop folder cannot
    be written).
    """
    # Read once: the bytes placed are the bytes validated (a second read could follow
    # a symlink swapped in, or find a file grown past the size limit).
    data = read_task_bytes(source, max_bytes=rules.max_file_bytes)
    task = task_file(data, file_name=source.name, rules=rules)
    drop_dir.mkdir(parents=True, exist_ok=True)
    temporary = drop_dir / f".{source.name}.{secrets.token_hex(4)}.tmp"
    try:
        _write_durably(temporary, data)
        destination = _link_under_free_name(temporary, drop_dir / _yaml_name(source))
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return Placed(source=source, destination=destination, task=task)


def _yaml_name(source: Path) -> str:
    # The watcher takes *.yaml and *.yml only; keep what the user chose.
    return source.name if source.suffix in (".yaml", ".yml") else f"{source.name}.yaml"


def _write_durably(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
        st = os.fstat(fd)
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns - _MARK_COMPLETE_NS))
    finally:
        os.close(fd)


def _link_under_free_name(temporary: Path, wanted: Path) -> Path:
    stem, suffix = wanted.stem, wanted.suffix
    for n in range(1, 10_000):
        candidate = wanted if n == 1 else wanted.with_name(f"{stem}-{n}{suffix}")
        try:
            os.link(temporary, candidate)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free name for {wanted.name} in {wanted.parent}")
