"""The running daemon's watcher on the real filesystem: native events and polling."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from daemon.generation.models import LoadedModel, ModelError
from daemon.intake.dropfolder import DropFolder
from daemon.intake.ingest import Ingestor
from daemon.intake.watcher import DropWatcher, polling_requested
from daemon.service.process import Daemon
from daemon.store import Store
from gladtui.cli.submit import submit_file
from gladtui.config import Config
from gladtui.shapes import TaskStatus
from gladtui.taskfile import TaskRules
from tests.apidaemon import wait_until
from tests.paths import TASKFILES

HOSTILE = TASKFILES / "hostile"


def make_config(root: Path, *, polling: bool, stable: float = 0.25) -> Config:
    return Config.model_validate(
        {
            "drop_dir": str(root / "drop"),
            "state_dir": str(root / "state"),
            "preview_dir": str(root / "previews"),
            "cache_dir": str(root / "cache"),
            "socket": str(root / "d.sock"),
            "watch": {"stable_seconds": stable, "rescan_seconds": 30.0, "force_polling": polling},
        }
    )


def ingest_only(config: Config) -> Daemon:
    """A daemon whose model is still "loading" until it stops: these tests are about
    ingestion, and generating images meanwhile would only compete for the CPU."""
    stop = threading.Event()

    def parked_loader() -> LoadedModel:
        stop.wait()
        raise ModelError("stopped before the model was needed")

    return Daemon(config, stop=stop, loader=parked_loader)


@pytest.fixture(params=[False, True], ids=["native", "polling"])
def daemon(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Daemon]:
    running = ingest_only(make_config(tmp_path, polling=request.param))
    running.start()
    yield running
    running.stop_event.set()
    running.wait()


def task_bytes(title: str, content: str = "") -> bytes:
    text = f"title: {title}\nprompt: a photo of {title}\n"
    if content:
        text += f"content: {content}\n"
    return text.encode()


def statuses(store: Store) -> dict[str, TaskStatus]:
    return {str(t.source_file): t.status for t in store.tasks.list()}


def test_a_dropped_file_becomes_a_task(daemon: Daemon) -> None:
    (daemon.folder.root / "cat.yaml").write_bytes(task_bytes("cat"))
    wait_until(lambda: statuses(daemon.store).get("cat.yaml") == TaskStatus.QUEUED)
    wait_until(lambda: (daemon.folder.processed / "cat.yaml").exists())


def test_slow_writer_is_never_read_half_way(daemon: Daemon) -> None:
    # Every prefix of this file that ends on a line is itself a valid task with
    # shorter content, so a half-way read would be accepted, not refused.
    content = "x" * 2000
    data = task_bytes("slow", content)
    path = daemon.folder.root / "slow.yaml"
    with path.open("wb") as f:
        for start in range(0, len(data), 100):
            f.write(data[start : start + 100])
            f.flush()
            time.sleep(0.05)
    wait_until(lambda: "slow.yaml" in statuses(daemon.store))
    [task] = daemon.store.tasks.list()
    assert task.content == content


def test_deleted_before_stable_is_forgotten(tmp_path: Path) -> None:
    running = ingest_only(make_config(tmp_path, polling=False, stable=1.0))
    running.start()
    try:
        path = running.folder.root / "short-lived.yaml"
        path.write_bytes(task_bytes("short"))
        time.sleep(0.3)
        path.unlink()
        (running.folder.root / "after.yaml").write_bytes(task_bytes("after"))
        wait_until(lambda: "after.yaml" in statuses(running.store))
        assert set(statuses(running.store)) == {"after.yaml"}
        assert list(running.folder.failed.iterdir()) == []
    finally:
        running.stop_event.set()
        running.wait()


def test_submitted_file_is_taken_without_waiting(tmp_path: Path) -> None:
    running = ingest_only(make_config(tmp_path, polling=False, stable=30.0))
    running.start()
    try:
        source = tmp_path / "fast.yaml"
        source.write_bytes(task_bytes("fast"))
        submit_file(source, running.folder.root, rules=TaskRules())
        # The window is 30 s; a renamed-in file does not wait for it.
        wait_until(lambda: "fast.yaml" in statuses(running.store), timeout=10)
    finally:
        running.stop_event.set()
        running.wait()


def test_touched_again_after_queued_is_still_one_task(daemon: Daemon) -> None:
    data = task_bytes("again")
    (daemon.folder.root / "again.yaml").write_bytes(data)
    wait_until(lambda: (daemon.folder.processed / "again.yaml").exists())
    os.utime(daemon.folder.processed / "again.yaml")  # processed/ is not watched
    (daemon.folder.root / "again.yaml").write_bytes(data)  # the producer drops it again
    wait_until(lambda: (daemon.folder.processed / "again-2.yaml").exists())
    assert len(daemon.store.tasks.list()) == 1


def test_burst_of_a_thousand_files_is_ingested_once_each(daemon: Daemon, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    for i in range(1000):
        (staging / f"burst-{i:04d}.yaml").write_bytes(task_bytes(f"burst {i}"))
    for path in staging.iterdir():
        path.rename(daemon.folder.root / path.name)
    wait_until(lambda: len(list(daemon.folder.processed.iterdir())) == 1000, timeout=60)
    tasks = daemon.store.tasks.list()
    assert len(tasks) == 1000
    assert len({t.id for t in tasks}) == 1000
    assert list(daemon.folder.scan()) == []


def test_files_present_at_start_are_ingested(tmp_path: Path) -> None:
    config = make_config(tmp_path, polling=False)
    config.drop_dir.mkdir(parents=True)
    (config.drop_dir / "early.yaml").write_bytes(task_bytes("early"))
    running = ingest_only(config)
    running.start()
    try:
        wait_until(lambda: "early.yaml" in statuses(running.store))
    finally:
        running.stop_event.set()
        running.wait()


def test_hostile_files_are_refused_while_good_files_keep_flowing(
    daemon: Daemon, tmp_path: Path
) -> None:
    hostile = sorted(HOSTILE.iterdir())
    for i, path in enumerate(hostile):
        shutil.copyfile(path, daemon.folder.root / f"{path.stem}.yaml")
        if i % 10 == 0:
            (daemon.folder.root / f"good-{i}.yaml").write_bytes(task_bytes(f"good {i}"))
    good = [f"good-{i}.yaml" for i in range(0, len(hostile), 10)]

    def settled() -> bool:
        return len(list(daemon.folder.scan())) == 0 and len(statuses(daemon.store)) >= len(good)

    wait_until(settled, timeout=30)
    seen = statuses(daemon.store)
    assert all(seen[name] is TaskStatus.QUEUED for name in good)
    for path in hostile:
        name = f"{path.stem}.yaml"
        # Each is refused with its reason, or (same bytes as another) a duplicate of one.
        assert (daemon.folder.failed / name).exists(), name
        assert (daemon.folder.failed / f"{name}.error.txt").read_text().strip(), name
    assert daemon.watcher  # still running: a final good file still goes through
    (daemon.folder.root / "last.yaml").write_bytes(task_bytes("last"))
    wait_until(lambda: statuses(daemon.store).get("last.yaml") == TaskStatus.QUEUED)


def test_the_rescan_finds_files_no_event_reported(tmp_path: Path) -> None:
    folder = DropFolder(tmp_path / "drop")
    stop = threading.Event()

    def silence() -> Iterable[list[Path]]:  # an event source that misses everything
        while not stop.wait(0.05):
            yield []

    with Store.open(tmp_path / "db.duckdb") as store:
        watcher = DropWatcher(
            folder,
            Ingestor(store, folder, TaskRules()).ingest,
            stable_seconds=0.1,
            rescan_seconds=0.3,
            stop=stop,
            changes=silence,
        )
        thread = threading.Thread(target=watcher.run)
        thread.start()
        try:
            assert watcher.watching.wait(10)  # watched and scanned: now only a rescan can see it
            (folder.root / "unseen.yaml").write_bytes(task_bytes("unseen"))
            wait_until(lambda: "unseen.yaml" in statuses(store), timeout=5)
        finally:
            stop.set()
            thread.join()


def test_daemon_keeps_running_when_the_drop_folder_vanishes(tmp_path: Path) -> None:
    running = ingest_only(make_config(tmp_path, polling=False))
    running.start()
    try:
        (running.folder.root / "a.yaml").write_bytes(task_bytes("a"))
        wait_until(lambda: "a.yaml" in statuses(running.store))
        shutil.rmtree(running.folder.root)
        # The daemon notices, says so, and makes the folder again: no one else has to.
        wait_until(lambda: running.folder.root.is_dir(), timeout=15)
        (running.folder.root / "b.yaml").write_bytes(task_bytes("b"))
        wait_until(lambda: "b.yaml" in statuses(running.store), timeout=15)
    finally:
        running.stop_event.set()
        running.wait()


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        (False, {}, False),
        (True, {}, True),
        (False, {"WATCHFILES_FORCE_POLLING": "1"}, True),
        (False, {"WATCHFILES_FORCE_POLLING": "yes"}, True),
        (False, {"WATCHFILES_FORCE_POLLING": "false"}, False),
        (False, {"WATCHFILES_FORCE_POLLING": "disable"}, False),
        (False, {"WATCHFILES_FORCE_POLLING": ""}, False),
    ],
)
def test_polling_follows_config_and_watchfiles_env(
    configured: bool, env: dict[str, str], expected: bool
) -> None:
    assert polling_requested(configured, env) is expected
