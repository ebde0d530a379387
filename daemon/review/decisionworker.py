"""The decision worker: the reviewer's decisions carried out once their grace has passed.

Approvals and rejections are recorded at once and queued as jobs to run after
`publishing.grace_seconds` (daemon/review/decisions.py), so they can be undone
until then. This worker claims those jobs in order: a `publish` job is run by
publishing's PublishStep (daemon/publishing/publish.py), a `reject` job by
Decisions (the new round queued, the files deleted). Between jobs it sweeps
previews past `cleanup.preview_retention_days` now and then, and finishes
deletions a stop interrupted (daemon/publishing/cleanup.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from daemon.publishing.cleanup import finish_interrupted, sweep_expired
from daemon.publishing.publish import PublishStep
from daemon.review.decisions import Decisions
from daemon.store import JobRecord, Store
from daemon.store.jobkinds import PUBLISH, REJECT
from daemon.store.jobworker import JobLoop
from gladtui.config import Config

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 3600.0


class DecisionWorker:
    """Runs `publish` and `reject` jobs until `stop` is set; sweeps old previews."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        publish: PublishStep,
        decisions: Decisions,
        stop: threading.Event,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.config = config
        self.publish = publish
        self.decisions = decisions
        self._jobs = JobLoop(store, [PUBLISH, REJECT], stop)
        self._monotonic = monotonic
        self._next_sweep = 0.0

    def wake(self) -> None:
        """A decision was queued: look now rather than at the next poll."""
        self._jobs.wake()

    @property
    def idle_rounds(self) -> int:
        """Rounds that found no job due (JobLoop.idle_rounds)."""
        return self._jobs.idle_rounds

    def run(self) -> None:
        """Run jobs until stopped. Blocks; run it in its own thread."""
        self._jobs.run(self._run_any, each_round=self._sweep_when_due)
        log.info("decision worker stopped")

    def _run_any(self, job: JobRecord) -> None:
        try:
            if job.kind == REJECT:
                self.decisions.carry_out_rejection_job(job)
            else:
                self.publish.run(job)
        except Exception:  # one job's surprise must not stop the others
            log.exception("%s job %d failed unexpectedly", job.kind, job.id)
            self.store.jobs.fail(job.id, "unexpected error; see the daemon's log", retry_at=None)

    def _sweep_when_due(self) -> None:
        now = self._monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_EVERY_SECONDS
        try:
            finish_interrupted(self.store)  # a deletion that failed before is tried again
            sweep_expired(self.store, self.config.cleanup.preview_retention_days)
        except Exception:
            log.exception("the preview retention sweep failed; trying again later")
