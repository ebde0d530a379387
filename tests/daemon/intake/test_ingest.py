"""Ingest: files become tasks exactly once; refusals keep the file. Real store, real files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.intake.dropfolder import DropFolder
from daemon.intake.ingest import Ingestor
from daemon.store import JobStatus, Store
from daemon.store.jobkinds import GENERATE
from gladtui.shapes import TaskStatus
from gladtui.taskfile import TaskRules
from tests.paths import REPO

ROOT = REPO
MUFFINS = (ROOT / "examples" / "muffins.yaml").read_bytes()


def task_bytes(title: str, **extra: object) -> bytes:
    lines = [f"title: {title}", f"prompt: a photo of {title.lower()}"]
    lines += [f"{key}: {value}" for key, value in extra.items()]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state" / "gladtui.duckdb") as store:
        yield store


@pytest.fixture
def folder(tmp_path: Path) -> DropFolder:
    folder = DropFolder(tmp_path / "drop")
    folder.prepare()
    return folder


@pytest.fixture
def ingestor(store: Store, folder: DropFolder) -> Ingestor:
    return Ingestor(store, folder, TaskRules())


def drop(folder: DropFolder, name: str, data: bytes) -> Path:
    path = folder.root / name
    path.write_bytes(data)
    return path


def test_valid_file_becomes_a_queued_task_with_a_generation_job(
    ingestor: Ingestor, store: Store, folder: DropFolder
) -> None:
    path = drop(folder, "muffins.yaml", MUFFINS)
    [outcome] = ingestor.ingest([path])
    assert (outcome.kind, outcome.task_id) == ("accepted", "muffins-001")
    task = store.tasks.get("muffins-001")
    assert task is not None
    assert task.status is TaskStatus.QUEUED
    assert task.title == "Making Delicious Muffins"
    assert (task.variations, task.seed, task.source_file) == (3, 42, "muffins.yaml")
    [job] = store.jobs.pending_for_task("muffins-001")
    assert (job.kind, job.status) == (GENERATE, JobStatus.PENDING)
    assert job.payload == {"first_index": 1, "count": 3}
    assert not path.exists()
    assert (folder.processed / "muffins.yaml").read_bytes() == MUFFINS


def test_invalid_file_becomes_an_invalid_task_and_moves_to_failed(
    ingestor: Ingestor, store: Store, folder: DropFolder
) -> None:
    path = drop(folder, "Bad Task.yaml", b"title: Bad\nstepz: 3\n")
    [outcome] = ingestor.ingest([path])
    assert (outcome.kind, outcome.task_id) == ("refused", "bad-task")
    task = store.tasks.get("bad-task")
    assert task is not None and task.status is TaskStatus.INVALID
    assert task.title == "Bad"  # the file's own title; its name is kept beside it
    assert task.source_file == "Bad Task.yaml"
    assert task.error is not None
    assert "prompt: required" in task.error and "unknown field 'stepz'" in task.error
    assert store.jobs.pending_for_task("bad-task") == []
    assert (folder.failed / "Bad Task.yaml").read_bytes() == b"title: Bad\nstepz: 3\n"
    assert (folder.failed / "Bad Task.yaml.error.txt").read_text() == task.error + "\n"
    # A title that is itself the problem: the file's name stands in for it.
    [named] = ingestor.ingest([drop(folder, "untitled.yaml", b"title: [1, 2]\nprompt: p\n")])
    untitled = store.tasks.get(named.task_id)
    assert untitled is not None and untitled.title == "untitled.yaml"


def test_same_content_under_another_name_is_one_task(
    ingestor: Ingestor, store: Store, folder: DropFolder, caplog: pytest.LogCaptureFixture
) -> None:
    ingestor.ingest([drop(folder, "muffins.yaml", MUFFINS)])
    caplog.set_level("INFO")
    [outcome] = ingestor.ingest([drop(folder, "muffins (copy).yaml", MUFFINS)])
    assert (outcome.kind, outcome.task_id) == ("duplicate", "muffins-001")
    assert [t.id for t in store.tasks.list()] == ["muffins-001"]
    assert len(store.jobs.pending_for_task("muffins-001")) == 1
    assert (folder.processed / "muffins (copy).yaml").exists()
    assert "muffins (copy).yaml is a duplicate of task muffins-001" in caplog.text


def test_same_content_twice_in_one_batch_is_one_task(
    ingestor: Ingestor, store: Store, folder: DropFolder
) -> None:
    paths = [drop(folder, name, MUFFINS) for name in ("a.yaml", "b.yaml", "c.yaml")]
    outcomes = ingestor.ingest(paths)
    assert sorted(o.kind for o in outcomes) == ["accepted", "duplicate", "duplicate"]
    assert len(store.tasks.list()) == 1
    assert sorted(p.name for p in folder.processed.iterdir()) == ["a.yaml", "b.yaml", "c.yaml"]


def test_same_invalid_content_again_is_the_same_refusal(
    ingestor: Ingestor, store: Store, folder: DropFolder
) -> None:
    ingestor.ingest([drop(folder, "bad.yaml", b"title: [\n")])
    [outcome] = ingestor.ingest([drop(folder, "bad again.yaml", b"title: [\n")])
    assert (outcome.kind, outcome.task_id) == ("duplicate", "bad")
    assert len(store.tasks.list()) == 1
    assert (folder.failed / "bad again.yaml.error.txt").exists()


def test_a_different_file_with_the_same_id_gets_a_distinct_id(
    ingestor: Ingestor, store: Store, folder: DropFolder
) -> None:
    ingestor.ingest([drop(folder, "muffins.yaml", task_bytes("Muffins"))])
    later = ingestor.ingest([drop(folder, "muffins.yaml", task_bytes("Muffins", steps=20))])
    same_batch = ingestor.ingest(
        [
            drop(folder, "x.yaml", task_bytes("One", id="shared")),
            drop(folder, "y.yaml", task_bytes("Two", id="shared")),
        ]
    )
    assert [o.task_id for o in later] == ["muffins-2"]
    assert sorted(o.task_id for o in same_batch) == ["shared", "shared-2"]
    muffins = store.tasks.get("muffins")
    muffins_2 = store.tasks.get("muffins-2")
    assert muffins is not None and muffins.steps == 30
    assert muffins_2 is not None and muffins_2.steps == 20  # never overwritten
    assert sorted(p.name for p in folder.processed.iterdir()) == [
        "muffins-2.yaml",
        "muffins.yaml",
        "x.yaml",
        "y.yaml",
    ]


def test_directory_symlink_and_fifo_are_refused_and_kept(
    ingestor: Ingestor, store: Store, folder: DropFolder, tmp_path: Path
) -> None:
    (folder.root / "dir.yaml").mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("title: stolen\nprompt: secret\n")
    (folder.root / "link.yaml").symlink_to(secret)
    os.mkfifo(folder.root / "pipe.yaml")
    outcomes = ingestor.ingest(
        [folder.root / name for name in ("dir.yaml", "link.yaml", "pipe.yaml")]
    )
    assert sorted(o.kind for o in outcomes) == ["refused"] * 3
    errors = {t.source_file: t.error for t in store.tasks.list()}
    assert "is a directory" in str(errors["dir.yaml"])
    assert "is a symbolic link" in str(errors["link.yaml"])
    assert "named pipe" in str(errors["pipe.yaml"])
    assert (folder.failed / "dir.yaml").is_dir()
    assert (folder.failed / "link.yaml").is_symlink()
    assert secret.read_text().startswith("title: stolen")  # the target is untouched


def test_one_bad_file_does_not_stop_the_batch(
    ingestor: Ingestor, store: Store, folder: DropFolder
) -> None:
    paths = [drop(folder, f"t{i}.yaml", task_bytes(f"Task {i}")) for i in range(5)]
    paths.insert(2, drop(folder, "bomb.yaml", b"a: &a [x]\nb: *a\n"))
    paths.insert(4, drop(folder, "gone.yaml", task_bytes("Gone")))
    (folder.root / "gone.yaml").unlink()  # deleted between readiness and reading
    outcomes = ingestor.ingest(paths)
    assert sorted(o.kind for o in outcomes).count("accepted") == 5
    counts = store.tasks.count_by_status()
    assert counts[TaskStatus.QUEUED] == 5
    assert counts[TaskStatus.INVALID] == 1  # the bomb; the file that vanished is forgotten
    assert len(list(folder.processed.iterdir())) == 5


def test_file_that_cannot_be_moved_is_recognised_on_the_next_pass(
    ingestor: Ingestor, store: Store, folder: DropFolder
) -> None:
    path = drop(folder, "muffins.yaml", MUFFINS)
    folder.processed.rmdir()
    folder.processed.write_text("not a folder")  # the move fails; the task is committed
    [first] = ingestor.ingest([path])
    assert first.kind == "accepted" and first.moved_to is None and path.exists()
    folder.processed.unlink()
    folder.prepare()
    [second] = ingestor.ingest([path])
    assert (second.kind, second.task_id) == ("duplicate", "muffins-001")
    assert len(store.tasks.list()) == 1
    assert not path.exists()
