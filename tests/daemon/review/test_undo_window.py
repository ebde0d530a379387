"""The undo window at its edges: the store's conditions, and `Decisions.undo` acting on them.

A decision's job is undoable while it is pending, never claimed and not yet
due (`run_after` still ahead); it is claimable from `run_after` on. Both are
checked exactly at `run_after`, one microsecond before (TIMESTAMP's
resolution) and after, on a real DuckDB file with the store's clock injected.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from daemon.review.decisions import Decisions
from daemon.review.outcomes import Conflict
from daemon.store import JobRecord, JobStatus, NewTask, NewVariation, Store
from daemon.store.jobkinds import DECISIONS, GENERATE, PUBLISH
from gladtui.config import Config
from gladtui.shapes import TaskStatus

T0 = datetime(2025, 6, 7, 8, 9, 10, 123456)
GRACE = 10.0
TICK = timedelta(microseconds=1)  # the finest step a TIMESTAMP column keeps


class ScriptedClock:
    """The store's clock: still unless moved, or set to move after a number of reads."""

    def __init__(self) -> None:
        self.now = T0
        self._then: tuple[int, datetime] | None = None

    def __call__(self) -> datetime:
        if self._then is not None:
            reads, moment = self._then
            if reads == 0:
                self.now, self._then = moment, None
            else:
                self._then = (reads - 1, moment)
        return self.now

    def after_reads(self, reads: int, moment: datetime) -> None:
        """Read `reads` more times as it is, then `moment` from then on."""
        self._then = (reads, moment)


@pytest.fixture
def clock() -> ScriptedClock:
    return ScriptedClock()


@pytest.fixture
def store(tmp_path: Path, clock: ScriptedClock) -> Iterator[Store]:
    with Store.open(tmp_path / "state.duckdb", clock=clock) as opened:
        for task_id in ("a", "b"):
            opened.tasks.create(_task(task_id), status=TaskStatus.REVIEW)
            for idx in (1, 2):
                opened.variations.add(_variation(task_id, idx, tmp_path))
        yield opened


def decision(store: Store, task_id: str = "a") -> JobRecord:
    return store.jobs.enqueue(PUBLISH, task_id, {}, run_after=T0 + timedelta(seconds=GRACE))


def status(store: Store, job: JobRecord) -> JobStatus:
    found = store.jobs.get(job.id)
    assert found is not None
    return found.status


# --- the store's conditions ---------------------------------------------------------------


EDGES = ["just-before", "exactly-at", "just-after"]


@pytest.mark.parametrize(
    ("offset", "undoable"), [(-TICK, True), (timedelta(), False), (TICK, False)], ids=EDGES
)
def test_a_job_is_undoable_only_before_its_run_after(
    store: Store, clock: ScriptedClock, offset: timedelta, undoable: bool
) -> None:
    job = decision(store)
    clock.now = job.run_after + offset
    found = store.jobs.unclaimed("a", DECISIONS)
    assert (found.id if found else None) == (job.id if undoable else None)
    assert store.jobs.cancel_unclaimed(job.id) is undoable
    assert status(store, job) is (JobStatus.CANCELLED if undoable else JobStatus.PENDING)


@pytest.mark.parametrize(
    ("offset", "due"), [(-TICK, False), (timedelta(), True), (TICK, True)], ids=EDGES
)
def test_a_job_is_claimable_from_its_run_after_on(
    store: Store, clock: ScriptedClock, offset: timedelta, due: bool
) -> None:
    job = decision(store)
    clock.now = job.run_after + offset
    claimed = store.jobs.claim(DECISIONS)
    assert (claimed.id if claimed else None) == (job.id if due else None)
    # Never both: whatever the clock says, a job is undoable or claimable, not both.
    assert (store.jobs.unclaimed("a", DECISIONS) is not None) is not due


def test_a_claimed_job_is_not_undoable_even_inside_the_grace(
    store: Store, clock: ScriptedClock
) -> None:
    """Claimed once (a publish that failed and waits for its retry): it has taken effect."""
    job = decision(store)
    clock.now = job.run_after
    assert store.jobs.claim(DECISIONS) is not None
    retry_at = job.run_after + timedelta(seconds=GRACE)
    failed = store.jobs.fail(job.id, "the CDN is down", retry_at=retry_at)
    assert (failed.status, failed.attempts) == (JobStatus.PENDING, 1)
    clock.now = job.run_after + TICK  # pending again, its run_after ahead: still not undoable
    assert store.jobs.unclaimed("a", DECISIONS) is None
    assert store.jobs.cancel_unclaimed(job.id) is False
    assert status(store, job) is JobStatus.PENDING


def test_a_running_or_finished_job_cannot_be_cancelled_as_unclaimed(
    store: Store, clock: ScriptedClock
) -> None:
    job = decision(store)
    clock.now = job.run_after
    store.jobs.claim(DECISIONS)
    clock.now = T0  # even with the clock back inside the grace
    assert store.jobs.cancel_unclaimed(job.id) is False
    assert status(store, job) is JobStatus.RUNNING
    store.jobs.complete(job.id)
    assert store.jobs.cancel_unclaimed(job.id) is False
    assert status(store, job) is JobStatus.DONE


