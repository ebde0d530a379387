"""Posts into the blog's own PostgreSQL table: a real server, a real daemon, real images.

The server is Debian's PostgreSQL started by the session (tests/pgserver.py);
each test gets a fresh database with the seed's `posts` table (slug UNIQUE as
`posts_slug_key`). The crash test is tests/daemon/publishing/test_posts_crash.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from daemon.generation.models import LoadedModel
from daemon.publishing.destinations.base import Placed, PostDraft
from daemon.publishing.destinations.postgres import PostgresDestination
from gladtui.config import PostgresPostsConfig
from tests.apidaemon import ApiDaemon, short_dir, task_yaml
from tests.pgserver import ROLE_PASSWORD, SEED_DDL, PgServer

MUFFINS = "Making Delicious Muffins"
GLADTUI = Path(sys.executable).parent / "gladtui"


def rows(dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, title, slug, content, featured_image_url FROM posts ORDER BY id")
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def insert(dsn: str, title: str, slug: str, image: str = "https://blog.example/old.png") -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO posts (title, slug, content, featured_image_url)"
            " VALUES (%s, %s, 'written in the CMS', %s)",
            [title, slug, image],
        )


@pytest.fixture
def blog(pg_server: PgServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh blog database; the daemon finds it through GLADTUI_POSTS_DSN."""
    dsn = pg_server.blog()
    monkeypatch.setenv("GLADTUI_POSTS_DSN", dsn)
    return dsn


def start(tiny: LoadedModel, policy: str = "suffix", **kwargs: Any) -> ApiDaemon:
    settings = {"publishing": {"on_duplicate_slug": policy, "posts": {"to": "postgres"}}}
    return ApiDaemon(tiny, settings=settings, **kwargs).start()


@pytest.fixture
def live(tiny: LoadedModel, blog: str) -> Iterator[ApiDaemon]:
    running = start(tiny)
    yield running
    running.cleanup()


# -- the seed's checklist, against the blog's table ----------------------------------------


def test_the_same_title_twice_makes_two_rows_the_second_with_2(live: ApiDaemon, blog: str) -> None:
    first = live.in_review(MUFFINS, name="a.yaml", variations=1, content="first batch")
    second = live.in_review(MUFFINS, name="b.yaml", variations=1, seed=7)
    one = live.published(first["id"])["post"]
    preview = live.raw("GET", f"/api/tasks/{second['id']}")[1]
    assert (preview["slug"], preview["slug_outcome"], preview["slug_taken_by"]) == (
        "making-delicious-muffins-2",
        "suffixed",
        first["id"],
    )
    two = live.published(second["id"])["post"]
    table = rows(blog)
    assert [(r["title"], r["slug"]) for r in table] == [
        (MUFFINS, "making-delicious-muffins"),
        (MUFFINS, "making-delicious-muffins-2"),
    ]
    assert [r["featured_image_url"] for r in table] == [
        one["featured_image_url"],
        two["featured_image_url"],
    ]
    assert table[0]["content"] == "first batch"
    assert (one["destination"], one["location"]) == ("postgres", f"posts id {table[0]['id']}")
    assert two["location"] == f"posts id {table[1]['id']}"
    posts = live.raw("GET", "/api/posts")[1]
    assert posts["total"] == 2 and {p["destination"] for p in posts["posts"]} == {"postgres"}
    status = live.raw("GET", "/api/status")[1]["publishing"]
    assert status["posts_to"] == "postgres"
    assert status["posts_destination"].startswith("PostgreSQL table posts in database blog")


def test_a_post_the_blog_already_had_gives_2_to_the_first_gladtui_post(
    live: ApiDaemon, blog: str
) -> None:
    insert(blog, MUFFINS, "making-delicious-muffins")
    task = live.in_review(MUFFINS, name="a.yaml", variations=1)
    assert (task["slug"], task["slug_outcome"], task["slug_taken_by"]) == (
        "making-delicious-muffins-2",
        "suffixed",
        None,  # not a gladtui post: no task holds it
    )
    post = live.published(task["id"])["post"]
    assert post["slug"] == "making-delicious-muffins-2"
    before, after = rows(blog)
    assert (before["slug"], before["content"]) == ("making-delicious-muffins", "written in the CMS")
    assert (after["slug"], after["featured_image_url"]) == (
        "making-delicious-muffins-2",
        post["featured_image_url"],
    )


