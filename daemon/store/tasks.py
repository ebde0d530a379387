"""The tasks table: one row per task file accepted (or refused, as an `invalid` task)."""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import duckdb

from daemon.store.db import Database
from daemon.store.errors import (
    DuplicateTaskError,
    NotFoundError,
    StatusConflictError,
    StoreError,
)
from daemon.store.events import EventsRepository
from daemon.store.jobkinds import UNDOABLE_SQL
from daemon.store.records import (
    NewTask,
    TaskRecord,
    TaskSummaryRecord,
    column_list,
    dump_json,
    dump_point,
)
from gladtui.shapes import EventKind, TaskStatus

__all__ = ["TasksRepository", "status_list"]

_COLUMNS = column_list(TaskRecord)
_SELECT = f"SELECT {_COLUMNS} FROM tasks"
# Many rows in one statement: each column is a list parameter, unnested in
# parallel. DuckDB's cost is per statement, so this is what makes a burst of
# thousands of dropped files quick to store.
_INSERT_MANY = (
    "INSERT INTO tasks (id, title, prompt, negative_prompt, content, variations, steps,"
    " guidance_scale, width, height, seed, scheduler, loras, file_loras, preset, alt, caption,"
    " focus, status, error, source_file, source_sha256, post_id, created_at, updated_at)"
    " SELECT UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]),"
    " UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]), UNNEST(?::INTEGER[]), UNNEST(?::INTEGER[]),"
    " UNNEST(?::DOUBLE[]), UNNEST(?::INTEGER[]), UNNEST(?::INTEGER[]), UNNEST(?::BIGINT[]),"
    " UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]),"
    " UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]),"
    " ?, ?, UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]), NULL, ?, ?"
    f" RETURNING {_COLUMNS}"
)
_TASK_COLUMNS = (
    "id", "title", "prompt", "negative_prompt", "content", "variations", "steps",
    "guidance_scale", "width", "height", "seed", "scheduler", "loras", "file_loras", "preset",
    "alt", "caption", "focus",
)  # fmt: skip
_SET_STATUS = (
    f"UPDATE tasks SET status = ?, error = ?, updated_at = ? WHERE id = ? RETURNING {_COLUMNS}"
)
_SET_SEED = f"UPDATE tasks SET seed = ?, updated_at = ? WHERE id = ? RETURNING {_COLUMNS}"
_SET_POST = f"UPDATE tasks SET post_id = ?, updated_at = ? WHERE id = ? RETURNING {_COLUMNS}"
# DuckDB: Duplicate key "id: muffins-001" violates primary key constraint.
_DUPLICATE_ID = re.compile(r'Duplicate key "id: (?P<id>.*)" violates')


def _column(task: NewTask, name: str) -> Any:
    value = getattr(task, name)
    if name == "focus":
        return dump_point(value)
    return dump_json(value) if name in ("loras", "file_loras") else value


def status_list(statuses: TaskStatus | Collection[TaskStatus]) -> list[str]:
    """One status or several, as a list for `list_contains(?, status)`.

    A TaskStatus is itself a str, hence a collection of characters: test it first.
    """
    if isinstance(statuses, str):
        return [str(TaskStatus(statuses))]
    return [str(TaskStatus(status)) for status in statuses]


