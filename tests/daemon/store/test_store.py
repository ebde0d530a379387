"""The store itself (daemon/store/store.py, db.py): opening, closing, its clock,
transactions and commit listeners, and committed work surviving kill -9.

No mocks: each test opens a real DuckDB file in tmp_path, with an injected clock
so timestamps are exact (tests/daemon/store/conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.store import Store, StoreError, latest_version, utc_now
from gladtui.shapes import TaskStatus
from tests.daemon.store.helpers import new_task, schema_version
from tests.paths import REPO


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


_CRASHING_WRITER = """
import sys, time
from pathlib import Path
from daemon.store import NewTask, Store
store = Store.open(Path(sys.argv[1]))
store.tasks.create(NewTask(id="survivor", title="Survivor", prompt="p", variations=1,
                           steps=1, guidance_scale=1.0, width=64, height=64))
print("committed", flush=True)
time.sleep(60)
"""


def test_committed_work_survives_kill_9(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writer = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_WRITER, str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
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