@pytest.mark.parametrize("policy", ["update", "skip"])
def test_update_and_skip_against_a_row_the_blog_already_had(
    tiny: LoadedModel, blog: str, policy: str
) -> None:
    insert(blog, "Muffins, the old way", "making-delicious-muffins")
    d = start(tiny, policy)
    try:
        task = d.in_review(MUFFINS, name="a.yaml", variations=1, content="new words")
        expected = "takes_over" if policy == "update" else "links"
        assert (task["slug"], task["slug_outcome"]) == ("making-delicious-muffins", expected)
        done = d.published(task["id"])
    finally:
        d.cleanup()
    [row] = rows(blog)  # never a second row
    post = done["post"]
    assert post["slug"] == row["slug"] == "making-delicious-muffins"
    assert post["location"] == f"posts id {row['id']}"
    if policy == "update":
        assert (row["title"], row["content"]) == (MUFFINS, "new words")
        assert (
            row["featured_image_url"]
            == post["featured_image_url"]
            != "https://blog.example/old.png"
        )
    else:  # left as it was; gladtui's record shows the blog's post
        assert (row["title"], row["content"]) == ("Muffins, the old way", "written in the CMS")
        assert (post["title"], post["featured_image_url"]) == (
            "Muffins, the old way",
            "https://blog.example/old.png",
        )


# -- the CMS writes too ---------------------------------------------------------------------


class RivalBeforeInsert(PostgresDestination):
    """The blog's CMS takes the chosen slug after gladtui looked and before it inserts:
    the test's own connection inserts it, once, at exactly that moment."""

    def __init__(self, settings: PostgresPostsConfig, dsn: str) -> None:
        super().__init__(settings, dsn)
        self.rival_dsn = dsn
        self.raced: list[str] = []

    def create(self, draft: PostDraft) -> Placed | None:
        if not self.raced:
            self.raced.append(draft.slug)
            insert(self.rival_dsn, "The CMS was quicker", draft.slug)
        return super().create(draft)


def test_a_slug_taken_between_the_check_and_the_insert_gets_the_next_free_one(
    tiny: LoadedModel, blog: str
) -> None:
    rival = RivalBeforeInsert(PostgresPostsConfig(), blog)
    d = start(tiny, destination=rival)
    try:
        task = d.in_review(MUFFINS, name="a.yaml", variations=1)
        assert task["slug"] == "making-delicious-muffins"  # free when looked at
        done = d.published(task["id"])
    finally:
        d.cleanup()
    assert rival.raced == ["making-delicious-muffins"]
    assert [(r["title"], r["slug"]) for r in rows(blog)] == [
        ("The CMS was quicker", "making-delicious-muffins"),
        (MUFFINS, "making-delicious-muffins-2"),
    ]
    assert done["post"]["slug"] == "making-delicious-muffins-2" and done["error"] is None


# -- the slug preview asks once per page ------------------------------------------------------


class CountingPostgres(PostgresDestination):
    def __init__(self, settings: PostgresPostsConfig, dsn: str) -> None:
        super().__init__(settings, dsn)
        self.asked: list[int] = []

    def taken(self, bases: Collection[str]) -> dict[str, set[str]]:
        self.asked.append(len(bases))
        return super().taken(bases)


def test_a_page_of_tasks_asks_the_blog_once_for_all_their_slugs(
    tiny: LoadedModel, blog: str
) -> None:
    for n in range(40):
        insert(blog, f"Title {n}", f"title-{n}")  # taken by the blog: all need a suffix
    counting = CountingPostgres(PostgresPostsConfig(), blog)
    d = ApiDaemon(
        None, settings={"publishing": {"posts": {"to": "postgres"}}}, destination=counting
    )
    d.start()
    try:
        for n in range(40):
            d.submit(task_yaml(f"Title {n}", variations=1), f"t{n}.yaml")
        counting.asked.clear()
        status, page = d.raw("GET", "/api/tasks?limit=100")
    finally:
        d.cleanup()
    assert status == 200 and len(page["tasks"]) == 40
    assert counting.asked == [40]  # one round trip for the whole page
    assert {t["slug"] for t in page["tasks"]} == {f"title-{n}-2" for n in range(40)}
    assert {t["slug_outcome"] for t in page["tasks"]} == {"suffixed"}


# -- refusals at start ------------------------------------------------------------------------


