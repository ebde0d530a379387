"""The DuckDB store, against real database files: schema, migrations, every repository.

No mocks: each test opens a real DuckDB file in tmp_path, with an injected clock
so timestamps are exact. The crash test kills a real writer process with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from daemon.store import (
    INTERRUPTED,
    MIGRATIONS,
    DuplicatePostError,
    DuplicateTaskError,
    DuplicateVariationError,
    JobStatus,
    Migration,
    NewTask,
    NewVariation,
    NotFoundError,
    SlugTakenError,
    StatusConflictError,
    Store,
    StoreError,
    latest_version,
    utc_now,
)
from gladtui.shapes import EventKind, TaskStatus
from tests.paths import REPO

ROOT = REPO
T0 = datetime(2025, 1, 2, 3, 4, 5, 678901)


class FakeClock:
    """A clock the test moves by hand; the store reads it for every timestamp."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "gladtui.duckdb"


@pytest.fixture
def store(db_path: Path, clock: FakeClock) -> Iterator[Store]:
    with Store.open(db_path, clock=clock) as opened:
        yield opened


def new_task(task_id: str = "muffins-001", **overrides: Any) -> NewTask:
    fields: dict[str, Any] = {
        "id": task_id,
        "title": "Making Delicious Muffins",
        "prompt": "blueberry muffins on a rustic table",
        "negative_prompt": "blurry",
        "content": "",
        "variations": 3,
        "steps": 30,
        "guidance_scale": 7.0,
        "width": 1024,
        "height": 1024,
        "seed": 42,
        "source_file": f"{task_id}.yaml",
        "source_sha256": f"sha-{task_id}",
    }
    fields.update(overrides)
    return NewTask(**fields)


def new_variation(task_id: str = "muffins-001", idx: int = 1, **overrides: Any) -> NewVariation:
    fields: dict[str, Any] = {
        "task_id": task_id,
        "idx": idx,
        "path": f"/previews/sdxl-{task_id}-variation-{idx}.png",
        "seed": 42 + idx,
        "prompt": "blueberry muffins",
        "negative_prompt": "blurry",
        "width": 1024,
        "height": 1024,
        "steps": 30,
        "guidance_scale": 7.0,
        "model": "builtin:tiny-sdxl",
    }
    fields.update(overrides)
    return NewVariation(**fields)


# --- opening and migrations -------------------------------------------------------------

# Tests append to the real list, so they keep working as migrations are added.
LATEST = latest_version()
NEXT = LATEST + 1
EXTRA = Migration(NEXT, "test: an extra table", ("CREATE TABLE extra (a INTEGER)",))


def test_open_creates_the_schema_and_records_its_version(
    store: Store, db_path: Path, clock: FakeClock
) -> None:
    assert db_path.exists()
    assert schema_version(store) == latest_version() == MIGRATIONS[-1].version
    applied = [(m.version, m.applied_at) for m in store.migrations_applied()]
    assert applied == [(version, T0) for version in range(1, LATEST + 1)]
    assert store.tasks.list() == []
    assert store.variations.list("nothing") == []
    assert store.jobs.claim(["generate"]) is None
    assert store.posts.list() == []
    assert store.events.last_id() == 0


def test_reopening_keeps_data_and_applies_no_migration_twice(db_path: Path) -> None:
    with Store.open(db_path, clock=FakeClock()) as store:
        store.tasks.create(new_task())
        applied = store.migrations_applied()
    with Store.open(db_path, clock=FakeClock(T0 + timedelta(days=1))) as store:
        assert store.migrations_applied() == applied
        assert store.tasks.id_exists("muffins-001")


def test_an_appended_migration_is_applied_once(db_path: Path, clock: FakeClock) -> None:
    with Store.open(db_path, clock=clock):
        pass
    clock.advance(60)
    with Store.open(db_path, clock=clock, migrations=(*MIGRATIONS, EXTRA)) as store:
        assert [m.version for m in store.migrations_applied()] == [*range(1, LATEST + 1), NEXT]
        applied = store.migrations_applied()
    clock.advance(60)
    with Store.open(db_path, clock=clock, migrations=(*MIGRATIONS, EXTRA)) as store:
        assert store.migrations_applied() == applied
        assert applied[-1].applied_at == T0 + timedelta(seconds=60)


def test_a_database_from_newer_code_is_refused_and_left_untouched(db_path: Path) -> None:
    with Store.open(db_path, migrations=(*MIGRATIONS, EXTRA)):
        pass
    with pytest.raises(
        StoreError, match=rf"schema version {NEXT}.*only knows versions up to {LATEST}"
    ):
        Store.open(db_path)
    with Store.open(db_path, migrations=(*MIGRATIONS, EXTRA)) as store:
        assert schema_version(store) == NEXT


def test_a_failing_migration_rolls_back_entirely(db_path: Path) -> None:
    broken = Migration(NEXT, "broken", ("CREATE TABLE extra (a INTEGER)", "NOT SQL AT ALL"))
    with pytest.raises(StoreError, match=rf"migration {NEXT} \(broken\) failed"):
        Store.open(db_path, migrations=(*MIGRATIONS, broken))
    # Nothing of the broken migration stayed, so a fixed version creates the same table.
    with Store.open(db_path, migrations=(*MIGRATIONS, EXTRA)) as store:
        assert schema_version(store) == NEXT


def test_a_migration_list_with_a_gap_is_refused(db_path: Path) -> None:
    gap = Migration(NEXT + 1, "gap", ("SELECT 1",))
    with pytest.raises(StoreError, match="out of order"):
        Store.open(db_path, migrations=(*MIGRATIONS, gap))


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database" * 500)
    with pytest.raises(StoreError, match="cannot open the database"):
        Store.open(junk)


