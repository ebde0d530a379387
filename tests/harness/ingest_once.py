"""Ingest everything in a drop folder once, optionally dying at a chosen point.

Run as a subprocess by tests/daemon/intake/test_ingest_crash.py. The ways to die are injected
collaborators (a parser, a drop folder), not branches in the daemon's code:

  --kill-on-parse MARKER   SIGKILL itself while parsing a file containing MARKER
  --kill-on-move           SIGKILL itself on the first move out of the drop folder,
                           i.e. after the tasks were committed
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

from daemon.intake.dropfolder import DropFolder
from daemon.intake.ingest import Ingestor, parse_with_rules
from daemon.store import Store
from gladtui.taskfile import TaskRules, TaskSpec


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class DyingDropFolder(DropFolder):
    def accept(self, path: Path) -> Path:
        die()
        raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database", type=Path)
    parser.add_argument("drop", type=Path)
    parser.add_argument("--kill-on-parse")
    parser.add_argument("--kill-on-move", action="store_true")
    args = parser.parse_args()

    def parse(data: bytes, name: str, rules: TaskRules) -> TaskSpec:
        if args.kill_on_parse and args.kill_on_parse.encode() in data:
            die()
        return parse_with_rules(data, name, rules)

    folder = (DyingDropFolder if args.kill_on_move else DropFolder)(args.drop)
    folder.prepare()
    with Store.open(args.database) as store:
        ingestor = Ingestor(store, folder, TaskRules(), parse=parse)
        outcomes = ingestor.ingest(sorted(folder.scan()))
    print(json.dumps([[o.file_name, o.task_id, o.kind] for o in outcomes]))


if __name__ == "__main__":
    main()
