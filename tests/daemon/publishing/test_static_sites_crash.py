"""kill -9 of a daemon writing a page bundle, before, during and after the write: one
whole bundle after restart, nothing half-written left, the post recorded once.

The dying daemon is tests/harness/bundle_die.py (the real daemon and the real markdown
destination, made to SIGKILL itself at the chosen moment); the restart is the real
`gladtui daemon`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from daemon.store import Store
from gladtui.client import Client
from gladtui.config import load_config
from tests.apidaemon import answers, short_dir, task_yaml, wait_until
from tests.paths import REPO

GLADTUI = Path(sys.executable).parent / "gladtui"


def write_config(root: Path, site: Path) -> Path:
    path = root / "config.yaml"
    markdown = {"dir": str(site), "layout": "bundle", "image_key": ["images"]}
    path.write_text(
        yaml.safe_dump(
            {
                "drop_dir": "drop", "state_dir": "state", "preview_dir": "previews",
                "cache_dir": "cache", "socket": "run/d.sock",
                "generation": {"model": "builtin:tiny-sdxl", "device": "cpu"},
                "publishing": {"retry_base_seconds": 0.05, "grace_seconds": 0,
                               "posts": {"to": "markdown", "markdown": markdown}},
            }
        )
    )  # fmt: skip
    return path


def spawn(command: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
    return subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@pytest.mark.parametrize("moment", ["before-write", "before-rename", "after-rename"])
def test_kill_9_around_the_bundles_rename_leaves_one_whole_bundle(moment: str) -> None:
    root = short_dir()
    site = root / "site"
    site.mkdir()
    config_file = write_config(root, site)
    config = load_config(config_file)
    client = Client(root / "run" / "d.sock", timeout=30)
    daemon = spawn([sys.executable, "-m", "tests.harness.bundle_die", str(config_file),
                    "--die", moment])  # fmt: skip
    try:
        wait_until(lambda: answers(client), timeout=60)
        task_id = client.submit(task_yaml("Crash mid bundle", variations=1), "c.yaml")["task"]["id"]
        wait_until(lambda: client.task(task_id)["status"] == "review", timeout=300)
        client.approve(task_id, 1)
        assert daemon.wait(timeout=120) == -signal.SIGKILL
        with Store.open(config.database_path) as store:
            assert store.post_intents.get(task_id) is not None and store.posts.count() == 0
        left = sorted(p.name for p in site.iterdir())
        if moment == "after-rename":
            assert left == ["crash-mid-bundle"]
        elif moment == "before-rename":  # whole files, in the hidden folder only
            [hidden] = left
            assert hidden.startswith(".gladtui-bundle-crash-mid-bundle-")
        else:
            assert left == []
        daemon = spawn([str(GLADTUI), "--config", str(config_file), "daemon"])
        wait_until(lambda: answers(client), timeout=60)
        wait_until(lambda: client.task(task_id)["status"] == "published", timeout=300)
        post = client.task(task_id)["post"]
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        with Store.open(config.database_path) as store:
            assert store.post_intents.count() == 0 and store.posts.count() == 1
        assert post is not None and post["slug"] == "crash-mid-bundle"
        assert sorted(p.name for p in site.iterdir()) == ["crash-mid-bundle"]  # nothing else
        bundle = site / "crash-mid-bundle"
        assert sorted(p.name for p in bundle.iterdir()) == ["featured.webp", "index.md"]
        assert post["location"] == str(bundle / "index.md")
    finally:
        daemon.kill()
        daemon.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
