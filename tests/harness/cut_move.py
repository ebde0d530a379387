"""Ingest a drop folder once, dying with SIGKILL inside the move out of it.

Run as a subprocess by tests/daemon/service/test_crash_soak.py, for the crash windows the
soak found, each made certain here instead of left to a random kill:

  --kill-at-move       after the commit, before the file is moved at all
  --kill-after-link    after the file is linked into processed/ or failed/,
                       before its name in the drop folder is removed
  --kill-before-reason after a refused file is moved, before its .error.txt
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path
from typing import Any

import daemon.intake.dropfolder as dropfolder
import gladtui.atomicfiles as atomicfiles
from daemon.intake.ingest import Ingestor
from daemon.store import Store
from gladtui.taskfile import TaskRules


def die(*_args: Any, **_kwargs: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class LinkThenDie:
    """Stands in for `os` where dropfolder's moves link: as usual, but a link is the last act."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def link(source: Path, target: Path, **kwargs: Any) -> None:
        os.link(source, target, **kwargs)
        die()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database", type=Path)
    parser.add_argument("drop", type=Path)
    parser.add_argument("--kill-at-move", action="store_true")
    parser.add_argument("--kill-after-link", action="store_true")
    parser.add_argument("--kill-before-reason", action="store_true")
    args = parser.parse_args()
    # Replaced in the module, so that only the daemon's own calls die.
    if args.kill_at_move:
        setattr(dropfolder, "move_to_free_name", die)  # noqa: B010
    if args.kill_after_link:
        setattr(atomicfiles, "os", LinkThenDie())  # noqa: B010
    if args.kill_before_reason:
        setattr(dropfolder, "write_reason", die)  # noqa: B010
    folder = dropfolder.DropFolder(args.drop)
    folder.prepare()
    with Store.open(args.database) as store:
        outcomes = Ingestor(store, folder, TaskRules()).ingest(sorted(folder.scan()))
    print(json.dumps([[o.file_name, o.task_id, o.kind] for o in outcomes]))


if __name__ == "__main__":
    main()
