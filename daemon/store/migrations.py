"""The schema, as an ordered list of versioned migrations applied when the store opens.

To change the schema, append a `Migration` with the next version number to
`MIGRATIONS`; never edit or reorder one that has shipped, since databases in
the field already ran it. Each migration runs in its own transaction together
with the row that records it in `schema_migrations`, so a crash mid-migration
leaves the database at the previous version, not half-way.

Rules every migration follows, and why:

- No FOREIGN KEYs. DuckDB raises spurious duplicate-key errors when a row that a
  foreign key references is updated, and tasks are updated all the time. The
  repositories check references themselves (e.g. a variation's task exists).
- No index on a column that is ever UPDATEd, for the same reason: DuckDB turns
  such an update into delete + insert and can trip over its own unique index.
  PRIMARY KEY / UNIQUE columns here are written once and never changed. The
  tables stay small (thousands of rows), so scans with DuckDB's automatic
  min-max indexes are fast enough without secondary indexes.
- Timestamps are TIMESTAMP holding naive UTC (TIMESTAMPTZ needs pytz in Python).
- Ids that are not natural keys come from sequences, drawn inside the writing
  transaction (see db.py for why that keeps event ids in commit order).
- `at` is a keyword in DuckDB's grammar, so the events column is always quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from daemon.store.db import Database
from daemon.store.errors import StoreError

__all__ = ["MIGRATIONS", "Migration", "apply_migrations", "latest_version"]


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: a version number and the statements that take us there."""

    version: int
    description: str
    statements: tuple[str, ...]


_V1_INITIAL = Migration(
    1,
    "tasks, variations, jobs, posts, events",
    (
        """
        CREATE TABLE tasks (
            id VARCHAR PRIMARY KEY,
            title VARCHAR NOT NULL,
            prompt VARCHAR NOT NULL,
            negative_prompt VARCHAR NOT NULL DEFAULT '',
            content VARCHAR NOT NULL DEFAULT '',
            variations INTEGER NOT NULL,
            steps INTEGER NOT NULL,
            guidance_scale DOUBLE NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            seed BIGINT,
            status VARCHAR NOT NULL,
            error VARCHAR,
            source_file VARCHAR,
            source_sha256 VARCHAR,
            post_id BIGINT,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        )
        """,
        """
        CREATE TABLE variations (
            task_id VARCHAR NOT NULL,
            idx INTEGER NOT NULL,
            path VARCHAR NOT NULL,
            thumbnail VARCHAR,
            seed BIGINT NOT NULL,
            prompt VARCHAR NOT NULL,
            negative_prompt VARCHAR NOT NULL DEFAULT '',
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            steps INTEGER NOT NULL,
            guidance_scale DOUBLE NOT NULL,
            model VARCHAR NOT NULL,
            selected BOOLEAN NOT NULL DEFAULT false,
            removed_at TIMESTAMP,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (task_id, idx)
        )
        """,
        "CREATE SEQUENCE jobs_id_seq START 1",
        """
        CREATE TABLE jobs (
            id BIGINT PRIMARY KEY DEFAULT nextval('jobs_id_seq'),
            kind VARCHAR NOT NULL,
            task_id VARCHAR,
            payload VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL,
            last_error VARCHAR,
            run_after TIMESTAMP NOT NULL,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        )
        """,
        "CREATE SEQUENCE posts_id_seq START 1",
        """
        CREATE TABLE posts (
            id BIGINT PRIMARY KEY DEFAULT nextval('posts_id_seq'),
            task_id VARCHAR NOT NULL UNIQUE,
            slug VARCHAR NOT NULL UNIQUE,
            title VARCHAR NOT NULL,
            content VARCHAR NOT NULL,
            featured_image_url VARCHAR NOT NULL,
            asset_id VARCHAR,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        )
        """,
        "CREATE SEQUENCE events_id_seq START 1",
        """
        CREATE TABLE events (
            id BIGINT PRIMARY KEY DEFAULT nextval('events_id_seq'),
            task_id VARCHAR,
            kind VARCHAR NOT NULL,
            from_status VARCHAR,
            to_status VARCHAR,
            actor VARCHAR,
            detail VARCHAR,
            "at" TIMESTAMP NOT NULL
        )
        """,
    ),
)

