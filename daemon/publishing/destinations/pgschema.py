"""What the postgres destination checks at start-up, and its refusals in words.

The blog's table must exist, have every mapped column, and hold a UNIQUE
constraint (or unique index) on exactly its slug column: that is what makes
`INSERT … ON CONFLICT (slug) DO NOTHING` settle a race with the CMS in the
database itself. A NOT NULL column without a default that gladtui does not
fill would fail every insert, so it is refused now rather than at the first
approval. Each refusal names the table, the column and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from daemon.publishing.destinations.base import DestinationUnusable
from gladtui.config import PostgresPostsConfig

_COLUMNS = """
SELECT attnum, attname, attnotnull AND NOT atthasdef AND attidentity = '' AND attgenerated = ''
FROM pg_attribute WHERE attrelid = %s::oid AND attnum > 0 AND NOT attisdropped
"""
# A unique index on the slug column alone, usable as ON CONFLICT's arbiter.
_UNIQUE_ON = """
SELECT 1 FROM pg_index
WHERE indrelid = %s::oid AND indisunique AND indisvalid AND indnkeyatts = 1 AND indkey[0] = %s
  AND indpred IS NULL AND indexprs IS NULL
"""
_PRIMARY_KEY = """
SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = %s::oid AND i.indisprimary AND i.indnkeyatts = 1
"""


@dataclass(frozen=True, slots=True)
class TableShape:
    """What the checks found out that the writes need."""

    key: str | None  # the single-column primary key, for locations ("posts id 42")


def table_identifier(name: str) -> sql.Identifier:
    """`posts` or `blog.posts` as a quoted identifier."""
    return sql.Identifier(*name.split(".", 1))


def check_table(
    cursor: psycopg.Cursor[tuple[Any, ...]], settings: PostgresPostsConfig
) -> TableShape:
    """DestinationUnusable naming what is wrong with the blog's table, else its shape."""
    table = settings.table
    quoted = table_identifier(table).as_string(cursor.connection)
    where = _where(cursor)
    row = cursor.execute("SELECT to_regclass(%s)::oid", [quoted]).fetchone()
    if row is None or row[0] is None:
        raise DestinationUnusable(
            f"the posts table {table!r} does not exist in {where}: create it (the DDL is in "
            'docs/publishing.md, "PostgreSQL: the blog\'s own table") or set '
            "publishing.posts.postgres.table"
        )
    oid = row[0]
    columns = {
        str(name): (int(number), bool(required))
        for number, name, required in cursor.execute(_COLUMNS, [oid]).fetchall()
    }
    mapped = settings.columns.model_dump()
    missing = [
        f"{column!r} (publishing.posts.postgres.columns.{key})"
        for key, column in mapped.items()
        if column is not None and column not in columns
    ]
    if missing:
        raise DestinationUnusable(
            f"the posts table {table!r} in {where} has no column {', '.join(missing)}: "
            "map each to a column it has, or null to leave it out where allowed"
        )
    slug = settings.columns.slug
    if cursor.execute(_UNIQUE_ON, [oid, columns[slug][0]]).fetchone() is None:
        raise DestinationUnusable(
            f"the posts table {table!r} in {where} has no UNIQUE constraint on its slug column "
            f"{slug!r}: without it two writers could give one slug twice. Add one, e.g. "
            f"ALTER TABLE {quoted} ADD CONSTRAINT {_constraint_name(table, slug)} UNIQUE ({slug})"
        )
    filled = {column for column in mapped.values() if column is not None}
    unfilled = sorted(name for name, (_, required) in columns.items() if required)
    unfilled = [name for name in unfilled if name not in filled]
    if unfilled:
        raise DestinationUnusable(
            f"the posts table {table!r} in {where} has NOT NULL column(s) without a default "
            f"that gladtui does not fill: {', '.join(unfilled)}. Give them a default, or map "
            "them under publishing.posts.postgres.columns"
        )
    privileges = cursor.execute(
        "SELECT has_table_privilege(%s::oid, 'SELECT'), has_table_privilege(%s::oid, 'INSERT')",
        [oid, oid],
    ).fetchone()
    if privileges is None or not all(privileges):
        raise DestinationUnusable(
            f"{where} may not read and insert into the posts table {table!r}: "
            f"GRANT SELECT, INSERT, UPDATE ON {quoted} TO {cursor.connection.info.user}"
        )
    key = cursor.execute(_PRIMARY_KEY, [oid]).fetchone()
    return TableShape(key=None if key is None else str(key[0]))


def _where(cursor: psycopg.Cursor[tuple[Any, ...]]) -> str:
    info = cursor.connection.info
    return f"database {info.dbname!r} (as user {info.user!r})"


def _constraint_name(table: str, slug: str) -> str:
    return f"{table.rsplit('.', 1)[-1]}_{slug}_key"