def test_a_closed_store_refuses_use(db_path: Path) -> None:
    store = Store.open(db_path)
    store.close()
    store.close()  # twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.tasks.get("x")


def test_default_clock_is_naive_utc(db_path: Path) -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    with Store.open(db_path) as store:
        task = store.tasks.create(new_task())
    assert task.created_at.tzinfo is None
    assert before <= task.created_at <= utc_now()


# --- tasks -------------------------------------------------------------------------------


def test_create_and_get_round_trip_every_field(store: Store) -> None:
    spec = new_task(content="# Muffins\nbody", seed=None)
    task = store.tasks.create(spec, actor="watcher")
    assert store.tasks.get(spec.id) == task
    assert (task.id, task.title, task.prompt, task.negative_prompt) == (
        spec.id,
        spec.title,
        spec.prompt,
        "blurry",
    )
    assert (task.content, task.variations, task.steps, task.guidance_scale) == (
        "# Muffins\nbody",
        3,
        30,
        7.0,
    )
    assert (task.width, task.height, task.seed) == (1024, 1024, None)
    assert (task.source_file, task.source_sha256) == ("muffins-001.yaml", "sha-muffins-001")
    assert (task.status, task.error, task.post_id) == (TaskStatus.QUEUED, None, None)
    assert task.created_at == task.updated_at == T0
    [event] = store.events.for_task(spec.id)
    assert (event.kind, event.from_status, event.to_status, event.actor) == (
        EventKind.CREATED,
        None,
        TaskStatus.QUEUED,
        "watcher",
    )
    assert event.detail is None
    assert store.tasks.get("missing") is None


def test_an_invalid_task_keeps_its_error(store: Store) -> None:
    task = store.tasks.create(new_task(), status=TaskStatus.INVALID, error="title: required")
    assert (task.status, task.error) == (TaskStatus.INVALID, "title: required")
    [event] = store.events.for_task(task.id)
    assert event.detail == {"error": "title: required"}


def test_a_duplicate_task_id_is_refused_and_writes_nothing(store: Store) -> None:
    store.tasks.create(new_task())
    with pytest.raises(DuplicateTaskError, match="muffins-001"):
        store.tasks.create(new_task(title="Other"))
    assert store.tasks.get("muffins-001").title == "Making Delicious Muffins"  # type: ignore[union-attr]
    assert len(store.events.for_task("muffins-001")) == 1


def test_create_many_is_all_or_nothing(store: Store) -> None:
    made = store.tasks.create_many([new_task(f"t{i}") for i in range(5)])
    assert [t.id for t in made] == [f"t{i}" for i in range(5)]
    with pytest.raises(DuplicateTaskError, match="t3"):
        store.tasks.create_many([new_task("t9"), new_task("t3")])
    with pytest.raises(DuplicateTaskError, match="t7"):
        store.tasks.create_many([new_task("t7"), new_task("t7")])
    assert not store.tasks.id_exists("t9")
    assert not store.tasks.id_exists("t7")
    assert len(store.tasks.list()) == 5
    assert store.events.last_id() == 5


def test_by_sha256_and_id_exists(store: Store) -> None:
    store.tasks.create(new_task("a", source_sha256="aaa"))
    found = store.tasks.by_sha256(["aaa", "bbb"])
    assert list(found) == ["aaa"] and found["aaa"].id == "a"
    assert store.tasks.by_sha256([]) == {}
    assert store.tasks.id_exists("a") and not store.tasks.id_exists("b")


def test_list_is_newest_first_with_status_filters_and_paging(
    store: Store, clock: FakeClock
) -> None:
    for i in range(5):
        store.tasks.create(new_task(f"t{i}"))
        clock.advance(1)
    store.tasks.set_status("t1", TaskStatus.REVIEW)
    store.tasks.set_status("t3", TaskStatus.FAILED, error="boom")

    def ids(tasks: list[Any]) -> list[str]:
        return [t.id for t in tasks]

    assert ids(store.tasks.list()) == ["t4", "t3", "t2", "t1", "t0"]
    assert ids(store.tasks.list(TaskStatus.QUEUED)) == ["t4", "t2", "t0"]
    assert ids(store.tasks.list([TaskStatus.REVIEW, TaskStatus.FAILED])) == ["t3", "t1"]
    assert ids(store.tasks.list(frozenset())) == []
    assert ids(store.tasks.list(limit=2)) == ["t4", "t3"]
    assert ids(store.tasks.list(limit=2, offset=2)) == ["t2", "t1"]
    assert ids(store.tasks.list(TaskStatus.QUEUED, limit=1, offset=1)) == ["t2"]


def test_count_by_status_lists_every_status(store: Store) -> None:
    store.tasks.create_many([new_task(f"t{i}") for i in range(3)])
    store.tasks.set_status("t0", TaskStatus.REVIEW)
    counts = store.tasks.count_by_status()
    assert set(counts) == set(TaskStatus)
    assert counts[TaskStatus.QUEUED] == 2 and counts[TaskStatus.REVIEW] == 1
    assert counts[TaskStatus.PUBLISHED] == 0


