"""The store's fixtures: a real DuckDB file in tmp_path, opened on a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.store import Store
from tests.daemon.store.helpers import FakeClock, new_task


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


@pytest.fixture
def task_store(store: Store) -> Store:
    store.tasks.create_many([new_task("a"), new_task("b")])
    return store
