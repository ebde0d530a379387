"""What every job worker shares: the claim-or-wait loop, and when a failed job runs again.

Jobs are rows (daemon/store/jobs.py), so a worker finds its work by claiming
it from the store, never from a queue in memory: a job queued by a daemon
that was killed is found by the next one the same way. With nothing to
claim, a worker sleeps until woken (an action or an ingest queued work) or
until the idle poll comes round, which is what finds the jobs nobody wakes
it for: a decision whose grace has passed, a retry whose backoff has.

The generator (daemon/generation/generator.py) runs this loop on one thread per runner,
the decision worker (daemon/review/decisionworker.py) on one thread.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from daemon.store import JobRecord, Store

__all__ = ["IDLE_POLL_SECONDS", "JobLoop", "next_attempt_at"]

IDLE_POLL_SECONDS = 1.0


def _nothing() -> None:
    pass


def _always() -> bool:
    return True


class JobLoop:
    """Claims jobs of `kinds` and runs them until `stop` is set.

    Any number of threads may run the loop at once (one per runner); each runs
    one job at a time, and the store's claim hands a job to one of them only.
    """

    def __init__(self, store: Store, kinds: Collection[str], stop: threading.Event) -> None:
        self._store = store
        self._kinds = tuple(kinds)
        self._stop = stop
        self._wake = threading.Condition()
        self._wakes = 0  # counts wake() calls, so one made during a claim is not lost
        self._idle_rounds = 0

    @property
    def idle_rounds(self) -> int:
        """How many claims, by any of the loop's threads, have found nothing to run.

        What an onlooker waits on to know the loop looked and let a job be: two
        more than it read means one claim began wholly after the read (the first
        may have been under way already)."""
        with self._wake:
            return self._idle_rounds

    def wake(self) -> None:
        """Work was queued (or stop was set): idle threads look now, not at the next poll."""
        with self._wake:
            self._wakes += 1
            self._wake.notify_all()

    def run(
        self,
        run_job: Callable[[JobRecord], None],
        *,
        each_round: Callable[[], None] = _nothing,
        ready: Callable[[], bool] = _always,
    ) -> None:
        """Blocks until stop. `each_round` runs before every claim (the publisher's sweep);
        while `ready` says no (a Ray cluster that is away) nothing is claimed."""
        while not self._stop.is_set():
            each_round()
            with self._wake:
                seen = self._wakes
            job = self._store.jobs.claim(self._kinds) if ready() else None
            if job is None:
                self._idle(seen)
                continue
            run_job(job)

    def _idle(self, seen: int) -> None:
        with self._wake:
            self._idle_rounds += 1
            if self._wakes == seen:  # else work was queued after the claim looked
                self._wake.wait(IDLE_POLL_SECONDS)


def next_attempt_at(store: Store, job: JobRecord, base_seconds: float) -> datetime:
    """When a failed `job` is tried again: exponential backoff with jitter.

    The doubling gives a transient fault (a CDN that is down, a full disk, GPU
    memory) time to clear; the jitter keeps many failing jobs from retrying in
    lockstep and hammering what failed them.
    """
    delay = base_seconds * 2 ** (job.attempts - 1) * random.uniform(0.5, 1.5)
    return store.now() + timedelta(seconds=delay)
