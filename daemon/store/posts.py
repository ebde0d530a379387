"""The posts table: gladtui's record of every post, and where each went.

One post per published task. `destination` says where it went
(`publishing.posts.to`: local, postgres, markdown, webhook) and `location`
where it is there; a slug is unique per destination. The UNIQUE constraints
on `task_id` and `(slug, destination)` are the last line of defence (the
publisher picks a free slug first); when one fires anyway, DuckDB's generic
constraint error is translated into SlugTakenError or DuplicatePostError so
the publisher can react to each.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from daemon.store.db import Database
from daemon.store.errors import (
    DuplicatePostError,
    NotFoundError,
    SlugTakenError,
    StoreError,
    duplicate_key_column,
)
from daemon.store.records import PostRecord, column_list

__all__ = ["PostsRepository"]

_COLUMNS = column_list(PostRecord)
_SELECT = f"SELECT {_COLUMNS} FROM posts"
_BY_ID = f"{_SELECT} WHERE id = ?"
_BY_TASK = f"{_SELECT} WHERE task_id = ?"
_BY_SLUG = f"{_SELECT} WHERE slug = ? AND destination = ?"
_INSERT = (
    "INSERT INTO posts (task_id, slug, title, content, featured_image_url, asset_id,"
    " created_at, updated_at, destination, location)"
    f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}"
)
_UPDATE = (
    "UPDATE posts SET title = ?, content = ?, featured_image_url = ?, asset_id = ?,"
    f" updated_at = ?, location = coalesce(?, location) WHERE id = ? RETURNING {_COLUMNS}"
)
LOCAL = "local"  # gladtui's own table is the blog: the default destination


class PostsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        task_id: str,
        slug: str,
        title: str,
        content: str,
        featured_image_url: str,
        asset_id: str | None = None,
        *,
        destination: str = LOCAL,
        location: str | None = None,
    ) -> PostRecord:
        """Insert a post for an existing task.

        SlugTakenError if another post of `destination` has `slug`; DuplicatePostError
        if this task already has a post (if both, the task's own post is what the
        caller wants).
        """
        now = self._db.now()
        params = [task_id, slug, title, content, featured_image_url, asset_id, now, now]
        params += [destination, location]
        try:
            with self._db.transaction() as cursor:
                found = cursor.execute("SELECT 1 FROM tasks WHERE id = ?", [task_id]).fetchone()
                if found is None:
                    raise NotFoundError(f"no task {task_id!r} to create a post for")
                row = cursor.execute(_INSERT, params).fetchone()
        except duckdb.ConstraintException as exc:
            raise self._translate(exc, task_id, slug) from exc
        assert row is not None  # INSERT … RETURNING always returns the row
        return PostRecord.from_row(row)

    def _translate(self, exc: duckdb.ConstraintException, task_id: str, slug: str) -> StoreError:
        column = duplicate_key_column(str(exc))
        if column == "task_id":
            return DuplicatePostError(task_id)
        if column == "slug":
            return SlugTakenError(slug)
        # Unknown wording (a future DuckDB?): ask the table, unless the caller's
        # transaction is aborted by the error and cannot be queried any more.
        if not self._db.in_transaction:
            if self.by_task(task_id) is not None:
                return DuplicatePostError(task_id)
            if self._one(f"{_SELECT} WHERE slug = ?", slug) is not None:
                return SlugTakenError(slug)
        return StoreError(f"cannot create the post of task {task_id!r}: {exc}")

    def _one(self, sql: str, *values: object) -> PostRecord | None:
        row = self._db.cursor().execute(sql, list(values)).fetchone()
        return PostRecord.from_row(row) if row else None

    def get(self, post_id: int) -> PostRecord | None:
        return self._one(_BY_ID, post_id)

    def by_task(self, task_id: str) -> PostRecord | None:
        return self._one(_BY_TASK, task_id)

    def by_slug(self, slug: str, destination: str = LOCAL) -> PostRecord | None:
        return self._one(_BY_SLUG, slug, destination)

    def by_ids(self, post_ids: Iterable[int]) -> dict[int, PostRecord]:
        """The posts with these ids, by id, in one query."""
        ids = list(post_ids)
        if not ids:
            return {}
        rows = (
            self._db.cursor()
            .execute(f"{_SELECT} WHERE list_contains(?::BIGINT[], id)", [ids])
            .fetchall()
        )
        return {post.id: post for post in map(PostRecord.from_row, rows)}

    def by_slugs(self, slugs: Iterable[str], destination: str = LOCAL) -> dict[str, PostRecord]:
        """The posts of `destination` that have one of `slugs`, by slug, in one query."""
        wanted = list(slugs)
        if not wanted:
            return {}
        rows = (
            self._db.cursor()
            .execute(
                f"{_SELECT} WHERE list_contains(?::VARCHAR[], slug) AND destination = ?",
                [wanted, destination],
            )
            .fetchall()
        )
        return {post.slug: post for post in map(PostRecord.from_row, rows)}

    def count(self) -> int:
        row = self._db.cursor().execute("SELECT count(*) FROM posts").fetchone()
        return int(row[0]) if row else 0

    def slugs_with_prefix(self, base: str, destination: str = LOCAL) -> set[str]:
        """Every slug of `destination` starting with `base` (so `base`, `base-2`, …
        but also `base-ball`).

        `starts_with` rather than LIKE, so `_` and `%` in a slug are not wildcards.
        """
        return self.slugs_with_prefixes([base], destination).get(base, set())

    def slugs_with_prefixes(
        self, bases: Iterable[str], destination: str = LOCAL
    ) -> dict[str, set[str]]:
        """`slugs_with_prefix` for many bases in one query: base → its slugs (bases
        with none are left out)."""
        return {base: set(held) for base, held in self.slug_holders(bases, destination).items()}

    def slug_holders(
        self, bases: Iterable[str], destination: str = LOCAL
    ) -> dict[str, dict[str, str]]:
        """For many bases in one query: base → {slug starting with it: the task whose post
        has it} (bases with none are left out). A page's slug previews need both the
        slugs taken and who holds each base; a query costs more than its rows here."""
        wanted = sorted(set(bases))
        if not wanted:
            return {}
        rows = (
            self._db.cursor()
            .execute(
                "SELECT b.base, p.slug, p.task_id FROM unnest(?::VARCHAR[]) AS b(base)"
                " JOIN posts p ON starts_with(p.slug, b.base) WHERE p.destination = ?",
                [wanted, destination],
            )
            .fetchall()
        )
        found: dict[str, dict[str, str]] = {}
        for base, slug, task_id in rows:
            found.setdefault(str(base), {})[str(slug)] = str(task_id)
        return found

    def list(self, limit: int | None = None, offset: int = 0) -> list[PostRecord]:
        """Posts newest first."""
        rows = (
            self._db.cursor()
            .execute(
                f"{_SELECT} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", [limit, offset]
            )
            .fetchall()
        )
        return [PostRecord.from_row(row) for row in rows]

    def update_content(
        self,
        post_id: int,
        title: str,
        content: str,
        featured_image_url: str,
        asset_id: str | None,
        location: str | None = None,
    ) -> PostRecord:
        """Replace a post's content (the `update` duplicate-slug policy); slug and task
        stay, and so does its location unless a new one is given."""
        now = self._db.now()
        params = [title, content, featured_image_url, asset_id, now, location, post_id]
        with self._db.transaction() as cursor:
            row = cursor.execute(_UPDATE, params).fetchone()
        if row is None:
            raise NotFoundError(f"no post {post_id}")
        return PostRecord.from_row(row)