def test_set_status_updates_the_row_and_writes_an_event(store: Store, clock: FakeClock) -> None:
    store.tasks.create(new_task())
    later = clock.advance(5)
    task = store.tasks.set_status(
        "muffins-001",
        TaskStatus.FAILED,
        error="CUDA out of memory",
        actor="generator",
        detail={"attempt": 2},
    )
    assert (task.status, task.error, task.updated_at, task.created_at) == (
        TaskStatus.FAILED,
        "CUDA out of memory",
        later,
        T0,
    )
    event = store.events.for_task("muffins-001")[-1]
    assert (event.kind, event.from_status, event.to_status, event.actor, event.at) == (
        EventKind.STATUS_CHANGED,
        TaskStatus.QUEUED,
        TaskStatus.FAILED,
        "generator",
        later,
    )
    assert event.detail == {"attempt": 2, "error": "CUDA out of memory"}
    # Moving on clears the error.
    assert store.tasks.set_status("muffins-001", TaskStatus.QUEUED).error is None


def test_set_status_with_expected_is_a_compare_and_set(store: Store) -> None:
    store.tasks.create(new_task())
    moved = store.tasks.set_status("muffins-001", TaskStatus.GENERATING, expected=TaskStatus.QUEUED)
    assert moved.status is TaskStatus.GENERATING
    events_before = store.events.last_id()
    with pytest.raises(StatusConflictError) as caught:
        store.tasks.set_status(
            "muffins-001",
            TaskStatus.APPROVED,
            expected=[TaskStatus.REVIEW, TaskStatus.QUEUED],
        )
    message = str(caught.value)
    assert "'generating'" in message and "review" in message and "queued" in message
    assert caught.value.current == TaskStatus.GENERATING
    assert caught.value.expected == {TaskStatus.REVIEW, TaskStatus.QUEUED}
    assert store.tasks.get("muffins-001").status is TaskStatus.GENERATING  # type: ignore[union-attr]
    assert store.events.last_id() == events_before


def test_set_status_seed_and_post_of_a_missing_task(store: Store) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        store.tasks.set_status("nope", TaskStatus.REVIEW)
    with pytest.raises(NotFoundError):
        store.tasks.set_seed("nope", 1)
    with pytest.raises(NotFoundError):
        store.tasks.set_post("nope", 1)


def test_set_seed_and_set_post(store: Store, clock: FakeClock) -> None:
    store.tasks.create(new_task(seed=None))
    later = clock.advance(1)
    assert store.tasks.set_seed("muffins-001", 2**53 - 1).seed == 2**53 - 1
    task = store.tasks.set_post("muffins-001", 7)
    assert (task.post_id, task.updated_at) == (7, later)


def test_many_updates_of_many_rows_raise_no_spurious_key_errors(store: Store) -> None:
    # A DuckDB hazard: repeated updates of rows in indexed tables have raised spurious
    # duplicate-key errors.
    store.tasks.create_many([new_task(f"t{i:03}") for i in range(40)])
    cycle = [TaskStatus.GENERATING, TaskStatus.REVIEW, TaskStatus.QUEUED]
    for status in cycle * 2:
        for i in range(40):
            store.tasks.set_status(f"t{i:03}", status)
    assert store.tasks.count_by_status()[TaskStatus.QUEUED] == 40


