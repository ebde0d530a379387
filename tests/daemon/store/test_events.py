"""The events log (daemon/store/events.py): read back in order, resumed without a gap.

No mocks: each test opens a real DuckDB file in tmp_path, with an injected clock
so timestamps are exact (tests/daemon/store/conftest.py).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from daemon.store import Store
from gladtui.shapes import EventKind
from tests.daemon.store.helpers import T0, FakeClock, new_task


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
