"""The post_intents table: posts about to be written to an outside destination.

Before the publisher writes a post to the blog's database, a folder or a
webhook, it commits here which slug it is about to write, how (create or
update) and with which image URL; the transaction that records the post in
gladtui's own table removes the row. A row that survives a restart is a
write the daemon may not have survived: the publisher looks for that post
at the destination (by slug and image URL) before writing again, so a kill
-9 between the blog's commit and gladtui's never makes a second post.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from daemon.store.db import Database

__all__ = ["PostIntent", "PostIntentsRepository"]

_COLUMNS = "task_id, destination, slug, action, outcome, image_url, started_at"


@dataclass(frozen=True, slots=True)
class PostIntent:
    task_id: str
    destination: str
    slug: str
    action: str  # create | update
    outcome: str  # a SlugOutcome as `recorded` says it: new | suffixed | took_over
    image_url: str
    started_at: datetime


class PostIntentsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, task_id: str) -> PostIntent | None:
        row = (
            self._db.cursor()
            .execute(f"SELECT {_COLUMNS} FROM post_intents WHERE task_id = ?", [task_id])
            .fetchone()
        )
        return PostIntent(*row) if row else None

    def record(
        self,
        task_id: str,
        destination: str,
        slug: str,
        *,
        action: str,
        outcome: str,
        image_url: str,
    ) -> PostIntent:
        """Commit the intent (replacing the task's earlier one) before the write it names.

        Updated in place rather than deleted and re-inserted: doing both to one
        key in a transaction trips DuckDB's unique check.
        """
        now = self._db.now()
        values = [destination, slug, action, outcome, image_url, now]
        with self._db.transaction() as cursor:
            known = cursor.execute(
                "SELECT 1 FROM post_intents WHERE task_id = ?", [task_id]
            ).fetchone()
            if known:
                cursor.execute(
                    "UPDATE post_intents SET destination = ?, slug = ?, action = ?,"
                    " outcome = ?, image_url = ?, started_at = ? WHERE task_id = ?",
                    [*values, task_id],
                )
            else:
                cursor.execute(
                    f"INSERT INTO post_intents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [task_id, *values],
                )
        return PostIntent(task_id, destination, slug, action, outcome, image_url, now)

    def clear(self, task_id: str) -> None:
        """Forget the task's intent: its post is recorded (call inside that transaction)."""
        with self._db.transaction() as cursor:
            cursor.execute("DELETE FROM post_intents WHERE task_id = ?", [task_id])

    def count(self) -> int:
        row = self._db.cursor().execute("SELECT count(*) FROM post_intents").fetchone()
        return int(row[0]) if row else 0