def test_unclaimed_is_the_tasks_newest_decision_job(store: Store, clock: ScriptedClock) -> None:
    later = T0 + timedelta(seconds=GRACE)
    older = decision(store)
    newer = store.jobs.enqueue("reject", "a", {}, run_after=later)
    store.jobs.enqueue(GENERATE, "a", {}, run_after=later + timedelta(seconds=1))
    other_task = decision(store, "b")
    assert store.jobs.unclaimed("a", DECISIONS).id == newer.id  # type: ignore[union-attr]
    assert store.jobs.unclaimed("a", [PUBLISH]).id == older.id  # type: ignore[union-attr]
    assert store.jobs.unclaimed("b", DECISIONS).id == other_task.id  # type: ignore[union-attr]
    assert store.jobs.unclaimed("a", [GENERATE]) is not None
    assert store.jobs.unclaimed("a", []) is None


# --- Decisions.undo ------------------------------------------------------------------------


def decisions(store: Store) -> Decisions:
    return Decisions(store, Config.model_validate({"publishing": {"grace_seconds": GRACE}}))


def test_undo_one_tick_before_the_grace_ends_puts_the_task_back(
    store: Store, clock: ScriptedClock
) -> None:
    decide = decisions(store)
    decide.approve("a", 2)
    [job] = store.jobs.pending_for_task("a")
    clock.now = job.run_after - TICK
    outcome = decide.undo("a")
    assert outcome.changed and "back to review" in outcome.message
    assert status(store, job) is JobStatus.CANCELLED
    assert _state(store) == (TaskStatus.REVIEW, [False, False])
    clock.now = job.run_after + timedelta(hours=1)
    assert store.jobs.claim(DECISIONS) is None  # the cancelled job never runs


def test_undo_exactly_when_the_grace_ends_is_too_late(store: Store, clock: ScriptedClock) -> None:
    decide = decisions(store)
    decide.approve("a", 2)
    [job] = store.jobs.pending_for_task("a")
    clock.now = job.run_after
    with pytest.raises(Conflict, match="too late to undo: the approval of task a"):
        decide.undo("a")
    assert status(store, job) is JobStatus.PENDING
    assert _state(store) == (TaskStatus.APPROVED, [False, True])


def test_undo_is_refused_when_the_grace_ends_between_its_look_and_its_cancel(
    store: Store, clock: ScriptedClock
) -> None:
    """The job looked undoable, then came due before it could be cancelled: too late.

    Undo must go by what the cancel did: had it put the task back anyway, the job,
    still pending and now due, would publish a task that is back in review (or,
    approved again, publish the old choice at once instead of after a new grace).
    """
    decide = decisions(store)
    decide.approve("a", 2)
    [job] = store.jobs.pending_for_task("a")
    clock.now = job.run_after - TICK
    clock.after_reads(1, job.run_after)  # undo's look reads the clock once; the cancel, after
    with pytest.raises(Conflict, match="too late to undo"):
        decide.undo("a")
    assert status(store, job) is JobStatus.PENDING
    assert _state(store) == (TaskStatus.APPROVED, [False, True])
    claimed = store.jobs.claim(DECISIONS)  # and it takes effect, as the refusal said
    assert claimed is not None and claimed.id == job.id


def test_an_undone_rejection_keeps_the_files_and_its_job_never_runs(
    store: Store, clock: ScriptedClock
) -> None:
    decide = decisions(store)
    decide.reject("a")
    [job] = store.jobs.pending_for_task("a")
    assert job.kind == "reject"
    clock.now = job.run_after - TICK
    decide.undo("a")
    assert status(store, job) is JobStatus.CANCELLED
    assert _state(store) == (TaskStatus.REVIEW, [False, False])
    assert all(Path(v.path).exists() for v in store.variations.list("a"))


def _state(store: Store) -> tuple[TaskStatus, list[bool]]:
    task = store.tasks.get("a")
    assert task is not None
    return task.status, [v.selected for v in store.variations.list("a")]


def _task(task_id: str) -> NewTask:
    return NewTask(
        id=task_id, title=f"Task {task_id}", prompt="a cake", negative_prompt="", content="",
        variations=2, steps=2, guidance_scale=7.0, width=64, height=64, seed=1,
        source_file=f"{task_id}.yaml", source_sha256=f"sha-{task_id}",
    )  # fmt: skip


def _variation(task_id: str, idx: int, folder: Path) -> NewVariation:
    path = folder / f"{task_id}-{idx}.png"
    path.write_bytes(b"png")
    return NewVariation(
        task_id=task_id, idx=idx, path=str(path), seed=idx,
        prompt="a cake", negative_prompt="", width=64, height=64, steps=2, guidance_scale=7.0,
        model="tiny",
    )  # fmt: skip
