"""kill -9 of a daemon whose posts go to PostgreSQL, around the INSERT: one row after restart.

The dying daemon is tests/harness/posts_die.py (a real daemon with the real
postgres destination, subclassed to SIGKILL itself at the chosen moment);
the restart is the real `gladtui daemon`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import yaml

from daemon.store import Store
from gladtui.client import Client
from gladtui.config import load_config
from tests.apidaemon import answers, short_dir, task_yaml, wait_until
from tests.paths import REPO
from tests.pgserver import PgServer

ROOT = REPO
GLADTUI = Path(sys.executable).parent / "gladtui"


def blog_rows(dsn: str) -> list[tuple[int, str, str]]:
    with psycopg.connect(dsn) as connection:
        found = connection.execute(
            "SELECT id, slug, featured_image_url FROM posts ORDER BY id"
        ).fetchall()
    return [(int(i), str(slug), str(url)) for i, slug, url in found]


def write_config(root: Path) -> Path:
    path = root / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "drop_dir": "drop", "state_dir": "state", "preview_dir": "previews",
                "cache_dir": "cache", "socket": "run/d.sock",
                "generation": {"model": "builtin:tiny-sdxl", "device": "cpu"},
                "publishing": {"retry_base_seconds": 0.05, "posts": {"to": "postgres"}},
            }
        )
    )  # fmt: skip
    return path


def spawn(command: list[str], dsn: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "GLADTUI_POSTS_DSN": dsn}
    return subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.mark.parametrize("moment", ["after-insert", "before-insert"])
def test_kill_9_around_the_insert_leaves_one_row_after_restart(
    pg_server: PgServer, moment: str
) -> None:
    dsn = pg_server.blog()
    with psycopg.connect(dsn, autocommit=True) as connection:  # the blog's own, untouched
        connection.execute(
            "INSERT INTO posts (title, slug, featured_image_url)"
            " VALUES ('Old', 'crash-mid-post', 'https://blog.example/old.png')"
        )
    root = short_dir()
    config_file = write_config(root)
    config = load_config(config_file)
    client = Client(root / "run" / "d.sock", timeout=30)
    harness = [sys.executable, "-m", "tests.harness.posts_die", str(config_file), "--die", moment]
    daemon = spawn(harness, dsn)
    try:
        wait_until(lambda: answers(client), timeout=60)
        task_id = client.submit(task_yaml("Crash mid post", variations=1), "c.yaml")["task"]["id"]
        wait_until(lambda: client.task(task_id)["status"] == "review", timeout=120)
        client.approve(task_id, 1)
        assert daemon.wait(timeout=120) == -signal.SIGKILL
        # The dead daemon's state: the intent is there, gladtui's record is not.
        with Store.open(config.database_path) as store:
            intent = store.post_intents.get(task_id)
            assert intent is not None and intent.slug == "crash-mid-post-2"
            assert store.posts.count() == 0
        made = blog_rows(dsn)[1:]
        assert len(made) == (1 if moment == "after-insert" else 0)
        daemon = spawn([str(GLADTUI), "--config", str(config_file), "daemon"], dsn)
        wait_until(lambda: answers(client), timeout=60)
        wait_until(lambda: client.task(task_id)["status"] == "published", timeout=120)
        post = client.task(task_id)["post"]
        assert post is not None
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        with Store.open(config.database_path) as store:
            assert store.post_intents.count() == 0 and store.posts.count() == 1
    finally:
        daemon.kill()
        daemon.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)

    old, *ours = blog_rows(dsn)
    assert old[1] == "crash-mid-post"
    [(row_id, slug, url)] = ours  # exactly one row, whichever moment the kill came
    assert (post["slug"], post["featured_image_url"]) == (slug, url) == (slug, intent.image_url)
    assert post["location"] == f"posts id {row_id}"
    if moment == "after-insert":
        assert made[0] == (row_id, slug, url)  # found again, not inserted twice
