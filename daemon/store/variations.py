"""The variations table: the generated images of each task, numbered 1, 2, 3, … for good.

An index is never reused, even after its file is deleted (`removed_at`), so
"variation 2" means the same image in the TUI, the CLI, the events and the
file name for the task's whole life.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

import duckdb

from daemon.store.db import Database
from daemon.store.errors import DuplicateVariationError, NotFoundError, StoreError
from daemon.store.records import (
    REMOVE_IMAGE,
    REMOVE_IMAGE_AND_THUMBNAIL,
    NewVariation,
    VariationRecord,
    column_list,
    dump_json,
)

__all__ = ["VariationsRepository"]

_COLUMNS = column_list(VariationRecord)
_SELECT = f"SELECT {_COLUMNS} FROM variations"
_NEW_COLUMNS = (
    "task_id", "idx", "path", "thumbnail", "seed", "prompt", "negative_prompt",
    "width", "height", "steps", "guidance_scale", "model", "scheduler", "sampler", "loras",
    "preset", "from_variation", "additions",
)  # fmt: skip
_INSERT = (
    f"INSERT INTO variations ({', '.join(_NEW_COLUMNS)}, selected, removed_at, created_at)"
    f" VALUES ({', '.join('?' * len(_NEW_COLUMNS))}, false, NULL, ?) RETURNING {_COLUMNS}"
)
# One statement for many rows: each column a list parameter, unnested in parallel.
_INSERT_MANY = (
    f"INSERT INTO variations ({', '.join(_NEW_COLUMNS)}, selected, removed_at, created_at)"
    " SELECT UNNEST(?::VARCHAR[]), UNNEST(?::INTEGER[]), UNNEST(?::VARCHAR[]),"
    " UNNEST(?::VARCHAR[]), UNNEST(?::BIGINT[]), UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]),"
    " UNNEST(?::INTEGER[]), UNNEST(?::INTEGER[]), UNNEST(?::INTEGER[]), UNNEST(?::DOUBLE[]),"
    " UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]),"
    " UNNEST(?::VARCHAR[]), UNNEST(?::INTEGER[]), UNNEST(?::VARCHAR[]), false, NULL, ?"
)


def _column(variation: NewVariation, name: str) -> Any:
    value = getattr(variation, name)
    return dump_json(value) if name in ("loras", "additions") else value


class VariationsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, variation: NewVariation) -> VariationRecord:
        """Record a generated image under its explicit index (see `next_index`).

        The task must exist (there is no foreign key to say so; see migrations.py).
        """
        if variation.idx < 1:
            raise ValueError(f"variation indexes start at 1, got {variation.idx}")
        params = [*(_column(variation, name) for name in _NEW_COLUMNS), self._db.now()]
        try:
            with self._db.transaction() as cursor:
                exists = cursor.execute(
                    "SELECT 1 FROM tasks WHERE id = ?", [variation.task_id]
                ).fetchone()
                if exists is None:
                    raise NotFoundError(f"no task {variation.task_id!r} to add a variation to")
                row = cursor.execute(_INSERT, params).fetchone()
        except duckdb.ConstraintException as exc:
            if "Duplicate key" in str(exc):
                raise DuplicateVariationError(variation.task_id, variation.idx) from exc
            raise StoreError(f"cannot add variation: {exc}") from exc
        assert row is not None  # INSERT … RETURNING always returns the row
        return VariationRecord.from_row(row)

    def add_many(self, variations: Iterable[NewVariation]) -> None:
        """Record several images in one statement (a batch of the generator; bulk loads).

        The same rules as `add`: indexes from 1, each task must exist, a taken
        (task, index) is DuplicateVariationError and nothing is stored.
        """
        rows = list(variations)
        if not rows:
            return
        if min(v.idx for v in rows) < 1:
            raise ValueError("variation indexes start at 1")
        columns = [[_column(v, name) for v in rows] for name in _NEW_COLUMNS]
        task_ids = sorted({v.task_id for v in rows})
        try:
            with self._db.transaction() as cursor:
                found = cursor.execute(
                    "SELECT count(*) FROM tasks WHERE list_contains(?::VARCHAR[], id)", [task_ids]
                ).fetchone()
                if found is None or found[0] != len(task_ids):
                    raise NotFoundError("some of the tasks to add variations to do not exist")
                cursor.execute(_INSERT_MANY, [*columns, self._db.now()])
        except duckdb.ConstraintException as exc:
            if "Duplicate key" in str(exc):
                raise DuplicateVariationError(rows[0].task_id, rows[0].idx) from exc
            raise StoreError(f"cannot add variations: {exc}") from exc

    def next_index(self, task_id: str) -> int:
        """The index the next variation of this task gets: one past the highest ever used."""
        row = (
            self._db.cursor()
            .execute(
                "SELECT coalesce(max(idx), 0) + 1 FROM variations WHERE task_id = ?", [task_id]
            )
            .fetchone()
        )
        return int(row[0]) if row else 1

    def get(self, task_id: str, idx: int) -> VariationRecord | None:
        row = (
            self._db.cursor()
            .execute(f"{_SELECT} WHERE task_id = ? AND idx = ?", [task_id, idx])
            .fetchone()
        )
        return VariationRecord.from_row(row) if row else None

    def list(self, task_id: str, include_removed: bool = False) -> list[VariationRecord]:
        """A task's variations by index; those whose file was deleted only if asked."""
        sql = f"{_SELECT} WHERE task_id = ?"
        if not include_removed:
            sql += " AND removed_at IS NULL"
        rows = self._db.cursor().execute(sql + " ORDER BY idx", [task_id]).fetchall()
        return [VariationRecord.from_row(row) for row in rows]

    def expired(
        self, before: datetime, statuses: Collection[str]
    ) -> builtins.list[VariationRecord]:
        """Variations made before `before` whose file is still there, of tasks in `statuses`."""
        rows = (
            self._db.cursor()
            .execute(
                f"SELECT {column_list(VariationRecord, 'v')} FROM variations v"
                " JOIN tasks t ON t.id = v.task_id"
                " WHERE v.removed_at IS NULL AND v.created_at < ?"
                " AND list_contains(?::VARCHAR[], t.status) ORDER BY v.task_id, v.idx",
                [before, [str(s) for s in statuses]],
            )
            .fetchall()
        )
        return [VariationRecord.from_row(row) for row in rows]

    def select(self, task_id: str, idx: int) -> VariationRecord:
        """Make variation `idx` the task's one selected image, in one transaction.

        NotFoundError if the task has no such variation, or its file was deleted
        (a removed image cannot be approved: there is nothing left to upload).
        """
        with self._db.transaction() as cursor:
            current = self.get(task_id, idx)
            if current is None:
                raise NotFoundError(f"task {task_id!r} has no variation {idx}")
            if current.removed_at is not None:
                raise NotFoundError(f"variation {idx} of task {task_id!r} was deleted")
            cursor.execute(
                "UPDATE variations SET selected = (idx = ?) WHERE task_id = ?", [idx, task_id]
            )
        selected = self.get(task_id, idx)
        assert selected is not None
        return selected

    def restore_selection(self, task_id: str, idx: int | None) -> None:
        """Put back the selection a decision replaced: variation `idx`, or none."""
        with self._db.transaction() as cursor:
            cursor.execute(
                "UPDATE variations SET selected = coalesce(idx = ?, false) WHERE task_id = ?",
                [idx, task_id],
            )

    def set_thumbnail(self, task_id: str, idx: int, thumbnail: str | None) -> VariationRecord:
        with self._db.transaction() as cursor:
            row = cursor.execute(
                f"UPDATE variations SET thumbnail = ? WHERE task_id = ? AND idx = ?"
                f" RETURNING {_COLUMNS}",
                [thumbnail, task_id, idx],
            ).fetchone()
        if row is None:
            raise NotFoundError(f"task {task_id!r} has no variation {idx}")
        return VariationRecord.from_row(row)

    def request_removal(
        self, task_id: str, idxs: Iterable[int], *, thumbnails: bool = True
    ) -> builtins.list[VariationRecord]:
        """Record that these variations' files are to be deleted; return those now marked.

        Called in the transaction that decides it (a rejection taking effect), so
        the decision and the deletion still to do commit together: a stop before
        the files are gone leaves rows that say so (`awaiting_removal`). Removed
        or already marked indexes are skipped. `thumbnails`: the thumbnail goes too.
        """
        wanted = sorted(set(idxs))
        if not wanted:
            return []
        what = REMOVE_IMAGE_AND_THUMBNAIL if thumbnails else REMOVE_IMAGE
        with self._db.transaction() as cursor:
            rows = cursor.execute(
                "UPDATE variations SET removing = ?"
                " WHERE task_id = ? AND list_contains(?::INTEGER[], idx)"
                f" AND removed_at IS NULL AND removing IS NULL RETURNING {_COLUMNS}",
                [what, task_id, wanted],
            ).fetchall()
        return sorted((VariationRecord.from_row(row) for row in rows), key=lambda v: v.idx)

    def awaiting_removal(self, task_id: str | None = None) -> builtins.list[VariationRecord]:
        """Variations whose deletion was decided and not yet recorded done (of one task)."""
        rows = (
            self._db.cursor()
            .execute(
                f"{_SELECT} WHERE removing IS NOT NULL AND removed_at IS NULL"
                " AND (CAST(? AS VARCHAR) IS NULL OR task_id = ?) ORDER BY task_id, idx",
                [task_id, task_id],
            )
            .fetchall()
        )
        return [VariationRecord.from_row(row) for row in rows]

    def mark_removed(self, task_id: str, idxs: Iterable[int]) -> builtins.list[int]:
        """Record that these variations' local files were deleted; return the indexes changed.

        Already-removed or unknown indexes are skipped, so a retried cleanup is harmless.
        """
        wanted = sorted(set(idxs))
        if not wanted:
            return []
        with self._db.transaction() as cursor:
            rows = cursor.execute(
                "UPDATE variations SET removed_at = ?"
                " WHERE task_id = ? AND list_contains(?::INTEGER[], idx) AND removed_at IS NULL"
                " RETURNING idx",
                [self._db.now(), task_id, wanted],
            ).fetchall()
        return sorted(int(row[0]) for row in rows)
