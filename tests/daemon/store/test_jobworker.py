"""The loop the generator and the publisher share, and the retry backoff, on a real store."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.store import JobRecord, Store, jobworker
from daemon.store.jobkinds import generation_payload
from daemon.store.jobworker import JobLoop, next_attempt_at
from tests.apidaemon import wait_until

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
NEVER = 3600.0  # an idle poll no test may wait out: only a wake can end the wait


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "gladtui.duckdb", clock=lambda: T0) as opened:
        yield opened


def run_in_thread(
    loop: JobLoop, ran: list[JobRecord], stop: threading.Event, **kwargs: object
) -> threading.Thread:
    """The loop on its own thread; the first job it runs stops it."""

    def run_job(job: JobRecord) -> None:
        ran.append(job)
        stop.set()

    thread = threading.Thread(target=loop.run, args=(run_job,), kwargs=kwargs, daemon=True)
    thread.start()
    return thread


def test_a_queued_job_is_claimed_and_run_once(store: Store) -> None:
    job = store.jobs.enqueue("generate", None, generation_payload(1, 1))
    stop, ran, rounds = threading.Event(), [], []
    loop = JobLoop(store, ["generate"], stop)
    thread = run_in_thread(loop, ran, stop, each_round=lambda: rounds.append(1))
    thread.join(30)
    assert not thread.is_alive()
    assert [j.id for j in ran] == [job.id] and ran[0].attempts == 1
    assert rounds == [1]  # each_round runs before every claim


def test_a_wake_during_the_claim_is_not_lost(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work queued after the claim looked, but before the loop sleeps, runs at once."""
    monkeypatch.setattr(jobworker, "IDLE_POLL_SECONDS", NEVER)
    stop, ran = threading.Event(), []
    loop = JobLoop(store, ["publish"], stop)
    claim, queued = store.jobs.claim, []

    def claim_that_misses_the_first(kinds: Collection[str]) -> JobRecord | None:
        if not ran and not queued:
            queued.append(store.jobs.enqueue("publish", None, {}))
            loop.wake()
            return None  # as if the claim had looked just before the job was committed
        return claim(kinds)

    monkeypatch.setattr(store.jobs, "claim", claim_that_misses_the_first)
    thread = run_in_thread(loop, ran, stop)
    thread.join(30)
    assert not thread.is_alive(), "the loop slept through the wake"
    assert [j.id for j in ran] == [queued[0].id]


def test_wake_ends_an_idle_wait(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobworker, "IDLE_POLL_SECONDS", NEVER)
    stop, ran = threading.Event(), []
    loop = JobLoop(store, ["reject"], stop)
    thread = run_in_thread(loop, ran, stop)
    stop.set()  # as the daemon stops: set, then wake the workers
    loop.wake()
    thread.join(30)
    assert not thread.is_alive()
    assert ran == []


def test_idle_rounds_count_the_claims_that_found_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What tests/apidaemon.py's decision_worker_looked waits on: a round per empty claim."""
    monkeypatch.setattr(jobworker, "IDLE_POLL_SECONDS", NEVER)
    stop, ran = threading.Event(), []
    loop = JobLoop(store, ["publish"], stop)
    thread = run_in_thread(loop, ran, stop)
    wait_until(lambda: loop.idle_rounds == 1)  # looked, found nothing, waits (for ever)
    loop.wake()
    wait_until(lambda: loop.idle_rounds == 2)  # the wake sent it round once more
    job = store.jobs.enqueue("publish", None, {})
    loop.wake()
    thread.join(30)
    assert not thread.is_alive()
    assert [j.id for j in ran] == [job.id] and loop.idle_rounds == 2  # that claim found work


def test_retries_back_off_exponentially_with_jitter(store: Store) -> None:
    job = store.jobs.enqueue("publish", None, {})
    now = T0.replace(tzinfo=None)
    for attempts, nominal in ((1, 2.0), (2, 4.0), (4, 16.0)):
        tried = dataclasses.replace(job, attempts=attempts)
        draws = {next_attempt_at(store, tried, 2.0) - now for _ in range(50)}
        assert all(
            timedelta(seconds=nominal * 0.5) <= d <= timedelta(seconds=nominal * 1.5) for d in draws
        )
        assert len(draws) > 1  # jittered: not every job retries at the same instant
