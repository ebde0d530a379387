"""kill -9 after Cloudinary stored the social card but before the daemon committed the post:
after a restart, still one image, one card and one post, and no half-made card left."""

from __future__ import annotations

import io
import shutil
import signal
from collections.abc import Iterator

import pytest
import yaml
from PIL import Image

from gladtui.client import Client
from tests.apidaemon import answers, short_dir, start_daemon, task_yaml, wait_until
from tests.fakecloudinary import FakeCloudinary


@pytest.fixture
def cdn() -> Iterator[FakeCloudinary]:
    with FakeCloudinary() as fake:
        yield fake


def test_kill_9_after_the_card_was_stored_uploads_no_second_card(cdn: FakeCloudinary) -> None:
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
                    "social_card": "1200x630",
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
        task = task_yaml("Card mid publish", variations=1, focus="0.3,0.6")
        task_id = client.submit(task, "c.yaml")["task"]["id"]
        wait_until(lambda: client.task(task_id)["status"] == "review", timeout=300)
        cdn.let_through()  # the image
        cdn.stall_after_store(120)  # the card is stored, its answer never comes in time
        client.approve(task_id, 1)
        wait_until(lambda: len(cdn.assets) == 2, timeout=60)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
        assert not answers(client)
        workshop = root / "cache" / "cards"
        left = [p.name for p in workshop.rglob("*.png")]  # the killed step's card
        daemon = start_daemon(config)
        wait_until(lambda: answers(client), timeout=60)
        wait_until(lambda: client.task(task_id)["status"] == "published", timeout=300)
        posts = client.posts()
        after = list(workshop.iterdir())
    finally:
        daemon.kill()
        daemon.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)

    ids = sorted(cdn.assets)
    assert len(ids) == 2, ids  # one image, one card: the retry found both
    [card] = [i for i in ids if f"{task_id}-card-" in i]
    assert cdn.upload_count == 4  # image and card killed mid-answer, each asked once again
    assert posts["total"] == 1 and posts["posts"][0]["task_id"] == task_id
    with Image.open(io.BytesIO(cdn.assets[card])) as picture:
        assert picture.size == (1200, 630)
    assert left == [f"{card.rsplit('/', 1)[-1]}.png"]  # made in the daemon's cache, not /tmp
    assert after == []  # the restart cleared it, and the retry's own is gone once it is done
