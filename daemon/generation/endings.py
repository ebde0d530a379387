"""How a generation job ends when it does not end in review: handed back, cancelled, failed.

Shared by the generator (a fault while denoising) and the writer (a fault
while saving a finished batch, daemon/generation/writeback.py), so both end a job the
same way.
"""

from __future__ import annotations

import contextlib
import logging

from daemon.generation.models import ModelError
from daemon.store import JobRecord, JobStatus, StatusConflictError, Store
from daemon.store.jobkinds import GENERATE
from daemon.store.jobworker import next_attempt_at
from gladtui.shapes import TaskStatus

__all__ = ["JobEndings", "describe"]

log = logging.getLogger(__name__)


class JobEndings:
    def __init__(self, store: Store, *, retry_base_seconds: float) -> None:
        self.store = store
        self.retry_base_seconds = retry_base_seconds

    def hand_back(self, job: JobRecord, task_id: str) -> None:
        # Variations already stored stay; the next start makes only the missing ones.
        with self.store.transaction():
            released = self.store.jobs.release(job.id)
            # A reviewer may have cancelled or rejected it meanwhile: their word stands.
            with contextlib.suppress(StatusConflictError):
                if released.status is JobStatus.PENDING:
                    self.store.tasks.set_status(
                        task_id, TaskStatus.QUEUED, expected=TaskStatus.GENERATING
                    )
        log.info("task %s: stopping mid-generation; queued again for the next start", task_id)

    def cancelled(self, job: JobRecord, task_id: str) -> None:
        self.store.jobs.cancel_for_task(task_id, GENERATE)
        has_variations = bool(self.store.variations.list(task_id))
        new = TaskStatus.REVIEW if has_variations else TaskStatus.FAILED
        error = None if has_variations else "generation cancelled; ask for new variations to retry"
        self.store.tasks.set_status(task_id, new, error=error)
        log.info("task %s: generation cancelled (job %d)", task_id, job.id)

    def failed(self, job: JobRecord, task_id: str, exc: Exception) -> None:
        message = describe(exc)
        permanent = isinstance(exc, ValueError | TypeError)  # bad parameters: retrying won't help
        retry_at = None if permanent else next_attempt_at(self.store, job, self.retry_base_seconds)
        failed = self.store.jobs.fail(job.id, message, retry_at=retry_at)
        if failed.status is JobStatus.FAILED:
            self.store.tasks.set_status(task_id, TaskStatus.FAILED, error=message)
            log.error("task %s failed after %d attempt(s): %s", task_id, job.attempts, message)
        else:
            note = f"attempt {job.attempts} of {job.max_attempts} failed, retrying: {message}"
            self.store.tasks.set_status(task_id, TaskStatus.QUEUED, error=note)
            log.warning("task %s: %s", task_id, note)


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"cannot write the image{where}: {exc.strerror}"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, ModelError) else f"{type(exc).__name__}: {text}"