_V2_INGEST_ATTEMPTS = Migration(
    2,
    "ingest attempts: task files whose parsing has started but not committed",
    (
        # A row exists only while a file is being parsed; it is deleted in the
        # transaction that records the outcome. A row found at start-up is a
        # parse the daemon did not survive (see daemon/intake/ingest.py).
        """
        CREATE TABLE ingest_attempts (
            sha256 VARCHAR PRIMARY KEY,
            file_name VARCHAR NOT NULL,
            solo BOOLEAN NOT NULL,
            started_at TIMESTAMP NOT NULL
        )
        """,
    ),
)

_V3_POST_DESTINATIONS = Migration(
    3,
    "posts: where each went (publishing.posts.to); post intents",
    (
        # A slug is unique per destination, not across them: the same title may
        # be published once to gladtui's own table and, after a switch of
        # `publishing.posts.to`, once to the blog. DuckDB cannot change a
        # constraint in place, so the table is rebuilt (ids kept; tasks.post_id
        # still points at them). `slug` comes first in the UNIQUE so that a
        # duplicate-key message names it (see errors.duplicate_key_column).
        """
        CREATE TABLE posts_v3 (
            id BIGINT PRIMARY KEY DEFAULT nextval('posts_id_seq'),
            task_id VARCHAR NOT NULL UNIQUE,
            slug VARCHAR NOT NULL,
            title VARCHAR NOT NULL,
            content VARCHAR NOT NULL,
            featured_image_url VARCHAR NOT NULL,
            asset_id VARCHAR,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            destination VARCHAR NOT NULL,
            location VARCHAR,
            UNIQUE (slug, destination)
        )
        """,
        """
        INSERT INTO posts_v3 SELECT id, task_id, slug, title, content, featured_image_url,
            asset_id, created_at, updated_at, 'local', NULL FROM posts
        """,
        "DROP TABLE posts",
        "ALTER TABLE posts_v3 RENAME TO posts",
        # A row exists from just before a post is written to an outside
        # destination until the transaction that records it: one found at
        # start-up is a write the daemon may not have survived, to look for
        # (by slug and image URL) before writing again. See daemon/publishing/placing.py.
        """
        CREATE TABLE post_intents (
            task_id VARCHAR PRIMARY KEY,
            destination VARCHAR NOT NULL,
            slug VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            outcome VARCHAR NOT NULL,
            image_url VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL
        )
        """,
    ),
)

_V4_GENERATION_SETTINGS = Migration(
    4,
    "samplers, LoRAs, presets and warnings on tasks and variations",
    (
        # tasks: what the task file (with its preset and the config) asked for.
        "ALTER TABLE tasks ADD COLUMN scheduler VARCHAR",  # NULL: the model's own
        "ALTER TABLE tasks ADD COLUMN loras VARCHAR NOT NULL DEFAULT '{}'",  # JSON {name: weight}
        # the LoRAs the task file itself named: kept when another preset re-renders it
        "ALTER TABLE tasks ADD COLUMN file_loras VARCHAR NOT NULL DEFAULT '{}'",
        "ALTER TABLE tasks ADD COLUMN preset VARCHAR",
        # JSON list of what the last generation could not do as asked (a capped prompt)
        "ALTER TABLE tasks ADD COLUMN warnings VARCHAR NOT NULL DEFAULT '[]'",
        # variations: what each image was made with (a final render differs from its draft)
        "ALTER TABLE variations ADD COLUMN scheduler VARCHAR",
        "ALTER TABLE variations ADD COLUMN sampler VARCHAR",  # as A1111 names it: Euler a
        "ALTER TABLE variations ADD COLUMN loras VARCHAR NOT NULL DEFAULT '{}'",
        "ALTER TABLE variations ADD COLUMN preset VARCHAR",
        "ALTER TABLE variations ADD COLUMN from_variation INTEGER",  # the seed's source
    ),
)

