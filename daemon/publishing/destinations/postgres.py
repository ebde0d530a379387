"""`postgres`: posts go into the blog's own table, which decides which slugs are taken.

The connection string comes from the environment (`GLADTUI_POSTS_DSN`, else
libpq's `PG*` variables and `~/.pgpass`), never from the config file, and no
message repeats it or its password. Every statement runs in autocommit: a
post is one INSERT (or one UPDATE for `on_duplicate_slug: update`), and the
race with the CMS is settled by the table's UNIQUE slug constraint through
`INSERT … ON CONFLICT (slug) DO NOTHING RETURNING`: no row back means the
slug was taken meanwhile, and the publisher tries the next free one.

Two connections, each opened on first use and again after it breaks: one for
the publisher's writes, one for the API's slug previews. The previews'
connects are short and, after a failure, not retried for a while, so a
database that is down never stalls the API.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from daemon.publishing.destinations.base import (
    DestinationError,
    DestinationUnusable,
    Placed,
    PostDraft,
)
from daemon.publishing.destinations.pgschema import TableShape, check_table, table_identifier
from daemon.publishing.destinations.secrets import DSN_ENV, dsn_secrets, redact
from daemon.publishing.slugs import by_base
from gladtui.config import PostgresPostsConfig

PREVIEW_CONNECT_SECONDS = 2  # libpq's smallest useful connect_timeout
PREVIEW_COOL_DOWN_SECONDS = 30.0
# SQLSTATE classes worth trying again: connection trouble, serialization and
# deadlocks, operator intervention (a restart, a cancelled statement), resources.
_RETRYABLE_CLASSES = ("08", "40", "53", "57")
_REGEX_SPECIAL = frozenset(".^$*+?()[]{}|\\")

Row = tuple[Any, ...]


class _Link:
    """One connection, opened on first use and again after it broke; one user at a time."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Row]],
        *,
        cool_down: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._cool_down = cool_down
        self._monotonic = monotonic
        self._down_until = 0.0
        self._connection: psycopg.Connection[Row] | None = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def cursor(self) -> Iterator[psycopg.Cursor[Row]]:
        with self._lock:
            connection = self._open()
            try:
                with connection.cursor() as cursor:
                    yield cursor
            except psycopg.Error:
                if connection.broken or connection.closed:
                    self._connection = None
                raise

    def _open(self) -> psycopg.Connection[Row]:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        if self._monotonic() < self._down_until:
            raise DestinationError("the posts database was unreachable moments ago", retryable=True)
        try:
            self._connection = self._connect()
        except psycopg.Error:
            self._down_until = self._monotonic() + self._cool_down
            raise
        return self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class PostgresDestination:
    kind = "postgres"

    def __init__(
        self, settings: PostgresPostsConfig, dsn: str, secrets: Sequence[str] = ()
    ) -> None:
        self.settings = settings
        self._dsn = dsn
        self._secrets = [*dsn_secrets(dsn), *secrets]
        self._table = table_identifier(settings.table)
        self._shape = TableShape(key=None)
        self._described = f"PostgreSQL table {settings.table}"
        timeout = max(PREVIEW_CONNECT_SECONDS, round(settings.timeout_seconds))
        self._writes = _Link(lambda: self._connect(timeout))
        self._reads = _Link(
            lambda: self._connect(PREVIEW_CONNECT_SECONDS), cool_down=PREVIEW_COOL_DOWN_SECONDS
        )

    # -- connections ----------------------------------------------------------------------

    def _connect(self, connect_timeout: int) -> psycopg.Connection[Row]:
        connection = psycopg.connect(
            self._dsn,
            autocommit=True,
            connect_timeout=connect_timeout,
            application_name="gladtui",
        )
        statement_ms = int(self.settings.timeout_seconds * 1000)
        connection.execute("SELECT set_config('statement_timeout', %s, false)", [str(statement_ms)])
        return connection

    def _message(self, exc: BaseException) -> str:
        """psycopg's message, one line, with the DSN and its password taken out."""
        text = " ".join(str(exc).split())
        return redact(text, self._secrets) or type(exc).__name__

    @contextlib.contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            state = exc.sqlstate or ""
            retryable = isinstance(exc, psycopg.OperationalError) or state.startswith(
                _RETRYABLE_CLASSES
            )
            raise DestinationError(
                f"postgres: {doing} failed: {self._message(exc)}", retryable=retryable
            ) from None

    # -- start-up -------------------------------------------------------------------------

    def check(self) -> None:
        try:
            target = conninfo_to_dict(self._dsn)
        except psycopg.Error as exc:
            raise DestinationUnusable(
                f"{DSN_ENV} is not a valid PostgreSQL connection string: {self._message(exc)}"
            ) from None
        try:
            with self._writes.cursor() as cursor:
                self._shape = check_table(cursor, self.settings)
                info = cursor.connection.info
                self._described = (
                    f"PostgreSQL table {self.settings.table} in database {info.dbname} "
                    f"(user {info.user}, {_server(info.host, info.port)})"
                )
        except psycopg.Error as exc:
            asked = ", ".join(f"{k}={v}" for k, v in target.items() if k != "password")
            raise DestinationUnusable(
                f"cannot use the posts database ({asked or 'libpq defaults'}): "
                f"{self._message(exc)} (the connection comes from {DSN_ENV}, else libpq's "
                "PG* variables and ~/.pgpass)"
            ) from None

    def describe(self) -> str:
        return self._described

    # -- slugs ----------------------------------------------------------------------------

    def taken(self, bases: Collection[str]) -> dict[str, set[str]]:
        wanted = sorted(set(bases))
        if not wanted:
            return {}
        # One pass over the table for the whole page: a slug that is a base or
        # base-N. One regular expression of alternatives is about twice as fast
        # as comparing each row with an array of bases (bench/posts.py).
        pattern = "^(?:" + "|".join(map(_regex_literal, wanted)) + ")(?:-[0-9]+)?$"
        query = sql.SQL("SELECT {slug} FROM {table} WHERE {slug} ~ %s").format(
            slug=sql.Identifier(self.settings.columns.slug), table=self._table
        )
        with self._translated("reading the taken slugs"), self._reads.cursor() as cursor:
            rows = cursor.execute(query, [pattern]).fetchall()
        return by_base(wanted, (str(value) for (value,) in rows))

    # -- writes ---------------------------------------------------------------------------

    def create(self, draft: PostDraft) -> Placed | None:
        columns = self.settings.columns
        values: dict[str, sql.Composable] = {
            columns.title: sql.Placeholder("title"),
            columns.slug: sql.Placeholder("slug"),
            columns.featured_image_url: sql.Placeholder("image_url"),
        }
        for field, mapped in self._optional():
            values[mapped] = sql.Placeholder(field)
        for column in (columns.created_at, columns.updated_at):
            if column is not None:
                values[column] = sql.SQL("now()")
        query = sql.SQL(
            "INSERT INTO {table} ({columns}) VALUES ({values})"
            " ON CONFLICT ({slug}) DO NOTHING RETURNING {returned}"
        ).format(
            table=self._table,
            columns=sql.SQL(", ").join(map(sql.Identifier, values)),
            values=sql.SQL(", ").join(values.values()),
            slug=sql.Identifier(columns.slug),
            returned=self._returned(),
        )
        with self._translated(f"inserting the post {draft.slug!r}"), self._writes.cursor() as cur:
            row = cur.execute(query, _params(draft)).fetchone()
        return None if row is None else self._placed(draft.slug, row)

    def update(self, draft: PostDraft) -> Placed | None:
        columns = self.settings.columns
        assignments = [
            sql.SQL("{} = %(title)s").format(sql.Identifier(columns.title)),
            sql.SQL("{} = %(image_url)s").format(sql.Identifier(columns.featured_image_url)),
        ]
        assignments += [
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(field))
            for field, column in self._optional()
        ]
        if columns.updated_at is not None:
            assignments.append(sql.SQL("{} = now()").format(sql.Identifier(columns.updated_at)))
        query = sql.SQL(
            "UPDATE {table} SET {assignments} WHERE {slug} = %(slug)s RETURNING {r}"
        ).format(
            table=self._table,
            assignments=sql.SQL(", ").join(assignments),
            slug=sql.Identifier(columns.slug),
            r=self._returned(),
        )
        with self._translated(f"updating the post {draft.slug!r}"), self._writes.cursor() as cur:
            row = cur.execute(query, _params(draft)).fetchone()
        return None if row is None else self._placed(draft.slug, row)

    def existing(self, slug: str) -> Placed:
        columns = self.settings.columns
        query = sql.SQL(
            "SELECT {returned}, {title}, {image} FROM {table} WHERE {slug} = %s"
        ).format(
            returned=self._returned(),
            title=sql.Identifier(columns.title),
            image=sql.Identifier(columns.featured_image_url),
            table=self._table,
            slug=sql.Identifier(columns.slug),
        )
        with self._translated(f"reading the post {slug!r}"), self._writes.cursor() as cursor:
            row = cursor.execute(query, [slug]).fetchone()
        if row is None:
            raise DestinationError(
                f"postgres: the post {slug!r} was removed while being linked", retryable=True
            )
        placed = self._placed(slug, row)
        return Placed(slug, placed.location, _text(row[1]), _text(row[2]))

    def find(self, slug: str, image_url: str) -> Placed | None:
        columns = self.settings.columns
        query = sql.SQL("SELECT {returned} FROM {table} WHERE {slug} = %s AND {image} = %s").format(
            returned=self._returned(),
            table=self._table,
            slug=sql.Identifier(columns.slug),
            image=sql.Identifier(columns.featured_image_url),
        )
        with self._translated(f"looking for the post {slug!r}"), self._writes.cursor() as cursor:
            row = cursor.execute(query, [slug, image_url]).fetchone()
        return None if row is None else self._placed(slug, row)

    def _optional(self) -> list[tuple[str, str]]:
        """(draft field, column) of the mapped columns a null setting leaves out."""
        columns = self.settings.columns
        mapped = [
            ("content", columns.content),
            ("alt", columns.alt),
            ("caption", columns.caption),
            ("social_image_url", columns.social_image_url),
        ]
        return [(field, column) for field, column in mapped if column is not None]

    def _returned(self) -> sql.Composable:
        key = self._shape.key or self.settings.columns.slug
        return sql.Identifier(key)

    def _placed(self, slug: str, row: Row) -> Placed:
        if self._shape.key is None:
            return Placed(slug, f"{self.settings.table} slug {slug}")
        return Placed(slug, f"{self.settings.table} {self._shape.key} {row[0]}")

    def close(self) -> None:
        self._writes.close()
        self._reads.close()


def _params(draft: PostDraft) -> dict[str, str]:
    return {
        "title": draft.title,
        "slug": draft.slug,
        "content": draft.content,
        "image_url": draft.image_url,
        "alt": draft.alt,
        "caption": draft.caption,
        "social_image_url": draft.social_image_url,
    }


def _regex_literal(text: str) -> str:
    """`text` matched literally by PostgreSQL's regular expressions."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _server(host: str, port: int) -> str:
    return f"socket in {host}" if host.startswith("/") else f"{host}:{port}"
