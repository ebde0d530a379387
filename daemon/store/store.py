"""`Store`: the daemon's DuckDB database, opened, migrated, and split into repositories."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import duckdb

from daemon.store.db import Clock, Database, utc_now
from daemon.store.errors import StoreError
from daemon.store.events import EventsRepository
from daemon.store.ingest import IngestAttemptsRepository
from daemon.store.intents import PostIntentsRepository
from daemon.store.jobs import JobsRepository
from daemon.store.migrations import MIGRATIONS, Migration, apply_migrations
from daemon.store.posts import PostsRepository
from daemon.store.records import AppliedMigration
from daemon.store.stats import StatsRepository
from daemon.store.tasks import TasksRepository
from daemon.store.variations import VariationsRepository
from gladtui.closing import Closing
from gladtui.filemodes import PRIVATE_FILE, make_folders

__all__ = ["Store"]


class Store(Closing["Store"]):
    """The database of one daemon. Open with `Store.open(path)`; close, or use `with`.

    Thread-safe: each thread uses its own cursor (db.py). The repositories share
    the one connection: `tasks`, `variations`, `jobs`, `posts`, `events`,
    `ingest_attempts`, `post_intents`.
    """

    def __init__(self, db: Database, path: Path) -> None:
        self._db = db
        self.path = path
        self.events = EventsRepository(db)
        self.tasks = TasksRepository(db, self.events)
        self.variations = VariationsRepository(db)
        self.jobs = JobsRepository(db, self.tasks)
        self.posts = PostsRepository(db)
        self.ingest_attempts = IngestAttemptsRepository(db)
        self.post_intents = PostIntentsRepository(db)
        self.stats = StatsRepository(db)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        clock: Clock = utc_now,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> Store:
        """Open (creating if needed) the database at `path` and migrate it.

        `clock` gives every timestamp the store writes (naive UTC; tests inject
        their own). `migrations` is for tests and tools; the daemon uses the default.
        StoreError if the file is held by another process, is not a DuckDB
        database, or was written by a newer gladtui. A `.wal` file beside the
        database holds committed work that is replayed here: never delete it.
        """
        path = Path(path)
        make_folders(path.parent)
        created = not path.exists()
        try:
            connection = duckdb.connect(str(path))
        except duckdb.Error as exc:
            raise StoreError(
                f"cannot open the database {path}: {exc}. If another gladtui daemon is "
                "running, stop it first; do not delete the .wal file, it holds committed work"
            ) from exc
        if created:
            # DuckDB creates it by the umask; it holds every title and prompt. Its
            # .wal comes and goes with checkpoints: the daemon's umask covers that
            # (daemon/service/process.py main), the private state folder in any case.
            path.chmod(PRIVATE_FILE)
        db = Database(connection, clock)
        try:
            apply_migrations(db, migrations)
        except BaseException:
            db.close()
            raise
        return cls(db, path)

    def close(self) -> None:
        """Close the connection; DuckDB folds the WAL into the database file on close."""
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several repository calls into one transaction on this thread.

        Repository methods called inside join it, so they commit together or not
        at all; an exception leaving the block rolls everything back.
        """
        with self._db.transaction():
            yield

    def add_commit_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` after each commit (see Database.add_commit_listener)."""
        return self._db.add_commit_listener(listener)

    def now(self) -> datetime:
        """The store's clock (naive UTC): the time every row it writes carries."""
        return self._db.now()

    def migrations_applied(self) -> list[AppliedMigration]:
        """The rows of `schema_migrations`, oldest first."""
        rows = (
            self._db.cursor()
            .execute("SELECT version, applied_at FROM schema_migrations ORDER BY version")
            .fetchall()
        )
        return [AppliedMigration(int(version), applied_at) for version, applied_at in rows]