_V5_REMOVALS = Migration(
    5,
    "variations: a file's deletion recorded before it happens",
    (
        # Set in the transaction that decides a file goes (a rejection, retention,
        # delete_local_after_publish); removed_at is set once it is gone. A row with
        # the one and not the other is a deletion a stop interrupted: the next start
        # finishes it (daemon/publishing/cleanup.py). 'image': the PNG only (its thumbnail
        # stays, after publishing); 'image_and_thumbnail': both.
        "ALTER TABLE variations ADD COLUMN removing VARCHAR",
    ),
)

_V6_IMAGE_TEXT = Migration(
    6,
    "tasks: the image's alt text, caption and focus",
    (
        "ALTER TABLE tasks ADD COLUMN alt VARCHAR NOT NULL DEFAULT ''",  # '': from the title
        "ALTER TABLE tasks ADD COLUMN caption VARCHAR NOT NULL DEFAULT ''",
        "ALTER TABLE tasks ADD COLUMN focus VARCHAR",  # JSON [x, y] in 0..1; NULL: the centre
    ),
)

_V7_REJECT_REASONS = Migration(
    7,
    "variations: what a rejection's reasons added to the round that made them",
    (
        # JSON {"reasons": [...], "prompt": "...", "negative_prompt": "..."}: the words
        # the reasons added (both prompts columns include them); NULL: no reasons
        "ALTER TABLE variations ADD COLUMN additions VARCHAR",
    ),
)

# Append new migrations here, versions strictly increasing by one.
MIGRATIONS: tuple[Migration, ...] = (
    _V1_INITIAL,
    _V2_INGEST_ATTEMPTS,
    _V3_POST_DESTINATIONS,
    _V4_GENERATION_SETTINGS,
    _V5_REMOVALS,
    _V6_IMAGE_TEXT,
    _V7_REJECT_REASONS,
)


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """The schema version this code produces."""
    return migrations[-1].version if migrations else 0


def _check_sequence(migrations: Sequence[Migration]) -> None:
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise StoreError(
                f"migration list is out of order: found version {migration.version} "
                f"at position {expected}"
            )


_check_sequence(MIGRATIONS)


def applied_versions(db: Database) -> list[int]:
    """The versions recorded in `schema_migrations`, ascending."""
    rows = db.cursor().execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [int(row[0]) for row in rows]


def apply_migrations(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Bring the database up to the last of `migrations`; return the versions applied now.

    Refuses (StoreError) a database written by newer code, whose schema this
    code does not know, rather than running against it and corrupting it.
    """
    _check_sequence(migrations)
    with db.transaction() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
        )
    applied = applied_versions(db)
    known = latest_version(migrations)
    if applied and applied[-1] > known:
        raise StoreError(
            f"the database is at schema version {applied[-1]}, but this gladtui only knows "
            f"versions up to {known}: it was written by a newer gladtui; upgrade gladtui "
            "(the database was left untouched)"
        )
    if applied != list(range(1, len(applied) + 1)):
        raise StoreError(f"schema_migrations is inconsistent: versions {applied} have gaps")
    done: list[int] = []
    for migration in migrations[len(applied) :]:
        try:
            with db.transaction() as cursor:
                for statement in migration.statements:
                    cursor.execute(statement)
                cursor.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    [migration.version, db.now()],
                )
        except duckdb.Error as exc:
            raise StoreError(
                f"schema migration {migration.version} ({migration.description}) failed: {exc}"
            ) from exc
        done.append(migration.version)
    return done