_ISO = "'%Y-%m-%dT%H:%M:%S.%gZ'"
# One page of tasks, then the variation counts and pending decisions of that page
# only (not of the whole table), in one statement. {where} is a clause from `_filter`.
_SUMMARIES = (
    "WITH page AS (SELECT * FROM tasks{where} ORDER BY created_at DESC, id DESC"
    " LIMIT ? OFFSET ?),"
    " counts AS (SELECT task_id, count(*) FILTER (WHERE removed_at IS NULL) AS present,"
    " max(idx) FILTER (WHERE selected) AS selected FROM variations"
    " WHERE task_id IN (SELECT id FROM page) GROUP BY task_id),"
    f" decisions AS (SELECT task_id, max(run_after) AS due FROM jobs WHERE {UNDOABLE_SQL}"
    " AND task_id IN (SELECT id FROM page) GROUP BY task_id)"
    " SELECT p.id, p.title, p.status, p.prompt, p.negative_prompt, p.variations, p.steps,"
    " p.guidance_scale, p.width, p.height, p.seed, p.error, p.source_file, p.post_id,"
    f" strftime(p.created_at, {_ISO}), strftime(p.updated_at, {_ISO}),"
    f" coalesce(c.present, 0), c.selected, strftime(d.due, {_ISO}),"
    " p.scheduler, p.loras, p.preset, p.warnings"
    " FROM page p LEFT JOIN counts c ON c.task_id = p.id"
    " LEFT JOIN decisions d ON d.task_id = p.id"
    " ORDER BY p.created_at DESC, p.id DESC"
)


def _filter(
    status: TaskStatus | Collection[TaskStatus] | None,
    title_contains: str | None,
    ids: Collection[str] | None = None,
    *,
    undoable: datetime | None = None,
    keep: str | None = None,
) -> tuple[str, list[Any]]:
    """The WHERE clause shared by `list`, `count` and `summaries`, with its parameters.

    `undoable` (now): tasks whose decision can still be undone match as well as `status`.
    `keep`: this task is in the list whatever the filter (the one a reviewer looks at).
    """
    clauses: list[str] = []
    params: list[Any] = []
    if ids is not None:
        clauses.append("list_contains(?::VARCHAR[], id)")
        params.append(list(ids))
    if status is not None:
        either = f" OR id IN (SELECT task_id FROM jobs WHERE {UNDOABLE_SQL})"
        clauses.append(f"(list_contains(?::VARCHAR[], status){either if undoable else ''})")
        params.append(status_list(status))
        if undoable is not None:
            params.append(undoable)
    if title_contains:
        clauses.append("contains(lower(title), lower(?))")
        params.append(title_contains)
    where = " AND ".join(clauses)
    if keep is not None and where:
        where = f"({where}) OR id = ?"
        params.append(keep)
    return (" WHERE " + where if where else ""), params


