"""The variations repository (daemon/store/variations.py): indexes, selection, removal.

No mocks: each test opens a real DuckDB file in tmp_path, with an injected clock
so timestamps are exact (tests/daemon/store/conftest.py).
"""

from __future__ import annotations

import pytest

from daemon.store import DuplicateVariationError, NotFoundError, Store
from tests.daemon.store.helpers import T0, FakeClock, new_task, new_variation


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
