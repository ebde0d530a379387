"""The WordPress row of bench/posts.py: slug previews and publishing against a real site.

A throwaway WordPress (tests/wordpress.py: Debian's package on PHP's built-in
server, a MariaDB of its own) holding --blog posts, seeded by one SQL insert
through WordPress's own `$wpdb`, a third of the page's titles among them.

- preview, first look: a page of tasks previewed with no answer kept (the
  site asked: one request for the page's slugs, one for the `-N` of those taken);
- preview, kept: the same page again within 5 s (the answers kept for the page);
- publish: the approved image uploaded to the media library and the draft made
  (the publish step's upload and placement, in process), median of 5;
- approve → post: through a daemon (tests.apidaemon.ApiDaemon, grace 0), from
  `approve` on its API to the task `published` (the post made on the site), p50 of 5.

    .venv/bin/python bench/wpposts.py [--page 100] [--blog 10000] [--runs 11]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from bench.report import Row, row  # noqa: E402
from daemon.publishing.destinations.base import PostDraft  # noqa: E402
from daemon.publishing.destinations.local import LocalDestination  # noqa: E402
from daemon.publishing.destinations.wordpress import WordPressDestination  # noqa: E402
from daemon.publishing.publishers import asset_id_for  # noqa: E402
from daemon.publishing.publishers.wordpress import WordPressPublisher  # noqa: E402
from daemon.publishing.slugs import SlugPreviewer, base_slug  # noqa: E402
from daemon.store import Store  # noqa: E402
from gladtui.config import WordPressPostsConfig  # noqa: E402
from tests.apidaemon import short_dir  # noqa: E402
from tests.wordpress import WordPressSite, available  # noqa: E402

TARGET_MS = 50.0

SEED = """
global $wpdb;
$slugs = json_decode(file_get_contents(getenv('GT_SLUGS')));
foreach (array_chunk($slugs, 1000) as $chunk) {
    $rows = [];
    foreach ($chunk as $slug) {
        $rows[] = $wpdb->prepare("(1, NOW(), UTC_TIMESTAMP(), '', %s, '', 'publish', %s,"
            . " NOW(), UTC_TIMESTAMP(), '', '', '', 'post')", $slug, $slug);
    }
    $wpdb->query("INSERT INTO {$wpdb->posts} (post_author, post_date, post_date_gmt,"
        . " post_content, post_title, post_excerpt, post_status, post_name, post_modified,"
        . " post_modified_gmt, to_ping, pinged, post_content_filtered, post_type) VALUES "
        . implode(',', $rows));
}
echo $wpdb->get_var("SELECT count(*) FROM {$wpdb->posts} WHERE post_type = 'post'");
"""


def seed(site: WordPressSite, slugs: list[str]) -> int:
    path = site.root / "slugs.json"
    path.write_text(json.dumps(slugs))
    os.environ["GT_SLUGS"] = str(path)
    return int(site.php(SEED))


class Clock:
    """The previews' clock: `now` moved by the bench (kept answers age or do not)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def measure(
    args: argparse.Namespace, blog_slugs: Callable[[int, int], list[str]], fill_tasks: Callable
) -> list[Row]:
    """The WordPress rows; [] (and why, on stdout) when WordPress is not installed."""
    if not available():
        print("WordPress is not installed (apt-get install wordpress mariadb-server php-cli ...)")
        return []
    scratch = short_dir("gt-bench-wp-")
    site = WordPressSite.start()
    try:
        print(f"WordPress started in {site.started_seconds:.1f} s")
        started = time.perf_counter()
        held = seed(site, blog_slugs(args.blog, args.page))
        print(f"{held:,} posts seeded in {time.perf_counter() - started:.1f} s")
        config = WordPressPostsConfig(url=site.url, user="admin")
        clock = Clock()
        destination = WordPressDestination(config, site.password("admin"), monotonic=clock)
        destination.check()
        with Store.open(scratch / "bench.duckdb") as store:
            fill_tasks(store, args.page)
            page = store.tasks.summaries(limit=args.page)
            previewer = SlugPreviewer(store, destination, "suffix")
            found = previewer.preview(page)
            suffixed = [p for p in found.values() if p.outcome == "suffixed"]
            assert len(suffixed) == len(range(0, args.page, 3)), len(suffixed)
            local = SlugPreviewer(store, LocalDestination(), "suffix")
            first, kept, alone = [], [], []
            for _ in range(args.runs):
                clock.now += 10.0  # older than any kept answer: the site is asked
                first.append(timed(lambda: previewer.preview(page)))
                kept.append(timed(lambda: previewer.preview(page)))
                alone.append(timed(lambda: local.preview(page)))  # gladtui's table only
        publish = [timed(lambda n=n: publish_one(destination, scratch, n)) for n in range(5)]
        approve = approve_to_published(site, 5)
    finally:
        site.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    first_ms, kept_ms, local_ms, publish_ms, approve_ms = (
        statistics.median(x) * 1000 for x in (first, kept, alone, publish, approve)
    )
    print(
        f"wordpress preview of {args.page}: first look {first_ms:.1f} ms, kept {kept_ms:.2f} ms"
        f" (local, gladtui's table only: {local_ms:.2f} ms)"
    )
    print(f"wordpress upload + draft: {publish_ms:.0f} ms (median of 5)")
    print(f"wordpress approve → published through the daemon: {approve_ms:.0f} ms (p50 of 5)")
    what = f"slug preview, page of {args.page}, {held:,} posts on a WordPress site"
    return [
        row("posts", f"{what}: answers kept for the page (median; local alone "
            f"{local_ms:.1f} ms)", f"{kept_ms:.1f} ms", kept_ms, f"≤ {TARGET_MS:.0f} ms",
            kept_ms <= TARGET_MS),
        row("posts", f"{what}: first look, the site asked (median)", f"{first_ms:.0f} ms",
            first_ms),
        row("posts", "WordPress: image uploaded + draft made (approve → post visible, minus "
            "the grace and the queue; median of 5)", f"{publish_ms:.0f} ms", publish_ms),
        row("posts", "WordPress: approve → post made, through the daemon (grace 0; p50 of 5)",
            f"{approve_ms:.0f} ms", approve_ms),
    ]  # fmt: skip


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def publish_one(destination: WordPressDestination, scratch: Path, n: int) -> None:
    path = scratch / f"bench-{n}.png"
    Image.frombytes("RGB", (256, 256), os.urandom(256 * 256 * 3)).save(path)
    asset = WordPressPublisher(destination).upload(
        path, asset_id_for(f"bench-{n}", path.read_bytes())
    )
    title = f"Benchmark publish {n}"
    draft = PostDraft(
        task_id=f"bench-{n}", title=title, slug=base_slug(title), content="",
        image_url=asset.url, created_at=datetime.now(UTC),
    )  # fmt: skip
    assert destination.create(draft) is not None


