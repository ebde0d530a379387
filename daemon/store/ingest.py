"""The ingest_attempts table: which task files are being parsed right now.

The daemon records that it is about to parse a file before it parses it, and
removes the record in the transaction that stores the outcome. A record that
survives a restart therefore names a parse the daemon did not survive. Parsed
in a batch, such a file is only a suspect (any file of the batch may have been
the culprit), so it is parsed again alone (`solo`); a solo record that survives
a restart convicts the file, which is then refused instead of retried forever.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from daemon.store.db import Database

__all__ = ["IngestAttempt", "IngestAttemptsRepository"]


@dataclass(frozen=True, slots=True)
class IngestAttempt:
    sha256: str
    file_name: str
    solo: bool
    started_at: datetime


class IngestAttemptsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def find(self, shas: Collection[str]) -> dict[str, IngestAttempt]:
        """The unfinished attempts among `shas`, by sha."""
        if not shas:
            return {}
        rows = (
            self._db.cursor()
            .execute(
                "SELECT sha256, file_name, solo, started_at FROM ingest_attempts"
                " WHERE list_contains(?::VARCHAR[], sha256)",
                [list(shas)],
            )
            .fetchall()
        )
        return {row[0]: IngestAttempt(*row) for row in rows}

    def begin(self, files: Iterable[tuple[str, str]], *, solo: bool) -> None:
        """Record (sha256, file name) pairs as being parsed, committed before parsing.

        A sha already recorded (a suspect from an earlier batch) is updated in
        place: deleting and re-inserting a key in one transaction trips DuckDB's
        unique check.
        """
        wanted = dict(files)  # de-duplicated: one row per sha
        if not wanted:
            return
        with self._db.transaction() as cursor:
            known = list(self.find(list(wanted)))
            fresh = [sha for sha in wanted if sha not in set(known)]
            now = self._db.now()
            if known:
                cursor.execute(
                    "UPDATE ingest_attempts SET solo = ?, started_at = ?"
                    " WHERE list_contains(?::VARCHAR[], sha256)",
                    [solo, now, known],
                )
            if fresh:
                cursor.execute(
                    "INSERT INTO ingest_attempts (sha256, file_name, solo, started_at)"
                    " SELECT UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]), ?, ?",
                    [fresh, [wanted[sha] for sha in fresh], solo, now],
                )

    def finish(self, shas: Collection[str]) -> None:
        """Forget the attempts: call inside the transaction that stores their outcome."""
        if not shas:
            return
        with self._db.transaction() as cursor:
            cursor.execute(
                "DELETE FROM ingest_attempts WHERE list_contains(?::VARCHAR[], sha256)",
                [list(shas)],
            )

    def all(self) -> list[IngestAttempt]:
        rows = (
            self._db.cursor()
            .execute("SELECT sha256, file_name, solo, started_at FROM ingest_attempts")
            .fetchall()
        )
        return [IngestAttempt(*row) for row in rows]
