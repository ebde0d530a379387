"""The events table: the append-only audit trail and the source of the live event stream.

Every task status change is a row here (written by the tasks repository in the
same transaction as the change), and other parts add their own kinds
(variation added, publish result, …). Rows are never updated or deleted, which
is also why this table is safe to read by ascending id: see db.py for why ids
commit in increasing order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from daemon.store.db import Database
from daemon.store.records import EventRecord, column_list, dump_json
from gladtui.shapes import TaskStatus

__all__ = ["EventsRepository"]

"""Kind of the event written when a task is created (`to_status` is its first status)."""
"""Kind of the event written by every `tasks.set_status` (`from_status` → `to_status`)."""

_COLUMNS = column_list(EventRecord)
_INSERT = (
    'INSERT INTO events (task_id, kind, from_status, to_status, actor, detail, "at") '
    f"VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}"
)


class EventsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        kind: str,
        task_id: str | None = None,
        *,
        actor: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> EventRecord:
        """Append one event (kinds other than status changes, which `tasks` writes)."""
        return self.record(kind, task_id, actor=actor, detail=detail)

    def record(
        self,
        kind: str,
        task_id: str | None,
        *,
        from_status: TaskStatus | None = None,
        to_status: TaskStatus | None = None,
        actor: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> EventRecord:
        """Append an event with statuses; joins the caller's transaction when there is one."""
        params = [
            task_id,
            kind,
            None if from_status is None else str(from_status),
            None if to_status is None else str(to_status),
            actor,
            dump_json(detail),
            self._db.now(),
        ]
        with self._db.transaction() as cursor:
            row = cursor.execute(_INSERT, params).fetchone()
        assert row is not None  # INSERT … RETURNING always returns the row
        return EventRecord.from_row(row)

    def record_many(
        self,
        kind: str,
        task_ids: Sequence[str],
        *,
        to_status: TaskStatus | None = None,
        actor: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """The same event for many tasks in one statement (a burst of created tasks).

        One INSERT of unnested lists: DuckDB's cost is per statement, and a
        statement per row made ingesting thousands of files take seconds.
        """
        if not task_ids:
            return
        with self._db.transaction() as cursor:
            cursor.execute(
                'INSERT INTO events (task_id, kind, from_status, to_status, actor, detail, "at")'
                " SELECT UNNEST(?::VARCHAR[]), ?, NULL, ?, ?, ?, ?",
                [
                    list(task_ids),
                    kind,
                    None if to_status is None else str(to_status),
                    actor,
                    dump_json(detail),
                    self._db.now(),
                ],
            )

    def since(self, event_id: int, limit: int = 500) -> list[EventRecord]:
        """Events with an id greater than `event_id`, ascending: resume a stream from there."""
        rows = (
            self._db.cursor()
            .execute(
                f"SELECT {_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",
                [event_id, limit],
            )
            .fetchall()
        )
        return [EventRecord.from_row(row) for row in rows]

    def for_task(self, task_id: str) -> list[EventRecord]:
        """One task's history, oldest first."""
        rows = (
            self._db.cursor()
            .execute(f"SELECT {_COLUMNS} FROM events WHERE task_id = ? ORDER BY id", [task_id])
            .fetchall()
        )
        return [EventRecord.from_row(row) for row in rows]

    def last_id(self) -> int:
        """The newest event's id, 0 when there is none: where a new stream starts."""
        row = self._db.cursor().execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
        return int(row[0]) if row else 0
