"""kill -9 after Cloudinary stored the image but before the daemon committed the post:
after a restart, still one asset and one post."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gladtui.client import Client
from tests.apidaemon import answers, short_dir, start_daemon, task_yaml, wait_until
from tests.fakecloudinary import FakeCloudinary


@pytest.fixture
def cdn() -> Iterator[FakeCloudinary]:
    with FakeCloudinary() as fake:
        yield fake


def test_kill_9_between_upload_and_commit_makes_one_asset_and_one_post(
    cdn: FakeCloudinary,
) -> None:
    root = short_dir()
    config = root / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "drop_dir": "drop", "state_dir": "state", "preview_dir": "previews",
                "cache_dir": "cache", "socket": "run/d.sock",
                "generation": {"model": "builtin:tiny-sdxl", "device": "cpu"},
                "publishing": {
                    "publisher": "cloudinary", "retry_base_seconds": 0.05, "grace_seconds": 0,
                    "cloudinary": {"url": cdn.url, "upload_prefix": cdn.prefix,
                                   "timeout_seconds": 60},
                },
            }
        )
    )  # fmt: skip
    client = Client(root / "run" / "d.sock", timeout=30)
    daemon = start_daemon(config)
    try:
        wait_until(lambda: answers(client), timeout=60)
        task_id = client.submit(task_yaml("Crash mid publish", variations=2), "c.yaml")["task"][
            "id"
        ]
        wait_until(lambda: client.task(task_id)["status"] == "review", timeout=120)
        cdn.stall_after_store(120)  # the asset is stored, the answer never comes in time
        client.approve(task_id, 2)
        wait_until(lambda: len(cdn.assets) == 1, timeout=60)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
        assert not answers(client)
        daemon = start_daemon(config)
        wait_until(lambda: answers(client), timeout=60)
        wait_until(lambda: client.task(task_id)["status"] == "published", timeout=120)
        posts = client.posts()
        [chosen] = [v for v in client.task(task_id)["variations"] if v["index"] == 2]
        chosen_bytes = Path(chosen["path"]).read_bytes()
    finally:
        daemon.kill()
        daemon.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)

    [(public_id, stored)] = cdn.assets.items()
    assert stored == chosen_bytes
    assert cdn.upload_count == 2  # the attempt that was killed, and the retry that found it
    assert public_id.startswith(f"glad-labs/{task_id}-")
    assert posts["total"] == 1 and posts["posts"][0]["task_id"] == task_id
    assert posts["posts"][0]["featured_image_url"].endswith(f"/{public_id}.png")