def approve_to_published(site: WordPressSite, runs: int) -> list[float]:
    """Seconds from `approve` on a daemon's API to its task `published` on the site."""
    from daemon.store import NewTask, NewVariation
    from gladtui.shapes import TaskStatus
    from tests.apidaemon import ApiDaemon

    wordpress = {"url": site.url, "user": "admin"}
    publishing = {"grace_seconds": 0, "publisher": "wordpress",
                  "posts": {"to": "wordpress", "wordpress": wordpress}}  # fmt: skip
    made = WordPressDestination(WordPressPostsConfig(**wordpress), site.password("admin"))
    d = ApiDaemon(None, settings={"publishing": publishing}, destination=made).start()
    try:
        assert d.daemon is not None
        folder = d.root / "approved"
        folder.mkdir()
        ids = [f"approve-{n}" for n in range(runs)]
        tasks, variations = [], []
        for n, task_id in enumerate(ids):
            path = folder / f"{task_id}.png"
            Image.frombytes("RGB", (512, 512), os.urandom(512 * 512 * 3)).save(path)
            tasks.append(NewTask(id=task_id, title=f"Approved to a post {n}", prompt="bread",
                                 variations=1, steps=30, guidance_scale=7.0, width=512,
                                 height=512, seed=n))  # fmt: skip
            variation = NewVariation(task_id=task_id, idx=1, path=str(path),
                                     thumbnail=str(path), seed=n, prompt="bread",
                                     negative_prompt="", width=512, height=512, steps=30,
                                     guidance_scale=7.0, model="bench")  # fmt: skip
            variations.append(variation)
        with d.daemon.store.transaction():
            d.daemon.store.tasks.create_many(tasks, status=TaskStatus.REVIEW)
            d.daemon.store.variations.add_many(variations)
        return [timed(lambda t=task_id: approve_one(d.client, t)) for task_id in ids]
    finally:
        d.cleanup()


def approve_one(client: Any, task_id: str) -> None:
    client.approve(task_id, 1)
    deadline = time.monotonic() + 120
    while client.task(task_id)["status"] != "published":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{task_id} not published within 120 s: {client.task(task_id)}")
        time.sleep(0.01)


def main() -> int:
    from bench.posts import blog_slugs, fill_tasks
    from bench.report import add_json_option, write_rows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--blog", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=11)
    add_json_option(parser)
    args = parser.parse_args()
    write_rows(args.json, measure(args, blog_slugs, fill_tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