def run_daemon(
    dsn: str | None, table: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """`gladtui daemon` with posts going to postgres; it must refuse before serving."""
    root = short_dir()
    postgres = {"postgres": table} if table else {}
    config = {
        "drop_dir": "drop", "state_dir": "state", "preview_dir": "previews",
        "cache_dir": "cache", "socket": "run/d.sock",
        "generation": {"model": "builtin:tiny-sdxl", "device": "cpu"},
        "publishing": {"posts": {"to": "postgres", **postgres}},
    }  # fmt: skip
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.pop("GLADTUI_POSTS_DSN", None)
    if dsn is not None:
        env["GLADTUI_POSTS_DSN"] = dsn
    try:
        return subprocess.run(
            [str(GLADTUI), "--config", str(root / "config.yaml"), "daemon", "--log-level", "debug"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    output = result.stdout + result.stderr
    assert ROLE_PASSWORD not in output  # never the secret, even at debug level
    assert "API listening" not in output  # refused before serving anything
    return result.stderr


def test_a_wrong_password_is_refused_without_printing_it(pg_server: PgServer) -> None:
    dsn = pg_server.blog().replace(ROLE_PASSWORD, ROLE_PASSWORD[::-1])
    stderr = refusal(run_daemon(dsn))
    assert "cannot use the posts database" in stderr
    assert 'password authentication failed for user "gladtui"' in stderr
    assert ROLE_PASSWORD[::-1] not in stderr


def test_a_malformed_dsn_is_refused_without_repeating_it(pg_server: PgServer) -> None:
    stderr = refusal(run_daemon(f"host={pg_server.socket_dir} password={ROLE_PASSWORD} oops"))
    assert "GLADTUI_POSTS_DSN is not a valid PostgreSQL connection string" in stderr


def test_no_server_there_is_refused_with_where_it_looked(pg_server: PgServer) -> None:
    dsn = pg_server.blog().replace(str(pg_server.socket_dir), "/nonexistent/pg")
    stderr = refusal(run_daemon(dsn))
    assert "host=/nonexistent/pg" in stderr and "No such file or directory" in stderr
    assert "GLADTUI_POSTS_DSN" in stderr  # where the connection comes from


def test_a_missing_table_is_named(pg_server: PgServer) -> None:
    stderr = refusal(run_daemon(pg_server.blog(ddl=None)))
    assert "the posts table 'posts' does not exist in database 'blog" in stderr


def test_a_missing_column_is_named(pg_server: PgServer) -> None:
    stderr = refusal(run_daemon(pg_server.blog(), {"columns": {"content": "body"}}))
    assert "has no column 'body' (publishing.posts.postgres.columns.content)" in stderr


def test_a_table_without_a_unique_slug_is_refused_with_the_reason(pg_server: PgServer) -> None:
    ddl = "CREATE TABLE posts (id SERIAL PRIMARY KEY, title TEXT, slug TEXT, content TEXT,"
    ddl += " featured_image_url TEXT, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ)"
    stderr = refusal(run_daemon(pg_server.blog(ddl)))
    assert "has no UNIQUE constraint on its slug column 'slug'" in stderr
    assert "ADD CONSTRAINT posts_slug_key UNIQUE (slug)" in stderr


def test_taken_slugs_are_grouped_by_base_and_matched_literally(pg_server: PgServer) -> None:
    dsn = pg_server.blog()
    slugs = ["pie", "pie-2", "pie-10", "pie-ball", "piece", "a.b", "axb", "a.b-3", "c++", "c++-2"]
    for slug in slugs:
        insert(dsn, slug, slug)
    destination = PostgresDestination(PostgresPostsConfig(), dsn)
    destination.check()
    try:
        found = destination.taken(["pie", "a.b", "c++", "tart"])
    finally:
        destination.close()
    assert found == {
        "pie": {"pie", "pie-2", "pie-10"},  # pie-ball and piece cannot collide with pie-N
        "a.b": {"a.b", "a.b-3"},  # the dot is a dot, not any character
        "c++": {"c++", "c++-2"},
    }


def test_alt_caption_and_card_columns_are_written_when_mapped(
    tiny: LoadedModel, pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = pg_server.blog(
        SEED_DDL.replace(
            "featured_image_url TEXT,",
            "featured_image_url TEXT, image_alt TEXT, image_caption TEXT, og_image TEXT,",
        )
    )
    monkeypatch.setenv("GLADTUI_POSTS_DSN", dsn)
    columns = {"alt": "image_alt", "caption": "image_caption", "social_image_url": "og_image"}
    posts = {"to": "postgres", "postgres": {"columns": columns}}
    settings = {"publishing": {"posts": posts, "social_card": "1200x630"}}
    d = ApiDaemon(tiny, settings=settings).start()
    try:
        task = d.in_review(MUFFINS, name="a.yaml", variations=1, alt="Three muffins")
        done = d.published(task["id"])
    finally:
        d.cleanup()
    with psycopg.connect(dsn) as connection:
        [(alt, caption, card)] = connection.execute(
            "SELECT image_alt, image_caption, og_image FROM posts"
        ).fetchall()
    assert (alt, caption) == ("Three muffins", "")
    assert f"/{task['id']}-card-" in card and card != done["post"]["featured_image_url"]