def test_store_transaction_commits_or_rolls_back_together(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.tasks.create(new_task("a"))
        store.jobs.enqueue("generate", "a", {"count": 3})
        raise RuntimeError("abort")
    assert not store.tasks.id_exists("a")
    assert store.jobs.claim(["generate"]) is None
    assert store.events.since(0) == []
    with store.transaction():
        store.tasks.create(new_task("b"))
        store.tasks.set_status("b", TaskStatus.GENERATING)
    assert store.tasks.get("b").status is TaskStatus.GENERATING  # type: ignore[union-attr]


# --- variations --------------------------------------------------------------------------


def test_variations_add_list_and_next_index(store: Store, clock: FakeClock) -> None:
    store.tasks.create(new_task())
    assert store.variations.next_index("muffins-001") == 1
    first = store.variations.add(new_variation(idx=1))
    store.variations.add(new_variation(idx=2, thumbnail="/cache/2.png"))
    assert store.variations.next_index("muffins-001") == 3
    assert (first.idx, first.seed, first.selected, first.removed_at, first.created_at) == (
        1,
        43,
        False,
        None,
        T0,
    )
    listed = store.variations.list("muffins-001")
    assert [v.idx for v in listed] == [1, 2]
    assert listed[1].thumbnail == "/cache/2.png"
    assert store.variations.set_thumbnail("muffins-001", 1, "/cache/1.png").thumbnail == (
        "/cache/1.png"
    )


def test_variation_errors(store: Store) -> None:
    with pytest.raises(NotFoundError, match="ghost"):
        store.variations.add(new_variation(task_id="ghost"))
    store.tasks.create(new_task())
    store.variations.add(new_variation(idx=1))
    with pytest.raises(DuplicateVariationError, match="variation 1"):
        store.variations.add(new_variation(idx=1, path="/other.png"))
    with pytest.raises(ValueError, match="start at 1"):
        store.variations.add(new_variation(idx=0))
    with pytest.raises(NotFoundError):
        store.variations.set_thumbnail("muffins-001", 9, None)
    assert store.variations.list("muffins-001")[0].path.endswith("variation-1.png")


def test_select_marks_exactly_one(store: Store) -> None:
    store.tasks.create(new_task())
    for idx in (1, 2, 3):
        store.variations.add(new_variation(idx=idx))
    assert store.variations.select("muffins-001", 2).selected
    assert store.variations.select("muffins-001", 3).idx == 3
    assert [v.selected for v in store.variations.list("muffins-001")] == [False, False, True]
    with pytest.raises(NotFoundError, match="no variation 7"):
        store.variations.select("muffins-001", 7)
    assert [v.selected for v in store.variations.list("muffins-001")] == [False, False, True]


def test_mark_removed_hides_files_but_never_reuses_indexes(store: Store, clock: FakeClock) -> None:
    store.tasks.create(new_task())
    for idx in (1, 2, 3):
        store.variations.add(new_variation(idx=idx))
    later = clock.advance(10)
    assert store.variations.mark_removed("muffins-001", [2, 3, 9]) == [2, 3]
    assert store.variations.mark_removed("muffins-001", [2]) == []  # a retry is harmless
    assert store.variations.mark_removed("muffins-001", []) == []
    assert [v.idx for v in store.variations.list("muffins-001")] == [1]
    every = store.variations.list("muffins-001", include_removed=True)
    assert [(v.idx, v.removed_at) for v in every] == [(1, None), (2, later), (3, later)]
    assert store.variations.next_index("muffins-001") == 4
    with pytest.raises(NotFoundError, match="deleted"):
        store.variations.select("muffins-001", 3)


# --- jobs --------------------------------------------------------------------------------


@pytest.fixture
def task_store(store: Store) -> Store:
    store.tasks.create_many([new_task("a"), new_task("b")])
    return store


def test_enqueue_records_a_pending_job(task_store: Store) -> None:
    job = task_store.jobs.enqueue("generate", "a", {"count": 3, "prompt": "müffins"})
    assert (job.kind, job.task_id, job.status, job.attempts, job.max_attempts) == (
        "generate",
        "a",
        JobStatus.PENDING,
        0,
        3,
    )
    assert job.payload == {"count": 3, "prompt": "müffins"}
    assert job.run_after == job.created_at == T0 and job.last_error is None
    assert task_store.jobs.get(job.id) == job
    assert task_store.jobs.get(job.id + 100) is None
    with pytest.raises(NotFoundError, match="ghost"):
        task_store.jobs.enqueue("generate", "ghost", {})
    with pytest.raises(ValueError, match="max_attempts"):
        task_store.jobs.enqueue("generate", "a", {}, max_attempts=0)
    assert task_store.jobs.enqueue("cleanup", None, {}).task_id is None


def test_enqueue_many_queues_one_job_per_task_in_order(task_store: Store) -> None:
    task_store.jobs.enqueue_many("generate", [("a", {"count": 1}), ("b", {"count": 2})])
    first = task_store.jobs.claim(["generate"])
    second = task_store.jobs.claim(["generate"])
    assert first is not None and second is not None
    assert [(j.task_id, j.payload, j.max_attempts) for j in (first, second)] == [
        ("a", {"count": 1}, 3),
        ("b", {"count": 2}, 3),
    ]
    with pytest.raises(NotFoundError):
        task_store.jobs.enqueue_many("generate", [("a", {}), ("ghost", {})])
    assert task_store.jobs.claim(["generate"]) is None  # nothing of the refused batch stayed


def test_bulk_created_tasks_each_get_a_created_event(store: Store) -> None:
    store.tasks.create_many([new_task("x"), new_task("y"), new_task("z")])
    events = store.events.since(0)
    assert [(e.task_id, e.kind, e.to_status) for e in events] == [
        ("x", "created", TaskStatus.QUEUED),
        ("y", "created", TaskStatus.QUEUED),
        ("z", "created", TaskStatus.QUEUED),
    ]


def test_claim_takes_the_oldest_due_job_of_the_wanted_kinds(
    task_store: Store, clock: FakeClock
) -> None:
    jobs = task_store.jobs
    later = jobs.enqueue("generate", "a", {}, run_after=T0 + timedelta(seconds=30))
    first = jobs.enqueue("generate", "b", {})
    publish = jobs.enqueue("publish", "a", {})
    second = jobs.enqueue("generate", "a", {})
    clock.advance(1)
    claimed = jobs.claim(["generate"])
    assert claimed is not None
    assert (claimed.id, claimed.status, claimed.attempts) == (first.id, JobStatus.RUNNING, 1)
    assert claimed.updated_at == T0 + timedelta(seconds=1)
    assert jobs.claim("generate") == jobs.get(second.id)  # a bare str is one kind
    assert jobs.claim(["generate"]) is None  # `later` is not due yet
    assert jobs.claim([]) is None
    assert jobs.claim(["publish", "generate"]).id == publish.id  # type: ignore[union-attr]
    clock.advance(30)
    assert jobs.claim(["generate"]).id == later.id  # type: ignore[union-attr]
    assert jobs.claim(["generate", "publish"]) is None


def test_run_after_accepts_aware_datetimes(task_store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    aware = (T0 + timedelta(hours=2)).replace(tzinfo=plus_two)  # the same instant as T0
    assert task_store.jobs.enqueue("generate", "a", {}, run_after=aware).run_after == T0


def test_complete_and_fail_with_retries_up_to_max_attempts(
    task_store: Store, clock: FakeClock
) -> None:
    jobs = task_store.jobs
    done = jobs.enqueue("publish", "a", {})
    assert jobs.claim(["publish"]) is not None
    assert jobs.complete(done.id).status is JobStatus.DONE
    assert jobs.claim(["publish"]) is None

    job = jobs.enqueue("generate", "b", {}, max_attempts=2)
    jobs.claim(["generate"])
    retry_at = clock.now + timedelta(seconds=10)
    failed_once = jobs.fail(job.id, "timeout", retry_at=retry_at)
    assert (failed_once.status, failed_once.run_after, failed_once.last_error) == (
        JobStatus.PENDING,
        retry_at,
        "timeout",
    )
    assert jobs.claim(["generate"]) is None  # not before retry_at
    clock.advance(10)
    again = jobs.claim(["generate"])
    assert again is not None and again.attempts == 2
    final = jobs.fail(job.id, "timeout again", retry_at=clock.now)  # no attempts left
    assert (final.status, final.last_error) == (JobStatus.FAILED, "timeout again")
    assert jobs.claim(["generate"]) is None

    no_retry = jobs.enqueue("generate", "b", {})
    jobs.claim(["generate"])
    assert jobs.fail(no_retry.id, "bad prompt", retry_at=None).status is JobStatus.FAILED
    with pytest.raises(NotFoundError, match=r"^no job 10000$"):
        jobs.complete(10_000)
    with pytest.raises(NotFoundError, match=r"^no job 10000$"):
        jobs.fail(10_000, "x", retry_at=None)


def test_cancel_for_task_and_pending_for_task(task_store: Store) -> None:
    jobs = task_store.jobs
    running = jobs.enqueue("generate", "a", {})
    jobs.claim(["generate"])
    pending = jobs.enqueue("generate", "a", {})
    publish = jobs.enqueue("publish", "a", {})
    finished = jobs.enqueue("publish", "a", {})
    other = jobs.enqueue("generate", "b", {})
    jobs.claim(["publish"])
    jobs.complete(publish.id)
    assert [j.id for j in jobs.pending_for_task("a")] == [running.id, pending.id, finished.id]
    assert [j.id for j in jobs.pending_for_task("a", kind="publish")] == [finished.id]

    cancelled = jobs.cancel_for_task("a", kind="generate")
    assert [(j.id, j.status) for j in cancelled] == [
        (running.id, JobStatus.CANCELLED),
        (pending.id, JobStatus.CANCELLED),
    ]
    # A worker finishing a cancelled job cannot bring it back.
    assert jobs.complete(running.id).status is JobStatus.CANCELLED
    assert jobs.fail(running.id, "x", retry_at=None).status is JobStatus.CANCELLED
    assert [j.id for j in jobs.cancel_for_task("a")] == [finished.id]
    assert jobs.get(publish.id).status is JobStatus.DONE  # type: ignore[union-attr]
    assert jobs.pending_for_task("a") == []
    assert [j.id for j in jobs.pending_for_task("b")] == [other.id]


def test_requeue_running_after_a_crash(task_store: Store, clock: FakeClock) -> None:
    jobs = task_store.jobs
    retryable = jobs.enqueue("generate", "a", {}, max_attempts=3)
    last_try = jobs.enqueue("generate", "b", {}, max_attempts=1)
    untouched = jobs.enqueue("publish", "a", {})
    jobs.claim(["generate"])
    jobs.claim(["generate"])
    later = clock.advance(60)
    requeued = jobs.requeue_running()
    assert [(j.id, j.status) for j in requeued] == [
        (retryable.id, JobStatus.PENDING),
        (last_try.id, JobStatus.FAILED),
    ]
    assert requeued[0].run_after == later and requeued[0].attempts == 1
    assert requeued[1].last_error == INTERRUPTED
    assert jobs.get(untouched.id).status is JobStatus.PENDING  # type: ignore[union-attr]
    assert jobs.requeue_running() == []
    counts = jobs.count_by_status()
    assert counts[JobStatus.PENDING] == 2 and counts[JobStatus.FAILED] == 1
    assert counts[JobStatus.RUNNING] == 0


def test_a_job_given_up_at_start_fails_its_waiting_task_unless_work_remains(
    store: Store,
) -> None:
    jobs = store.jobs
    store.tasks.create_many([new_task("lone"), new_task("more"), new_task("done")])
    store.tasks.set_status("done", TaskStatus.REVIEW)
    for task_id in ("lone", "more", "done"):
        jobs.enqueue("generate", task_id, {}, max_attempts=1)
        jobs.claim(["generate"])
    jobs.enqueue("generate", "more", {})  # other work still queued for it
    jobs.requeue_running()
    lone, more, done = (store.tasks.get(task_id) for task_id in ("lone", "more", "done"))
    assert lone is not None and lone.status is TaskStatus.FAILED
    assert lone.error == (
        "gave up its generate job: the daemon stopped during each of its 1 attempt(s); try again"
    )
    assert more is not None and (more.status, more.error) == (TaskStatus.QUEUED, None)
    assert done is not None and done.status is TaskStatus.REVIEW  # not waiting: left alone


def test_enqueue_many_takes_one_attempt_and_refuses_none(task_store: Store) -> None:
    task_store.jobs.enqueue_many("generate", [("a", {})], max_attempts=1)
    job = task_store.jobs.claim(["generate"])
    assert job is not None and job.max_attempts == 1
    with pytest.raises(ValueError, match="max_attempts must be at least 1, got 0"):
        task_store.jobs.enqueue_many("generate", [("a", {})], max_attempts=0)
    with pytest.raises(NotFoundError, match="tasks to queue 'generate' jobs for do not exist"):
        task_store.jobs.enqueue_many("generate", [("a", {}), ("ghost", {})])


def test_release_hands_a_running_job_back_without_using_an_attempt(
    task_store: Store, clock: FakeClock
) -> None:
    jobs = task_store.jobs
    only_try = jobs.enqueue("generate", "a", {}, max_attempts=1)
    claimed = jobs.claim(["generate"])
    assert claimed is not None and claimed.attempts == 1
    later = clock.advance(5)
    released = jobs.release(only_try.id)
    assert (released.status, released.attempts, released.run_after) == (
        JobStatus.PENDING,
        0,
        later,
    )
    again = jobs.claim(["generate"])  # a stop never uses up the job's single attempt
    assert again is not None and again.id == only_try.id
    jobs.complete(only_try.id)
    assert jobs.release(only_try.id).status is JobStatus.DONE  # only running jobs move


def test_concurrent_claims_take_each_job_exactly_once(task_store: Store) -> None:
    total = 120
    with task_store.transaction():
        for n in range(total):
            task_store.jobs.enqueue("generate", "a", {"n": n})
    start = threading.Barrier(4)
    claimed: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def worker(slot: int) -> None:
        try:
            start.wait()
            while (job := task_store.jobs.claim(["generate"])) is not None:
                claimed[slot].append(job.id)
                task_store.jobs.complete(job.id)
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    every = [job_id for ids in claimed for job_id in ids]
    assert len(every) == total and len(set(every)) == total
    assert task_store.jobs.count_by_status()[JobStatus.DONE] == total


# --- posts -------------------------------------------------------------------------------


def test_posts_create_and_look_up(task_store: Store, clock: FakeClock) -> None:
    posts = task_store.posts
    first = posts.create("a", "muffins", "Muffins", "body", "https://cdn/a.png", "glad/a")
    clock.advance(1)
    second = posts.create("b", "muffins-2", "Muffins", "body", "https://cdn/b.png")
    assert (first.task_id, first.slug, first.asset_id, first.created_at) == (
        "a",
        "muffins",
        "glad/a",
        T0,
    )
    assert second.asset_id is None and second.id != first.id
    assert posts.get(first.id) == first
    assert posts.by_task("b") == second
    assert posts.by_slug("muffins") == first
    assert posts.get(999) is None and posts.by_task("zz") is None and posts.by_slug("x") is None
    assert posts.list() == [second, first]
    assert posts.list(limit=1, offset=1) == [first]


def test_slugs_with_prefix(store: Store) -> None:
    slugs = ["muffins", "muffins-2", "muffins-ball", "cakes", "100%_real", "100-real"]
    for n, slug in enumerate(slugs):
        store.tasks.create(new_task(f"t{n}"))
        store.posts.create(f"t{n}", slug, "T", "", "https://cdn/x.png")
    assert store.posts.slugs_with_prefix("muffins") == {"muffins", "muffins-2", "muffins-ball"}
    assert store.posts.slugs_with_prefix("100%") == {"100%_real"}  # no LIKE wildcards
    assert store.posts.slugs_with_prefix("pies") == set()


def test_post_uniqueness_errors_are_translated(task_store: Store) -> None:
    posts = task_store.posts
    posts.create("a", "muffins", "Muffins", "", "https://cdn/a.png")
    with pytest.raises(SlugTakenError, match="'muffins'") as slug_error:
        posts.create("b", "muffins", "Muffins", "", "https://cdn/b.png")
    assert slug_error.value.slug == "muffins"
    with pytest.raises(DuplicatePostError, match="'a'") as task_error:
        posts.create("a", "muffins-again", "Muffins", "", "https://cdn/a.png")
    assert task_error.value.task_id == "a"
    with pytest.raises(NotFoundError, match="ghost"):
        posts.create("ghost", "ghost", "Ghost", "", "https://cdn/g.png")
    assert [p.slug for p in posts.list()] == ["muffins"]
    # The store is still usable after the failed inserts.
    assert posts.create("b", "muffins-2", "Muffins", "", "https://cdn/b.png").slug == "muffins-2"


def test_a_slug_is_unique_per_destination_not_across_them(task_store: Store) -> None:
    task_store.tasks.create(new_task("c"))
    posts = task_store.posts
    local = posts.create("a", "muffins", "Muffins", "", "https://cdn/a.png")
    blog = posts.create(
        "b", "muffins", "Muffins", "", "https://cdn/b.png", destination="postgres",
        location="posts id 7",
    )  # fmt: skip
    assert (local.destination, local.location) == ("local", None)
    assert (blog.destination, blog.location) == ("postgres", "posts id 7")
    with pytest.raises(SlugTakenError):
        posts.create("c", "muffins", "M", "", "https://cdn/c.png", destination="postgres")
    assert posts.by_slug("muffins") == local and posts.by_slug("muffins", "postgres") == blog
    assert posts.by_slugs(["muffins"], "postgres") == {"muffins": blog}
    posts.create("c", "muffins-2", "M", "", "https://cdn/c.png", destination="postgres")
    assert posts.slugs_with_prefixes(["muffins", "pies"], "postgres") == {
        "muffins": {"muffins", "muffins-2"}
    }
    assert posts.slugs_with_prefixes(["muffins"]) == {"muffins": {"muffins"}}
    moved = posts.update_content(blog.id, "New", "", "https://cdn/d.png", None)
    assert moved.location == "posts id 7"  # kept unless a new one is given


def test_post_intents_are_recorded_replaced_and_cleared(store: Store, clock: FakeClock) -> None:
    intents = store.post_intents
    assert intents.get("a") is None
    intents.record("a", "postgres", "pie", action="create", outcome="new", image_url="u1")
    later = clock.advance(3)
    intents.record("a", "postgres", "pie-2", action="create", outcome="suffixed", image_url="u1")
    found = intents.get("a")
    assert found is not None and (found.slug, found.outcome, found.started_at) == (
        "pie-2",
        "suffixed",
        later,
    )
    assert intents.count() == 1
    with store.transaction():
        intents.clear("a")
    assert intents.get("a") is None and intents.count() == 0


def test_migration_3_keeps_every_post_as_local(db_path: Path) -> None:
    Store.open(db_path, migrations=MIGRATIONS[:2]).close()
    connection = duckdb.connect(str(db_path))
    connection.execute(
        "INSERT INTO posts (task_id, slug, title, content, featured_image_url, asset_id,"
        " created_at, updated_at) VALUES ('t', 'muffins', 'Muffins', 'body', 'https://cdn/t.png',"
        " 'glad/t', TIMESTAMP '2026-01-01 10:00:00', TIMESTAMP '2026-01-01 10:00:00')"
    )
    connection.close()
    with Store.open(db_path) as store:
        [post] = store.posts.list()
        assert (post.id, post.slug, post.asset_id) == (1, "muffins", "glad/t")
        assert (post.destination, post.location) == ("local", None)
        store.tasks.create(new_task("u"))
        assert store.posts.create("u", "muffins-2", "M", "", "https://cdn/u.png").id == 2


def test_update_content_keeps_slug_and_task(task_store: Store, clock: FakeClock) -> None:
    posts = task_store.posts
    post = posts.create("a", "muffins", "Muffins", "old", "https://cdn/a.png", "glad/a")
    later = clock.advance(5)
    updated = posts.update_content(post.id, "Better Muffins", "new", "https://cdn/a2.png", None)
    assert (updated.slug, updated.task_id, updated.title, updated.content) == (
        "muffins",
        "a",
        "Better Muffins",
        "new",
    )
    assert (updated.featured_image_url, updated.asset_id) == ("https://cdn/a2.png", None)
    assert (updated.created_at, updated.updated_at) == (T0, later)
    for n in range(20):  # repeated updates of a table with UNIQUE columns stay fine
        posts.update_content(post.id, f"v{n}", "", "https://cdn/a.png", None)
    with pytest.raises(NotFoundError):
        posts.update_content(999, "t", "", "u", None)


# --- events ------------------------------------------------------------------------------


def test_events_are_read_back_in_ascending_order(store: Store, clock: FakeClock) -> None:
    assert store.events.last_id() == 0
    first = store.events.add("daemon_started", actor="service", detail={"pid": 1})
    store.tasks.create(new_task())
    clock.advance(1)
    store.events.add("variation_added", "muffins-001", detail={"index": 1})
    every = store.events.since(0)
    assert [e.kind for e in every] == ["daemon_started", EventKind.CREATED, "variation_added"]
    assert [e.id for e in every] == sorted(e.id for e in every)
    assert every[0] == first and first.task_id is None and first.detail == {"pid": 1}
    assert every[2].at == T0 + timedelta(seconds=1)
    assert store.events.last_id() == every[-1].id
    assert store.events.since(every[-1].id) == []
    assert store.events.since(first.id, limit=1) == [every[1]]
    assert [e.kind for e in store.events.for_task("muffins-001")] == [
        EventKind.CREATED,
        "variation_added",
    ]
    with pytest.raises(TypeError):
        store.events.add("bad", detail={"when": datetime.now()})


def test_a_stream_reader_resuming_from_its_last_id_misses_nothing(store: Store) -> None:
    # Writers on several threads while a reader polls since(last seen id): every
    # event is seen exactly once, because ids commit in increasing order.
    writers, per_writer = 4, 40
    done = threading.Event()
    seen: list[int] = []

    def write(n: int) -> None:
        for i in range(per_writer):
            store.events.add("tick", detail={"writer": n, "i": i})

    def read() -> None:
        last = 0
        while True:
            finished = done.is_set()
            batch = store.events.since(last)
            seen.extend(e.id for e in batch)
            last = batch[-1].id if batch else last
            if finished and not batch:
                return

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    done.set()
    reader.join(timeout=30)
    assert len(seen) == writers * per_writer == len(set(seen))
    assert seen == sorted(seen)


# --- durability --------------------------------------------------------------------------

_CRASHING_WRITER = """
import sys, time
from pathlib import Path
from daemon.store import NewTask, Store
from tests.paths import REPO
store = Store.open(Path(sys.argv[1]))
store.tasks.create(NewTask(id="survivor", title="Survivor", prompt="p", variations=1,
                           steps=1, guidance_scale=1.0, width=64, height=64))
print("committed", flush=True)
time.sleep(60)
"""


def test_committed_work_survives_kill_9(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_WRITER, str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert writer.stdout is not None
        line = writer.stdout.readline()
        assert line.strip() == "committed", writer.stderr.read() if writer.stderr else ""
        # While it lives, the writer holds the file: a second process is refused clearly.
        with pytest.raises(StoreError, match="another gladtui daemon"):
            Store.open(db_path)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        for stream in (writer.stdout, writer.stderr):
            if stream is not None:
                stream.close()
    assert writer.returncode == -signal.SIGKILL
    assert db_path.with_name(db_path.name + ".wal").exists()  # the work is only in the WAL
    with Store.open(db_path) as store:
        task = store.tasks.get("survivor")
        assert task is not None and task.status is TaskStatus.QUEUED
        assert schema_version(store) == latest_version()


# -- what the API reads and writes ------------------------------------------------------------


def test_list_and_count_filter_by_status_and_title(store: Store, clock: FakeClock) -> None:
    for n, title in enumerate(["Muffins at home", "Sourdough basics", "More MUFFINS"]):
        store.tasks.create(new_task(f"t{n}", title=title))
        clock.advance(1)
    store.tasks.set_status("t1", TaskStatus.REVIEW)
    assert [t.id for t in store.tasks.list(title_contains="muffins")] == ["t2", "t0"]
    assert store.tasks.count(title_contains="muffins") == 2
    assert store.tasks.count(TaskStatus.QUEUED, title_contains="sourdough") == 0
    assert store.tasks.count([TaskStatus.QUEUED, TaskStatus.REVIEW]) == 3
    assert [t.id for t in store.tasks.list(None, 1, 1)] == ["t1"]
    assert [t.id for t in store.tasks.summaries(ids=["t0", "t2", "nope"])] == ["t2", "t0"]


def test_set_generation_changes_only_what_is_given(store: Store) -> None:
    store.tasks.create(new_task())
    changed = store.tasks.set_generation("muffins-001", prompt="lemon tarts")
    assert (changed.prompt, changed.steps) == ("lemon tarts", 30)
    assert store.tasks.set_generation("muffins-001", steps=4).prompt == "lemon tarts"
    with pytest.raises(NotFoundError):
        store.tasks.set_generation("nope", steps=4)


def test_add_many_variations_and_the_task_summaries(store: Store, clock: FakeClock) -> None:
    for task_id in "abc":
        store.tasks.create(new_task(task_id))
        clock.advance(1.5)
    store.variations.add_many([new_variation("a", n) for n in (1, 2, 3)] + [new_variation("b")])
    store.variations.select("a", 2)
    store.variations.mark_removed("a", [3])
    summaries = {s.id: s for s in store.tasks.summaries()}
    counts = {i: (s.variation_count, s.selected_variation) for i, s in summaries.items()}
    assert counts == {"a": (2, 2), "b": (1, None), "c": (0, None)}
    assert summaries["b"].created_at == "2025-01-02T03:04:07.178Z"  # ISO, UTC, milliseconds
    with pytest.raises(DuplicateVariationError):
        store.variations.add_many([new_variation("b", 2), new_variation("b", 1)])
    assert [v.idx for v in store.variations.list("b")] == [1]  # all or nothing
    with pytest.raises(NotFoundError):
        store.variations.add_many([new_variation("ghost")])


def test_posts_by_ids_by_slugs_and_count(store: Store) -> None:
    store.tasks.create_many([new_task("a"), new_task("b")])
    post = store.posts.create("a", "a-slug", "A", "", "file:///a.png")
    assert list(store.posts.by_ids([post.id, post.id + 1])) == [post.id]
    assert list(store.posts.by_slugs(["a-slug", "b-slug"])) == ["a-slug"]
    assert store.posts.count() == 1


def test_commit_listeners_run_after_commit_and_not_on_rollback(store: Store) -> None:
    seen: list[int] = []
    remove = store.add_commit_listener(lambda: seen.append(store.events.last_id()))
    store.tasks.create(new_task())
    assert seen == [store.events.last_id()]  # the new event is already visible
    with pytest.raises(RuntimeError), store.transaction():
        store.tasks.set_status("muffins-001", TaskStatus.REVIEW)
        raise RuntimeError("rolled back")
    assert len(seen) == 1
    remove()
    store.tasks.set_status("muffins-001", TaskStatus.REVIEW)
    assert len(seen) == 1


def test_an_idle_claim_commits_nothing(store: Store, clock: FakeClock) -> None:
    store.tasks.create(new_task())
    store.jobs.enqueue("generate", "muffins-001", {}, run_after=clock() + timedelta(seconds=60))
    commits: list[None] = []
    store.add_commit_listener(lambda: commits.append(None))
    assert store.jobs.claim(["generate"]) is None  # not due yet
    assert store.jobs.claim(["publish"]) is None  # no such job
    assert commits == []
    clock.advance(61)
    claimed = store.jobs.claim(["generate"])
    assert claimed is not None and len(commits) == 1
    store.jobs.complete(claimed.id)
    store.jobs.enqueue("publish", "muffins-001", {})
    assert len(store.jobs.cancel_for_task("muffins-001")) == 1
    commits.clear()
    # Jobs done or cancelled, due long ago, are nothing to claim: still no commit.
    assert store.jobs.claim(["generate", "publish"]) is None
    assert commits == []


def test_tasks_and_variations_of_schema_2_gain_the_generation_settings(db_path: Path) -> None:
    """A database written before samplers and LoRAs existed opens with their defaults."""
    import duckdb

    with Store.open(db_path, migrations=MIGRATIONS[:2]):
        pass
    connection = duckdb.connect(str(db_path))
    connection.execute(
        "INSERT INTO tasks (id, title, prompt, variations, steps, guidance_scale, width, height,"
        " status, created_at, updated_at) VALUES ('old', 'Old', 'p', 1, 30, 7.0, 64, 64,"
        " 'review', ?, ?)",
        [T0, T0],
    )
    connection.execute(
        "INSERT INTO variations (task_id, idx, path, seed, prompt, width, height, steps,"
        " guidance_scale, model, created_at) VALUES ('old', 1, '/x.png', 42, 'p', 64, 64, 30,"
        " 7.0, 'm', ?)",
        [T0],
    )
    connection.close()
    with Store.open(db_path) as store:
        task = store.tasks.get("old")
        assert task is not None
        assert (task.scheduler, task.loras, task.file_loras, task.preset, task.warnings) == (
            None,
            {},
            {},
            None,
            [],
        )
        (variation,) = store.variations.list("old")
        assert (variation.scheduler, variation.sampler, variation.loras) == (None, None, {})
        assert (variation.preset, variation.from_variation) == (None, None)
        (summary,) = store.tasks.summaries()
        assert summary.loras == {} and summary.warnings == []
        updated = store.tasks.set_warnings("old", ["prompt: cut"])
        assert updated.warnings == ["prompt: cut"]


def schema_version(store: Store) -> int:
    """The latest migration applied (the store itself only needs the list)."""
    applied = store.migrations_applied()
    return applied[-1].version if applied else 0
