"""Slug previews against each posts destination: what a page of tasks costs.

Every task the API lists carries the slug it would get, and with
`publishing.posts.to` the destination is the authority, so listing a page
asks the blog. This measures, in one run and interleaved (the machine's
noise hits each alike), the preview of one page of tasks against:

- `local`: gladtui's own table (the default);
- `postgres`: a real PostgreSQL (Debian's package, started here as in the
  tests) whose `posts` table holds --blog posts, a third of the page's titles
  among them;
- `markdown`: a folder of --blog `.md` files with front matter: a preview
  answered from the last look at the folder (previews reuse it for up to 5 s
  while no file is added, removed or renamed), a fresh look at unchanged
  files (one stat each: what the publisher does, and a preview every 5 s),
  and a first look (every file parsed: what the daemon does at start).

Also the whole `GET /api/tasks` page over the socket, local vs postgres.
Target: a page of 100 against 10,000 blog posts previews in ≤ 20 ms (postgres).
Then a real WordPress holding --blog posts (bench/wpposts.py; skipped with
--no-wordpress or when it is not installed): the preview asking the site, the
same page with the answers kept (target ≤ 50 ms), and upload + draft.

    .venv/bin/python bench/posts.py [--page 100] [--blog 10000] [--runs 21] [--json PATH]
                                    [--no-wordpress]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench import wpposts  # noqa: E402
from bench.report import Row, add_json_option, row, write_rows  # noqa: E402
from daemon.publishing.destinations import mdfiles  # noqa: E402
from daemon.publishing.destinations.base import Destination  # noqa: E402
from daemon.publishing.destinations.local import LocalDestination  # noqa: E402
from daemon.publishing.destinations.markdown import MarkdownDestination  # noqa: E402
from daemon.publishing.destinations.postgres import PostgresDestination  # noqa: E402
from daemon.publishing.slugs import SlugPreviewer, base_slug  # noqa: E402
from daemon.store import NewTask, Store  # noqa: E402
from gladtui.config import PostgresPostsConfig  # noqa: E402
from gladtui.shapes import TaskStatus  # noqa: E402
from tests.apidaemon import ApiDaemon, short_dir  # noqa: E402
from tests.pgserver import PgServer, server_bin  # noqa: E402

TARGET_MS = 20.0


def titles(page: int) -> list[str]:
    return [f"Benchmark muffins number {n}" for n in range(page)]


def fill_tasks(store: Store, page: int) -> None:
    tasks = [
        NewTask(
            id=f"bench-{n:04d}", title=title, prompt="muffins", variations=3, steps=30,
            guidance_scale=7.0, width=1024, height=1024,
        )
        for n, title in enumerate(titles(page))
    ]  # fmt: skip
    store.tasks.create_many(tasks, status=TaskStatus.REVIEW)


def blog_slugs(blog: int, page: int) -> list[str]:
    """`blog` slugs: every third title of the page is taken (some twice), the rest filler."""
    taken = [base_slug(title) for title in titles(page)[::3]]
    taken += [f"{slug}-2" for slug in taken[::2]]
    return taken + [f"an-older-post-{n}" for n in range(blog - len(taken))]


def fill_postgres(dsn: str, slugs: list[str]) -> None:
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO posts (title, slug, content, featured_image_url) VALUES (%s, %s, '', '')",
            [(slug.replace("-", " "), slug) for slug in slugs],
        )


def fill_folder(folder: Path, slugs: list[str]) -> None:
    folder.mkdir(parents=True)
    for n, slug in enumerate(slugs):
        name = slug if n % 2 else f"2024-01-01-post-{n}"  # half say their slug in front matter
        (folder / f"{name}.md").write_text(
            f"---\ntitle: {slug}\nslug: {slug}\ndate: 2024-01-01\n---\nBody of {slug}.\n"
        )


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--blog", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--no-wordpress", dest="wordpress", action="store_false")
    add_json_option(parser)
    args = parser.parse_args()

    bin_dir = server_bin()
    if bin_dir is None:
        print("PostgreSQL's server is not installed (apt-get install postgresql)")
        return 1
    server = PgServer.start(bin_dir)
    scratch = short_dir("gt-bench-posts-")
    local_daemon = pg_daemon = None
    try:
        slugs = blog_slugs(args.blog, args.page)
        dsn = server.blog()
        fill_postgres(dsn, slugs)
        fill_folder(scratch / "site", slugs)
        postgres = PostgresDestination(PostgresPostsConfig(), dsn)
        postgres.check()
        settings = {"publishing": {"posts": {"to": "postgres"}}}
        local_daemon = ApiDaemon(None).start()
        pg_daemon = ApiDaemon(None, settings=settings, destination=postgres).start()
        assert local_daemon.daemon is not None and pg_daemon.daemon is not None
        store = local_daemon.daemon.store
        fill_tasks(store, args.page)
        fill_tasks(pg_daemon.daemon.store, args.page)
        page = store.tasks.summaries(limit=args.page)
        previewers: dict[str, Callable[[], object]] = {}
        for name, destination in (
            ("local", LocalDestination()),
            ("postgres", postgres),
            # A clock that stands still: the last look never ages (a round of this loop
            # takes longer than the 5 s a preview may reuse a look for).
            (
                "markdown, last look",
                MarkdownDestination(scratch / "site", "image", monotonic=lambda: 0.0),
            ),
        ):
            previewers[name] = make_preview(store, destination, page)
        warm = mdfiles.SlugIndex(scratch / "site")
        warm.slugs()
        previewers["markdown, fresh look"] = lambda: warm.slugs(max_age=0)
        previewers["markdown, first look"] = lambda: mdfiles.SlugIndex(scratch / "site").slugs()
        url = f"/api/tasks?limit={args.page}"
        previewers["GET page, local"] = lambda: local_daemon.raw("GET", url)
        previewers["GET page, postgres"] = lambda: pg_daemon.raw("GET", url)
        check_previews(store, postgres, page, args.page)
        samples: dict[str, list[float]] = {name: [] for name in previewers}
        for _ in range(args.runs):
            for name, call in previewers.items():
                started = time.perf_counter()
                call()
                samples[name].append(time.perf_counter() - started)
    finally:
        for running in (local_daemon, pg_daemon):
            if running is not None:
                running.cleanup()
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    figures = {name: median_ms(values) for name, values in samples.items()}
    print(f"slug preview of a page of {args.page} tasks, {args.blog:,} posts at the destination,")
    print(f"median of {args.runs} interleaved runs:")
    for name, ms in figures.items():
        print(f"  {name:<20} {ms:8.2f} ms   ({ms / figures['local']:.1f}x local)")
    met = figures["postgres"] <= TARGET_MS
    print(f"target postgres <= {TARGET_MS:.0f} ms: {'met' if met else 'MISSED'}")
    wordpress = wpposts.measure(args, blog_slugs, fill_tasks) if args.wordpress else []
    write_rows(args.json, rows(args, figures) + wordpress)
    return 0


def make_preview(
    store: Store, destination: Destination, page: list[object]
) -> Callable[[], object]:
    previewer = SlugPreviewer(store, destination, "suffix")
    return lambda: previewer.preview(page)  # type: ignore[arg-type]


def check_previews(store: Store, postgres: Destination, page: list[object], size: int) -> None:
    """The figures are about right answers: every third title is taken at the blog."""
    found = SlugPreviewer(store, postgres, "suffix").preview(page)  # type: ignore[arg-type]
    suffixed = [p for p in found.values() if p.outcome == "suffixed"]
    assert len(suffixed) == len(range(0, size, 3)), len(suffixed)


def rows(args: argparse.Namespace, figures: dict[str, float]) -> list[Row]:
    pg, local = figures["postgres"], figures["local"]
    what = f"slug preview, page of {args.page}, {args.blog:,} posts at the destination"
    return [
        row("posts", f"{what}: postgres (median)", f"{pg:.1f} ms", pg,
            f"≤ {TARGET_MS:.0f} ms", pg <= TARGET_MS),
        row("posts", f"{what}: local / markdown (last look / fresh look / first look)",
            f"{local:.1f} / ({figures['markdown, last look']:.1f} / "
            f"{figures['markdown, fresh look']:.0f} / {figures['markdown, first look']:.0f}) ms",
            figures["markdown, fresh look"]),
        row("posts", f"`GET /api/tasks?limit={args.page}`: local / postgres",
            f"{figures['GET page, local']:.1f} / {figures['GET page, postgres']:.1f} ms",
            figures["GET page, postgres"]),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
