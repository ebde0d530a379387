"""Publishing benchmark: approve → published latency, and 1,000 approvals sharing 10 titles.

Targets (issue "Publishing"): with the local publisher, approve → published
p50 ≤ 0.2 s; 1,000 approvals of distinct tasks sharing 10 titles end with
0 errors, 1,000 posts and unique slugs.

A daemon runs in this process with the model parked; tasks are put in review
directly through the store, each with one real 64×64 PNG. Latency is taken
from the client's approve call to the `published` event on the event stream.
Run:

    .venv/bin/python bench/publish.py [--latency 50] [--bulk 1000] [--threads 4] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from bench.report import Row, add_json_option, row, write_rows  # noqa: E402
from daemon.store import NewTask, NewVariation, Store  # noqa: E402
from gladtui.client import ApiError  # noqa: E402
from gladtui.shapes import TaskStatus  # noqa: E402
from tests.apidaemon import ApiDaemon  # noqa: E402

TITLES = [f"Ten titles, number {n}" for n in range(10)]


def in_review(store: Store, previews: Path, prefix: str, count: int) -> list[str]:
    """`count` tasks in review, titles cycling through TITLES, one PNG each."""
    previews.mkdir(parents=True, exist_ok=True)
    ids = [f"{prefix}-{n:05d}" for n in range(count)]
    variations = []
    for n, task_id in enumerate(ids):
        path = previews / f"sdxl-{task_id}-variation-1-20261124_000000.png"
        Image.new("RGB", (64, 64), (n % 256, (n // 256) % 256, 128)).save(path)
        variations.append(
            NewVariation(task_id=task_id, idx=1, path=str(path), seed=n, prompt="p",
                         negative_prompt="", width=64, height=64, steps=2,
                         guidance_scale=7.0, model="bench")
        )  # fmt: skip
    tasks = [
        NewTask(id=task_id, title=TITLES[n % len(TITLES)], prompt="p", variations=1,
                steps=2, guidance_scale=7.0, width=64, height=64, seed=n)
        for n, task_id in enumerate(ids)
    ]  # fmt: skip
    with store.transaction():
        store.tasks.create_many(tasks, status=TaskStatus.REVIEW)
        store.variations.add_many(variations)
    return ids


def latencies(d: ApiDaemon, ids: list[str]) -> list[float]:
    """Seconds from each approve call to its task's `published` event, one at a time."""
    published: dict[str, float] = {}
    arrived = threading.Condition()
    opened = threading.Event()

    def listen() -> None:
        for event in d.client.events(timeout=30):
            opened.set()
            if event.kind == "published":
                with arrived:
                    published[event.data["task_id"]] = time.perf_counter()
                    arrived.notify_all()
                if len(published) == len(ids):
                    return

    threading.Thread(target=listen, daemon=True).start()
    opened.wait(10)
    found = []
    for task_id in ids:
        started = time.perf_counter()
        d.client.approve(task_id, 1)
        with arrived:
            arrived.wait_for(lambda t=task_id: t in published, timeout=30)  # type: ignore[misc]
        found.append(published[task_id] - started)
    return found


def bulk(d: ApiDaemon, ids: list[str], threads: int) -> tuple[float, int]:
    """Approve all `ids` from `threads` clients at once; (seconds until all published, errors)."""
    errors = 0

    def approve(task_id: str) -> None:
        nonlocal errors
        try:
            d.client.approve(task_id, 1)
        except ApiError:
            errors += 1

    # Tasks published before (the latency run's), however many --latency asked for.
    expected = d.client.status()["tasks"]["published"] + len(ids)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(approve, ids))
    while d.client.status()["tasks"]["published"] < expected:
        if time.perf_counter() - started > 600:
            break
        time.sleep(0.1)
    return time.perf_counter() - started, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=int, default=50)
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    add_json_option(parser)
    args = parser.parse_args()

    d = ApiDaemon(None).start()
    try:
        assert d.daemon is not None
        store, previews = d.daemon.store, d.config.preview_dir
        single = sorted(latencies(d, in_review(store, previews, "lat", args.latency)))
        seconds, errors = bulk(d, in_review(store, previews, "bulk", args.bulk), args.threads)
        posts = store.posts.list()
        slugs = {post.slug for post in posts}
        failed = store.tasks.count(TaskStatus.FAILED)
    finally:
        d.cleanup()

    p50 = statistics.median(single)
    p95 = single[int(len(single) * 0.95) - 1]
    print(f"approve -> published (local publisher): p50 {p50 * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms over {len(single)} tasks "
          f"(target p50 <= 200 ms: {'met' if p50 <= 0.2 else 'MISSED'})")  # fmt: skip
    total = args.latency + args.bulk
    ok = errors == 0 and failed == 0 and len(posts) == total and len(slugs) == len(posts)
    print(f"{args.bulk} approvals sharing {len(TITLES)} titles from {args.threads} clients: "
          f"{errors} errors, {failed} failed, {len(posts)} posts for {total} tasks, "
          f"{len(slugs)} distinct slugs, all published in {seconds:.1f} s "
          f"({args.bulk / seconds:.0f}/s) ({'met' if ok else 'MISSED'})")  # fmt: skip
    write_rows(args.json, rows(args, single, seconds, errors, failed, posts, slugs))
    return 0


def rows(
    args: argparse.Namespace,
    single: list[float],
    seconds: float,
    errors: int,
    failed: int,
    posts: list[Any],
    slugs: set[str],
) -> list[Row]:
    p50, p95 = statistics.median(single), single[int(len(single) * 0.95) - 1]
    total = args.latency + args.bulk
    # The bulk row's value counts what went wrong: errors, failures, missing posts, slug clashes.
    wrong = errors + failed + abs(total - len(posts)) + (len(posts) - len(slugs))
    outcome = (
        f"{errors} errors, {failed} failed, {len(posts):,} posts for {total:,} tasks, "
        f"{len(slugs):,} distinct slugs"
    )
    return [
        row("publish", "approve → `published` event, one at a time, p50 / p95",
            f"{p50 * 1000:.0f} ms / {p95 * 1000:.0f} ms over {len(single)} tasks", p50 * 1000,
            "p50 ≤ 200 ms", p50 <= 0.2),
        row("publish", f"{args.bulk:,} approvals of distinct tasks sharing {len(TITLES)} titles, "
            f"from {args.threads} clients at once", outcome, wrong,
            "0 errors, a post each, unique slugs", wrong == 0),
        row("publish", f"{args.bulk:,} approvals: until all published",
            f"{seconds:.1f} s ({args.bulk / seconds:.0f}/s)", seconds),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
