"""A real daemon whose posts are Markdown page bundles, dying with SIGKILL around the write.

Run as a subprocess by tests/daemon/publishing/test_static_sites_crash.py with the
config file. The way to die is injected here, not a branch in the daemon's code:

  --die after-rename    the bundle is in place, gladtui's record is not
  --die before-rename   every file is written in the hidden folder, the rename never ran
  --die before-write    the intent is committed, nothing is written
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from daemon.publishing.destinations import bundles
from daemon.publishing.destinations.base import Placed, PostDraft
from daemon.publishing.destinations.markdown import MarkdownDestination
from daemon.service.logsetup import configure_logging
from daemon.service.process import Daemon
from gladtui.config import load_config


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Dying(MarkdownDestination):
    moment = ""

    def create(self, draft: PostDraft) -> Placed | None:
        if self.moment == "before-write":
            die()
        placed = super().create(draft)
        if self.moment == "after-rename":
            die()
        return placed


def _dying_rename(source: Path, target: Path) -> bool:
    del source, target
    die()
    return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument(
        "--die", choices=["after-rename", "before-rename", "before-write"], required=True
    )
    args = parser.parse_args()
    config = load_config(args.config)
    Dying.moment = args.die
    if args.die == "before-rename":
        bundles._rename_no_replace = _dying_rename  # the harness's injection
    destination = Dying.from_config(config.publishing.posts.markdown)
    configure_logging("info", env=os.environ)
    Daemon(config, destination=destination).run()


if __name__ == "__main__":
    main()
