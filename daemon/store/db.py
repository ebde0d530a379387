"""One DuckDB connection shared by the daemon, a cursor per thread, serialized writes.

Why this shape:

- DuckDB lets exactly one process open the file read-write (a second process
  cannot open it at all), so the daemon holds one connection for its lifetime
  and everything else goes through the daemon's API.
- A DuckDB connection object is not safe to use from several threads at once,
  but `connection.cursor()` gives an independent connection to the same
  database. The API, the watcher and the generator run in different threads,
  so each thread lazily gets its own cursor, kept in a `threading.local`.
- DuckDB's transactions are optimistic: two transactions that touch the same
  row fail at write time with "Conflict on update" instead of waiting. The
  daemon's writes are tiny and rare, so rather than retrying conflicts
  everywhere, every write transaction takes one process-wide lock. That also
  makes `jobs.claim` trivially atomic and makes event ids (from a sequence,
  drawn inside the transaction) commit in increasing order, which is what lets
  an event stream resume from "the last id I saw" without missing anything.
  Plain reads take no lock: DuckDB's MVCC gives them a consistent snapshot.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import duckdb

from daemon.store.errors import StoreError

__all__ = ["Clock", "Database", "naive_utc", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time as a naive UTC datetime, the form every TIMESTAMP column holds.

    Naive UTC (TIMESTAMP rather than TIMESTAMPTZ) because DuckDB's Python client
    needs pytz to hand back TIMESTAMPTZ values, and one time zone is all we need.
    """
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(moment: datetime) -> datetime:
    """`moment` as naive UTC: aware datetimes are converted, naive ones taken as UTC."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


class Database:
    """The connection, the per-thread cursors, the write lock and the clock."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, clock: Clock) -> None:
        self._connection = connection
        self._clock = clock
        self._local = threading.local()
        # Every cursor handed out, with its thread, so close() can close them all
        # and cursors of threads that have ended can be closed instead of piling up.
        self._cursors: list[tuple[threading.Thread, duckdb.DuckDBPyConnection]] = []
        self._cursors_lock = threading.Lock()
        # Re-entrant: a repository method that opens a transaction may be called
        # inside a caller's transaction on the same thread.
        self._write_lock = threading.RLock()
        self._closed = False
        self._commit_listeners: list[Callable[[], None]] = []

    def add_commit_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` after every commit, on the committing thread; returns removal.

        This is how the event stream learns, within a millisecond, that there are
        new rows to send, without polling the table. A listener must be quick
        and must not raise (it runs inside the writer's call).
        """
        self._commit_listeners.append(listener)

        def remove() -> None:
            if listener in self._commit_listeners:
                self._commit_listeners.remove(listener)

        return remove

    def now(self) -> datetime:
        """The injected clock's time, as naive UTC."""
        return naive_utc(self._clock())

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor, created on first use."""
        if self._closed:
            raise StoreError("the store is closed")
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is not None:
            return cursor
        with self._cursors_lock:
            if self._closed:
                raise StoreError("the store is closed")
            self._close_cursors_of_ended_threads()
            cursor = self._connection.cursor()
            self._cursors.append((threading.current_thread(), cursor))
        self._local.cursor = cursor
        self._local.depth = 0
        return cursor

    def _close_cursors_of_ended_threads(self) -> None:
        alive = []
        for thread, cursor in self._cursors:
            if thread.is_alive():
                alive.append((thread, cursor))
            else:
                with contextlib.suppress(duckdb.Error):
                    cursor.close()
        self._cursors = alive

    @property
    def in_transaction(self) -> bool:
        """Whether this thread is inside `transaction()`."""
        return bool(getattr(self._local, "depth", 0))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """BEGIN … COMMIT on this thread's cursor; ROLLBACK if the block raises.

        Nested use joins the outer transaction (DuckDB has no savepoints), so a
        repository method called inside a caller's transaction commits or rolls
        back with it. An error raised by DuckDB inside a nested block aborts the
        whole outer transaction.
        """
        cursor = self.cursor()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield cursor
            finally:
                self._local.depth -= 1
            return
        with self._write_lock:
            cursor.execute("BEGIN TRANSACTION")
            self._local.depth = 1
            try:
                yield cursor
            except BaseException:
                self._local.depth = 0
                with contextlib.suppress(duckdb.Error):
                    cursor.execute("ROLLBACK")
                raise
            self._local.depth = 0
            try:
                cursor.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    cursor.execute("ROLLBACK")
                raise
        for listener in list(self._commit_listeners):
            listener()

    def close(self) -> None:
        """Close every cursor, then the connection (DuckDB checkpoints the WAL on close)."""
        with self._cursors_lock:
            if self._closed:
                return
            self._closed = True
            for _thread, cursor in self._cursors:
                with contextlib.suppress(duckdb.Error):
                    cursor.close()
            self._cursors = []
        self._connection.close()
