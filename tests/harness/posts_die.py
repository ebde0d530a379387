"""A real daemon whose posts go to PostgreSQL, dying with SIGKILL around the INSERT.

Run as a subprocess by tests/daemon/publishing/test_posts_crash.py, with the config file and
GLADTUI_POSTS_DSN in the environment. The way to die is an injected
destination (a subclass of the real one), not a branch in the daemon's code:

  --die after-insert    the blog's row is committed, gladtui's record is not
  --die before-insert   the intent is committed, the INSERT never ran
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from daemon.publishing.destinations.base import Placed, PostDraft
from daemon.publishing.destinations.postgres import PostgresDestination
from daemon.publishing.destinations.secrets import DSN_ENV
from daemon.service.logsetup import configure_logging
from daemon.service.process import Daemon
from gladtui.config import load_config


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class DyingAfterInsert(PostgresDestination):
    def create(self, draft: PostDraft) -> Placed | None:
        placed = super().create(draft)
        die()
        return placed


class DyingBeforeInsert(PostgresDestination):
    def create(self, draft: PostDraft) -> Placed | None:
        die()
        return super().create(draft)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--die", choices=["after-insert", "before-insert"], required=True)
    args = parser.parse_args()
    config = load_config(args.config)
    kind = DyingAfterInsert if args.die == "after-insert" else DyingBeforeInsert
    destination = kind(config.publishing.posts.postgres, os.environ[DSN_ENV])
    configure_logging("info", env=os.environ)
    Daemon(config, destination=destination).run()


if __name__ == "__main__":
    main()
