"""The jobs table: the daemon's work queue (generate, publish, …) as rows, not memory.

A daemon killed at any moment loses nothing: pending jobs are still pending,
and `requeue_running` at start-up hands back the ones it was running. Each
claim counts as an attempt, so a job that keeps failing, or keeps killing the
daemon, stops after `max_attempts` with its last error instead of looping.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from daemon.store.db import Database, naive_utc
from daemon.store.errors import NotFoundError
from daemon.store.jobkinds import UNCLAIMED_SQL
from daemon.store.records import JobRecord, JobStatus, column_list, dump_json
from daemon.store.tasks import TasksRepository
from gladtui.shapes import TaskStatus

__all__ = ["JobsRepository"]

_COLUMNS = column_list(JobRecord)
_SELECT = f"SELECT {_COLUMNS} FROM jobs"
_INSERT = (
    "INSERT INTO jobs (kind, task_id, payload, status, attempts, max_attempts, last_error,"
    " run_after, created_at, updated_at)"
    f" VALUES (?, ?, ?, 'pending', 0, ?, NULL, ?, ?, ?) RETURNING {_COLUMNS}"
)
# Oldest first = lowest id: ids are drawn in enqueue order (writes are serialized).
_CLAIM = (
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = ?"
    " WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_after <= ?"
    "  AND list_contains(?::VARCHAR[], kind) ORDER BY id LIMIT 1)"
    f" RETURNING {_COLUMNS}"
)
_FINISH = (
    "UPDATE jobs SET status = ?, last_error = ?, run_after = ?, updated_at = ?"
    f" WHERE id = ? RETURNING {_COLUMNS}"
)
INTERRUPTED = "interrupted: the daemon stopped while this job was running"
# A task in one of these waits for a job; once none is left, it would wait for ever.
_WAITING = (TaskStatus.QUEUED, TaskStatus.GENERATING, TaskStatus.APPROVED, TaskStatus.PUBLISHING)


class JobsRepository:
    def __init__(self, db: Database, tasks: TasksRepository | None = None) -> None:
        self._db = db
        self._tasks = tasks  # to fail the task of a job given up at start (requeue_running)

    def enqueue(
        self,
        kind: str,
        task_id: str | None,
        payload: Mapping[str, Any],
        *,
        max_attempts: int = 3,
        run_after: datetime | None = None,
    ) -> JobRecord:
        """Add a pending job, runnable from `run_after` (default: now).

        A task id, when given, must name an existing task (no foreign keys; see
        migrations.py). The payload must be JSON-encodable (TypeError otherwise).
        """
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        now = self._db.now()
        start = now if run_after is None else naive_utc(run_after)
        with self._db.transaction() as cursor:
            if task_id is not None:
                found = cursor.execute("SELECT 1 FROM tasks WHERE id = ?", [task_id]).fetchone()
                if found is None:
                    raise NotFoundError(f"no task {task_id!r} to queue a {kind!r} job for")
            params = [kind, task_id, dump_json(payload), max_attempts, start, now, now]
            row = cursor.execute(_INSERT, params).fetchone()
        assert row is not None  # INSERT … RETURNING always returns the row
        return JobRecord.from_row(row)

    def enqueue_many(
        self,
        kind: str,
        entries: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        max_attempts: int = 3,
    ) -> None:
        """One job per (task id, payload), runnable now, in one statement (ingest bursts)."""
        if not entries:
            return
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        task_ids = [task_id for task_id, _ in entries]
        payloads = [dump_json(payload) for _, payload in entries]
        now = self._db.now()
        with self._db.transaction() as cursor:
            found = cursor.execute(
                "SELECT count(DISTINCT id) FROM tasks WHERE list_contains(?::VARCHAR[], id)",
                [task_ids],
            ).fetchone()
            if found is None or found[0] != len(set(task_ids)):
                raise NotFoundError(f"some of the tasks to queue {kind!r} jobs for do not exist")
            cursor.execute(
                "INSERT INTO jobs (kind, task_id, payload, status, attempts, max_attempts,"
                " last_error, run_after, created_at, updated_at)"
                " SELECT ?, UNNEST(?::VARCHAR[]), UNNEST(?::VARCHAR[]), 'pending', 0, ?, NULL,"
                " ?, ?, ?",
                [kind, task_ids, payloads, max_attempts, now, now, now],
            )

    def get(self, job_id: int) -> JobRecord | None:
        row = self._db.cursor().execute(f"{_SELECT} WHERE id = ?", [job_id]).fetchone()
        return JobRecord.from_row(row) if row else None

    def _require(self, job_id: int) -> JobRecord:
        job = self.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id}")
        return job

    def claim(self, kinds: Collection[str]) -> JobRecord | None:
        """Take the oldest due pending job of one of `kinds`: running, one more attempt.

        Atomic: the select and the update are one statement inside a write
        transaction, and write transactions are serialized (db.py), so two
        threads never claim the same job.
        """
        wanted = [kinds] if isinstance(kinds, str) else list(kinds)
        if not wanted:
            return None
        now = self._db.now()
        # A plain read first: idle workers poll every second, and a write
        # transaction per poll would wake every event stream for nothing.
        due = (
            self._db.cursor()
            .execute(
                "SELECT 1 FROM jobs WHERE status = 'pending' AND run_after <= ?"
                " AND list_contains(?::VARCHAR[], kind) LIMIT 1",
                [now, wanted],
            )
            .fetchone()
        )
        if due is None:
            return None
        with self._db.transaction() as cursor:
            row = cursor.execute(_CLAIM, [now, now, wanted]).fetchone()
        return JobRecord.from_row(row) if row else None

    def complete(self, job_id: int) -> JobRecord:
        """Mark a running job done.

        A job that is no longer running (cancelled while it ran) is left as it
        is and returned unchanged, so a late finish cannot resurrect it.
        """
        with self._db.transaction() as cursor:
            job = self._require(job_id)
            if job.status is not JobStatus.RUNNING:
                return job
            row = cursor.execute(
                _FINISH, [str(JobStatus.DONE), None, job.run_after, self._db.now(), job_id]
            ).fetchone()
        assert row is not None
        return JobRecord.from_row(row)

    def fail(self, job_id: int, error: str, *, retry_at: datetime | None) -> JobRecord:
        """Record a failed attempt of a running job.

        Back to pending, runnable from `retry_at`, when a retry is asked for and
        attempts remain; otherwise `failed` for good. The error is kept as
        `last_error` either way. A job no longer running is returned unchanged.
        """
        with self._db.transaction() as cursor:
            job = self._require(job_id)
            if job.status is not JobStatus.RUNNING:
                return job
            if retry_at is not None and job.attempts < job.max_attempts:
                status, run_after = JobStatus.PENDING, naive_utc(retry_at)
            else:
                status, run_after = JobStatus.FAILED, job.run_after
            row = cursor.execute(
                _FINISH, [str(status), error, run_after, self._db.now(), job_id]
            ).fetchone()
        assert row is not None
        return JobRecord.from_row(row)

    def release(self, job_id: int) -> JobRecord:
        """Hand a running job back to the queue, runnable now, its attempt not counted.

        For a graceful stop: the job did not fail, the daemon is leaving, so it
        must not use up one of its attempts (restarts alone would fail it).
        A job no longer running is returned unchanged.
        """
        now = self._db.now()
        with self._db.transaction() as cursor:
            row = cursor.execute(
                "UPDATE jobs SET status = 'pending', attempts = greatest(attempts - 1, 0),"
                " run_after = ?, updated_at = ?"
                f" WHERE id = ? AND status = 'running' RETURNING {_COLUMNS}",
                [now, now, job_id],
            ).fetchone()
        return JobRecord.from_row(row) if row else self._require(job_id)

    def cancel_for_task(self, task_id: str, kind: str | None = None) -> list[JobRecord]:
        """Cancel a task's pending and running jobs (of one kind, if given); return them.

        Running ones are returned too so the caller can tell their workers to stop;
        whatever those workers report afterwards leaves the job cancelled.
        """
        with self._db.transaction() as cursor:
            rows = cursor.execute(
                "UPDATE jobs SET status = 'cancelled', updated_at = ?"
                " WHERE task_id = ? AND status IN ('pending', 'running')"
                " AND (CAST(? AS VARCHAR) IS NULL OR kind = ?)"
                f" RETURNING {_COLUMNS}",
                [self._db.now(), task_id, kind, kind],
            ).fetchall()
        return sorted((JobRecord.from_row(row) for row in rows), key=lambda job: job.id)

    def requeue_running(self) -> list[JobRecord]:
        """At daemon start: hand back every job a previous run left `running`.

        The interrupted claim already counted as an attempt, so a job with
        attempts left goes back to pending (runnable now) and one without fails
        with INTERRUPTED: a job that crashes the daemon cannot crash it forever.
        Its task, left waiting on nothing, fails with it (see _give_up_task).
        """
        now = self._db.now()
        with self._db.transaction() as cursor:
            rows = cursor.execute(
                "UPDATE jobs SET"
                " status = CASE WHEN attempts < max_attempts THEN 'pending' ELSE 'failed' END,"
                " last_error = CASE WHEN attempts < max_attempts THEN last_error ELSE ? END,"
                " run_after = CASE WHEN attempts < max_attempts THEN ? ELSE run_after END,"
                " updated_at = ?"
                f" WHERE status = 'running' RETURNING {_COLUMNS}",
                [INTERRUPTED, now, now],
            ).fetchall()
            jobs = sorted((JobRecord.from_row(row) for row in rows), key=lambda job: job.id)
            for job in jobs:
                if job.status is JobStatus.FAILED:
                    self._give_up_task(job)
        return jobs

    def _give_up_task(self, job: JobRecord) -> None:
        """Fail the task of a job given up at start, unless other work is queued for it.

        Left `publishing` (or `generating`), the task would wait for ever: approving
        it again answers "already approved" and rejecting it is refused. Failed,
        it says why, and the reviewer can approve it again or ask for variations.
        """
        if self._tasks is None or job.task_id is None or self.pending_for_task(job.task_id):
            return
        task = self._tasks.get(job.task_id)
        if task is not None and task.status in _WAITING:
            self._tasks.set_status(
                task.id,
                TaskStatus.FAILED,
                error=f"gave up its {job.kind} job: the daemon stopped during each of its "
                f"{job.attempts} attempt(s); try again",
            )

    def pending_for_task(self, task_id: str, kind: str | None = None) -> list[JobRecord]:
        """A task's unfinished jobs (pending or running), oldest first.

        Running ones are included because "is work already queued for this task?"
        must also say yes while that work is under way.
        """
        rows = (
            self._db.cursor()
            .execute(
                f"{_SELECT} WHERE task_id = ? AND status IN ('pending', 'running')"
                " AND (CAST(? AS VARCHAR) IS NULL OR kind = ?) ORDER BY id",
                [task_id, kind, kind],
            )
            .fetchall()
        )
        return [JobRecord.from_row(row) for row in rows]

    def unclaimed(self, task_id: str, kinds: Collection[str]) -> JobRecord | None:
        """The task's newest job of `kinds` not yet due nor claimed: it can be undone."""
        row = (
            self._db.cursor()
            .execute(
                f"{_SELECT} WHERE task_id = ? AND {UNCLAIMED_SQL}"
                " AND list_contains(?::VARCHAR[], kind) ORDER BY id DESC LIMIT 1",
                [task_id, self._db.now(), list(kinds)],
            )
            .fetchone()
        )
        return JobRecord.from_row(row) if row else None

    def cancel_unclaimed(self, job_id: int) -> bool:
        """Cancel a job not yet due nor claimed; False when it is (too late)."""
        now = self._db.now()
        with self._db.transaction() as cursor:
            row = cursor.execute(
                "UPDATE jobs SET status = 'cancelled', updated_at = ?"
                f" WHERE id = ? AND {UNCLAIMED_SQL} RETURNING id",
                [now, job_id, now],
            ).fetchone()
        return row is not None

    def payloads(self, task_id: str, kind: str) -> list[dict[str, Any]]:
        """The payloads of a task's jobs of `kind`, whatever became of them, oldest first."""
        rows = (
            self._db.cursor()
            .execute(f"{_SELECT} WHERE task_id = ? AND kind = ? ORDER BY id", [task_id, kind])
            .fetchall()
        )
        return [JobRecord.from_row(row).payload for row in rows]

    def count_by_status(self) -> dict[JobStatus, int]:
        """How many jobs are in each status (every status present): for `gladtui status`."""
        counts = dict.fromkeys(JobStatus, 0)
        rows = self._db.cursor().execute("SELECT status, count(*) FROM jobs GROUP BY status")
        for status, count in rows.fetchall():
            counts[JobStatus(status)] = int(count)
        return counts
