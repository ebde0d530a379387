"""`gladtui submit`: validate task files here, then place them in the drop folder atomically.

The daemon must never read a half-written file, so the bytes go to a hidden
temporary name first (the watcher ignores dotfiles) and then appear under their
real name in one step (gladtui/atomicfiles.py). That step is a link, not a
rename, because link refuses to replace an existing file: a pending file of the
same name is never overwritten, the new one gets a `-2`, `-3`, ... name instead.

The temporary file's mtime is set a moment into the past before it is linked,
so its ctime is newer than its mtime: the daemon's sign that a file is complete
(daemon/intake/readiness.py), which lets it take the file without waiting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gladtui.atomicfiles import write_to_free_name
from gladtui.filemodes import make_folders
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
    make_folders(drop_dir)  # 0700, as the daemon makes it (gladtui/filemodes.py)

    def write_marked_complete(stream: BinaryIO) -> None:
        stream.write(data)
        stream.flush()  # before the mtime is set: a later write would set it again
        st = os.fstat(stream.fileno())
        os.utime(stream.fileno(), ns=(st.st_atime_ns, st.st_mtime_ns - _MARK_COMPLETE_NS))

    # 0644 less the umask: the daemon may run as another user (gladtui/filemodes.py).
    destination = write_to_free_name(
        drop_dir, _yaml_name(source), write_marked_complete, mode=0o644
    )
    return Placed(source=source, destination=destination, task=task)


def _yaml_name(source: Path) -> str:
    # The watcher takes *.yaml and *.yml only; keep what the user chose.
    return source.name if source.suffix in (".yaml", ".yml") else f"{source.name}.yaml"
