"""The tasks repository (daemon/store/tasks.py): rows, statuses with their events,
lists, counts and compare-and-set.

No mocks: each test opens a real DuckDB file in tmp_path, with an injected clock
so timestamps are exact (tests/daemon/store/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from daemon.store import DuplicateTaskError, NotFoundError, StatusConflictError, Store
from gladtui.shapes import EventKind, TaskStatus
from tests.daemon.store.helpers import T0, FakeClock, new_task


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


def test_bulk_created_tasks_each_get_a_created_event(store: Store) -> None:
    store.tasks.create_many([new_task("x"), new_task("y"), new_task("z")])
    events = store.events.since(0)
    assert [(e.task_id, e.kind, e.to_status) for e in events] == [
        ("x", "created", TaskStatus.QUEUED),
        ("y", "created", TaskStatus.QUEUED),
        ("z", "created", TaskStatus.QUEUED),
    ]


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
