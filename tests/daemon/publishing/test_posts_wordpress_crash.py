"""kill -9 of a daemon publishing to a real WordPress, around each of its two writes.

The daemon is the real `gladtui daemon`. The moment is a request the site
really receives (tests/wordpress.py's must-use plugin holds its answer, after
WordPress handled it): the daemon is killed while it waits for that answer,
so it dies before the next request is sent:

- before the upload: the media library was asked for the asset's slug;
- after the upload: WordPress stored the attachment;
- before the post: the attachment's alt text and caption were set;
- after the post: WordPress made the post.

After a restart there is exactly one attachment and one post, the post's
featured image is that attachment, and gladtui's record matches both.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from daemon.store import Store
from gladtui.client import Client
from gladtui.config import load_config
from tests.apidaemon import answers, short_dir, task_yaml, wait_until
from tests.daemon.publishing.test_posts_wordpress import attachments, download, posts
from tests.paths import REPO
from tests.wordpress import WordPressSite, available

GLADTUI = Path(sys.executable).parent / "gladtui"

pytestmark = pytest.mark.skipif(not available(), reason="WordPress is not installed")

# moment → (method, route) of the request whose answer the daemon never reads
MOMENTS = {
    "before-upload": ("GET", "#^/wp/v2/media$#"),
    "after-upload": ("POST", "#^/wp/v2/media$#"),
    "before-post": ("POST", "#^/wp/v2/media/\\d+$#"),
    "after-post": ("POST", "#^/wp/v2/posts$#"),
}


@pytest.fixture(scope="module")
def site() -> Iterator[WordPressSite]:
    running = WordPressSite.start()
    yield running
    running.stop()


def write_config(root: Path, site: WordPressSite) -> Path:
    path = root / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "drop_dir": "drop", "state_dir": "state", "preview_dir": "previews",
                "cache_dir": "cache", "socket": "run/d.sock",
                "generation": {"model": "builtin:tiny-sdxl", "device": "cpu"},
                "publishing": {
                    "grace_seconds": 0, "retry_base_seconds": 0.05, "publisher": "wordpress",
                    "posts": {"to": "wordpress", "wordpress": {"url": site.url, "user": "admin"}},
                },
            }
        )
    )  # fmt: skip
    return path


def spawn(config_file: Path, site: WordPressSite) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRANSFORMERS_VERBOSITY": "error",
        "GLADTUI_WORDPRESS_PASSWORD": site.password("admin"),
    }
    return subprocess.Popen(
        [str(GLADTUI), "--config", str(config_file), "daemon"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_kill_9_around_each_write_leaves_one_attachment_and_one_post(
    site: WordPressSite, moment: str
) -> None:
    site.php(
        "foreach (get_posts(['post_type' => ['post', 'attachment'], 'post_status' => 'any',"
        " 'numberposts' => -1]) as $p) { wp_delete_post($p->ID, true); }"
    )
    root = short_dir()
    config_file = write_config(root, site)
    config = load_config(config_file)
    client = Client(root / "run" / "d.sock", timeout=30)
    daemon = spawn(config_file, site)
    gate = None
    try:
        wait_until(lambda: answers(client), timeout=120)
        task_id = client.submit(task_yaml("Crash mid post", variations=1), "c.yaml")["task"]["id"]
        wait_until(lambda: client.task(task_id)["status"] == "review", timeout=240)
        gate = site.hold(*MOMENTS[moment])
        client.approve(task_id, 1)
        wait_until(gate.reached, timeout=120)
        daemon.send_signal(signal.SIGKILL)
        assert daemon.wait(timeout=60) == -signal.SIGKILL
        gate.release()
        with Store.open(config.database_path) as store:
            assert store.posts.count() == 0  # gladtui recorded nothing
            intent = store.post_intents.get(task_id)
        # the intent is committed before the post's first request (the image's alt text)
        assert (intent is not None) == (moment in ("before-post", "after-post"))
        made = {"attachments": len(attachments(site)), "posts": len(posts(site))}
        assert (
            made
            == {
                "before-upload": {"attachments": 0, "posts": 0},
                "after-upload": {"attachments": 1, "posts": 0},
                "before-post": {"attachments": 1, "posts": 0},
                "after-post": {"attachments": 1, "posts": 1},
            }[moment]
        )
        daemon = spawn(config_file, site)
        wait_until(lambda: answers(client), timeout=120)
        wait_until(lambda: client.task(task_id)["status"] == "published", timeout=240)
        record = client.task(task_id)["post"]
        assert record is not None
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        with Store.open(config.database_path) as store:
            assert store.post_intents.count() == 0 and store.posts.count() == 1
            variation = store.variations.get(task_id, 1)
        assert variation is not None
        image = Path(variation.path).read_bytes()
    finally:
        if gate is not None:
            gate.release()
        daemon.kill()
        daemon.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)

    [attachment] = attachments(site)  # exactly one, whichever moment the kill came
    [post] = posts(site)
    assert post["thumbnail"] == attachment["id"]
    assert (post["slug"], post["status"]) == ("crash-mid-post", "draft")
    assert record["slug"] == "crash-mid-post"
    assert record["featured_image_url"] == attachment["url"]
    assert record["location"] == f"{site.url} post {post['id']} (draft)"
    assert download(attachment["url"]) == image