class TasksRepository:
    def __init__(self, db: Database, events: EventsRepository) -> None:
        self._db = db
        self._events = events

    def _params(
        self, tasks: Collection[NewTask], status: TaskStatus, error: str | None
    ) -> list[Any]:
        now = self._db.now()
        columns: list[Any] = [[_column(t, name) for t in tasks] for name in _TASK_COLUMNS]
        sources = [[t.source_file for t in tasks], [t.source_sha256 for t in tasks]]
        return [*columns, str(TaskStatus(status)), error, *sources, now, now]

    def create(
        self,
        task: NewTask,
        *,
        status: TaskStatus = TaskStatus.QUEUED,
        error: str | None = None,
        actor: str | None = None,
    ) -> TaskRecord:
        """Insert a task and its `created` event; DuplicateTaskError if the id exists."""
        return self.create_many([task], status=status, error=error, actor=actor)[0]

    def create_many(
        self,
        tasks: Collection[NewTask],
        *,
        status: TaskStatus = TaskStatus.QUEUED,
        error: str | None = None,
        actor: str | None = None,
    ) -> list[TaskRecord]:
        """Insert several tasks in one transaction (ingest speed); all or none.

        DuplicateTaskError names the first id that exists already or repeats in `tasks`.
        """
        seen: set[str] = set()
        for task in tasks:
            if task.id in seen:
                raise DuplicateTaskError(task.id)
            seen.add(task.id)
        if not tasks:
            return []
        detail = {"error": error} if error is not None else None
        ids = [task.id for task in tasks]
        try:
            with self._db.transaction() as cursor:
                rows = cursor.execute(_INSERT_MANY, self._params(tasks, status, error)).fetchall()
                self._events.record_many(
                    EventKind.CREATED, ids, to_status=status, actor=actor, detail=detail
                )
        except duckdb.ConstraintException as exc:
            raise self._translate(exc, ids) from exc
        by_id = {record.id: record for record in map(TaskRecord.from_row, rows)}
        return [by_id[task_id] for task_id in ids]

    def _translate(self, exc: duckdb.ConstraintException, ids: list[str]) -> StoreError:
        message = str(exc)
        match = _DUPLICATE_ID.search(message)
        if match and match.group("id") in ids:
            return DuplicateTaskError(match.group("id"))
        if not self._db.in_transaction:  # the message format changed: ask the table
            for task_id in ids:
                if self.id_exists(task_id):
                    return DuplicateTaskError(task_id)
        return StoreError(f"cannot create task: {message}")

    def get(self, task_id: str) -> TaskRecord | None:
        row = self._db.cursor().execute(f"{_SELECT} WHERE id = ?", [task_id]).fetchone()
        return TaskRecord.from_row(row) if row else None

    def _require(self, task_id: str) -> TaskRecord:
        record = self.get(task_id)
        if record is None:
            raise NotFoundError(f"no task {task_id!r}")
        return record

    def by_sha256(self, shas: Collection[str]) -> dict[str, TaskRecord]:
        """For each sha among `shas` that made a task, the first task it made."""
        if not shas:
            return {}
        rows = (
            self._db.cursor()
            .execute(
                f"{_SELECT} WHERE list_contains(?::VARCHAR[], source_sha256)"
                " ORDER BY created_at DESC, id DESC",
                [list(shas)],
            )
            .fetchall()
        )
        found = {}
        for row in rows:  # newest first, so the oldest task of each sha is written last
            record = TaskRecord.from_row(row)
            assert record.source_sha256 is not None
            found[record.source_sha256] = record
        return found

    def existing_ids(self, ids: Collection[str]) -> set[str]:
        """Those of `ids` that are taken, in one query (ingest checks thousands at once)."""
        if not ids:
            return set()
        rows = (
            self._db.cursor()
            .execute("SELECT id FROM tasks WHERE list_contains(?::VARCHAR[], id)", [list(ids)])
            .fetchall()
        )
        return {row[0] for row in rows}

    def id_exists(self, task_id: str) -> bool:
        row = self._db.cursor().execute("SELECT 1 FROM tasks WHERE id = ?", [task_id]).fetchone()
        return row is not None

    def list(
        self,
        status: TaskStatus | Collection[TaskStatus] | None = None,
        limit: int | None = None,
        offset: int = 0,
        *,
        title_contains: str | None = None,
    ) -> list[TaskRecord]:
        """Tasks newest first, optionally only those in `status` (one or several)
        and whose title contains `title_contains` (case-insensitive)."""
        where, params = _filter(status, title_contains)
        sql = f"{_SELECT}{where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        rows = self._db.cursor().execute(sql, [*params, limit, offset]).fetchall()
        return [TaskRecord.from_row(row) for row in rows]

    def count(
        self,
        status: TaskStatus | Collection[TaskStatus] | None = None,
        *,
        title_contains: str | None = None,
        undoable: bool = False,
        keep: str | None = None,
    ) -> int:
        """How many tasks `summaries` would return over all its pages."""
        now = self._db.now() if undoable else None
        where, params = _filter(status, title_contains, undoable=now, keep=keep)
        row = self._db.cursor().execute(f"SELECT count(*) FROM tasks{where}", params).fetchone()
        return int(row[0]) if row else 0

    def summaries(
        self,
        status: TaskStatus | Collection[TaskStatus] | None = None,
        limit: int | None = None,
        offset: int = 0,
        *,
        title_contains: str | None = None,
        ids: Collection[str] | None = None,
        undoable: bool = False,
        keep: str | None = None,
    ) -> builtins.list[TaskSummaryRecord]:
        """What `list` returns, as summaries with variation counts, in one query.

        `ids` restricts it to those tasks (the event stream's tasks, one task's detail);
        `undoable` and `keep` widen the filter (see `_filter`).
        """
        now = self._db.now()
        where, params = _filter(
            status, title_contains, ids, undoable=now if undoable else None, keep=keep
        )
        rows = (
            self._db.cursor()
            .execute(_SUMMARIES.format(where=where), [*params, limit, offset, now])
            .fetchall()
        )
        return [TaskSummaryRecord.from_row(row) for row in rows]

    def count_by_status(self) -> dict[TaskStatus, int]:
        """How many tasks are in each status; every status is present, zero included."""
        counts = dict.fromkeys(TaskStatus, 0)
        rows = self._db.cursor().execute("SELECT status, count(*) FROM tasks GROUP BY status")
        for status, count in rows.fetchall():
            counts[TaskStatus(status)] = int(count)
        return counts

    def set_status(
        self,
        task_id: str,
        new: TaskStatus,
        *,
        error: str | None = None,
        actor: str | None = None,
        detail: Mapping[str, Any] | None = None,
        expected: TaskStatus | Collection[TaskStatus] | None = None,
    ) -> TaskRecord:
        """Move a task to `new` and record the transition as an event, in one transaction.

        `error` replaces the task's error (None clears it) and is copied into the
        event's detail. With `expected`, the change happens only if the current
        status is one of those, else StatusConflictError (a compare-and-set, so
        two actors racing on a task cannot both win).
        """
        new = TaskStatus(new)
        with self._db.transaction() as cursor:
            current = self._require(task_id).status
            if expected is not None:
                allowed = status_list(expected)
                if current not in allowed:
                    raise StatusConflictError(task_id, current, allowed, new)
            row = cursor.execute(_SET_STATUS, [str(new), error, self._db.now(), task_id]).fetchone()
            assert row is not None  # the row exists: we just read it under the write lock
            event_detail = dict(detail or {})
            if error is not None:
                event_detail.setdefault("error", error)
            self._events.record(
                EventKind.STATUS_CHANGED,
                task_id,
                from_status=current,
                to_status=new,
                actor=actor,
                detail=event_detail or None,
            )
        return TaskRecord.from_row(row)

    def _update_one(self, sql: str, value: Any, task_id: str) -> TaskRecord:
        with self._db.transaction() as cursor:
            row = cursor.execute(sql, [value, self._db.now(), task_id]).fetchone()
        if row is None:
            raise NotFoundError(f"no task {task_id!r}")
        return TaskRecord.from_row(row)

    def set_seed(self, task_id: str, seed: int | None) -> TaskRecord:
        """Record the base seed (chosen at first generation when the task gave none)."""
        return self._update_one(_SET_SEED, seed, task_id)

    def set_generation(
        self,
        task_id: str,
        *,
        prompt: str | None = None,
        steps: int | None = None,
        negative_prompt: str | None = None,
    ) -> TaskRecord:
        """Change the prompts and/or steps that the task's next variations use."""
        with self._db.transaction() as cursor:
            row = cursor.execute(
                "UPDATE tasks SET prompt = coalesce(?, prompt), steps = coalesce(?, steps),"
                " negative_prompt = coalesce(?, negative_prompt),"
                f" updated_at = ? WHERE id = ? RETURNING {_COLUMNS}",
                [prompt, steps, negative_prompt, self._db.now(), task_id],
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no task {task_id!r}")
        return TaskRecord.from_row(row)

    def set_warnings(self, task_id: str, warnings: builtins.list[str]) -> TaskRecord:
        """What the latest generation could not do as asked (replaces the previous list)."""
        with self._db.transaction() as cursor:
            row = cursor.execute(
                f"UPDATE tasks SET warnings = ?, updated_at = ? WHERE id = ? RETURNING {_COLUMNS}",
                [json.dumps(warnings, ensure_ascii=False), self._db.now(), task_id],
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no task {task_id!r}")
        return TaskRecord.from_row(row)

    def set_post(self, task_id: str, post_id: int | None) -> TaskRecord:
        """Link the task to the post its approval produced."""
        return self._update_one(_SET_POST, post_id, task_id)
