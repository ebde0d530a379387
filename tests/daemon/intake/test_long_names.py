"""File names near the 255-byte limit (NAME_MAX) through the daemon's intake, on real files.

Issue 29: a refused file whose name was near the limit was linked into failed/,
but `<name>.error.txt` could not be created (ENAMETOOLONG), so the file stayed
in the drop folder and every rescan logged an ERROR followed by a false
"moved to failed/"; a second valid file under a 255-byte name became a task,
but `processed/…-2.yaml` (257 bytes) could not be created, so it stayed too.
Names are now shortened to fit with their suffixes, cut on a UTF-8 character
boundary, the extension kept (gladtui/atomicfiles.py, free_names).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.intake.dropfolder import DropFolder
from daemon.intake.ingest import Ingestor
from daemon.store import Store
from gladtui.taskfile import TaskRules

NAME_MAX = 255
REFUSED = b"title: Long\nstepz: 3\n"


def name_of(size: int, char: str) -> str:
    """A `.yaml` name of exactly `size` bytes ending in as many `char`s as fit."""
    room = size - len(".yaml")
    count = room // len(char.encode())
    return "x" * (room - count * len(char.encode())) + char * count + ".yaml"


NAMES = {
    "ascii-255": name_of(255, "a"),
    "ascii-250": name_of(250, "a"),
    "ascii-246": name_of(246, "a"),  # `.error.txt` beside it would be 256 bytes
    "2-byte-255": name_of(255, "é"),
    "3-byte-254": name_of(254, "€"),
    "4-byte-255": name_of(255, "🧁"),
    "4-byte-252": name_of(252, "🧁"),
}
assert all(len(os.fsencode(name)) == int(key[-3:]) for key, name in NAMES.items())


def task_bytes(title: str) -> bytes:
    return f"title: {title}\nprompt: a photo of {title}\nvariations: 1\n".encode()


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


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def drop(folder: DropFolder, name: str, data: bytes) -> Path:
    path = folder.root / name
    path.write_bytes(data)
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if not entry.is_dir())


def assert_fits(name: str, original: str) -> None:
    """At most NAME_MAX bytes, whole characters, the extension kept, the start unchanged."""
    encoded = os.fsencode(name)
    assert len(encoded) <= NAME_MAX, name
    encoded.decode("utf-8")  # strict: no character cut in half
    assert name.endswith((".yaml", ".yaml.error.txt")), name
    start = os.fsencode(original)[:150].decode("utf-8", "ignore")
    assert name.startswith(start), name


def errors(log: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in log.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_a_refused_file_leaves_the_drop_folder_with_its_reason(
    ingestor: Ingestor, folder: DropFolder, log: pytest.LogCaptureFixture, name: str
) -> None:
    drop(folder, name, REFUSED)
    [outcome] = ingestor.ingest(folder.scan())
    assert outcome.kind == "refused" and outcome.moved_to is not None
    assert files_in(folder.root) == []
    moved = outcome.moved_to
    reason = moved.with_name(moved.name + ".error.txt")
    assert files_in(folder.failed) == sorted([moved.name, reason.name])
    assert moved.read_bytes() == REFUSED
    assert "stepz" in reason.read_text(encoding="utf-8")
    for kept in (moved.name, reason.name):
        assert_fits(kept, name)
    assert errors(log) == []

    log.clear()  # the next rescan: nothing left to do, nothing said
    assert ingestor.ingest(folder.scan()) == []
    assert log.records == []


@pytest.mark.parametrize("name", NAMES.values(), ids=NAMES.keys())
def test_valid_files_under_one_long_name_all_reach_processed(
    ingestor: Ingestor,
    store: Store,
    folder: DropFolder,
    log: pytest.LogCaptureFixture,
    name: str,
) -> None:
    moved = []
    for title in ("One", "Two", "Three"):  # the same name each time, once the last has moved
        drop(folder, name, task_bytes(title))
        [outcome] = ingestor.ingest(folder.scan())
        assert outcome.kind == "accepted" and outcome.moved_to is not None, outcome
        assert files_in(folder.root) == []
        moved.append(outcome.moved_to)
    assert [path.read_bytes() for path in moved] == [task_bytes(t) for t in ("One", "Two", "Three")]
    assert files_in(folder.processed) == sorted(path.name for path in moved)
    for path in moved:
        assert_fits(path.name, name)
    assert moved[1].name.endswith("-2.yaml") and moved[2].name.endswith("-3.yaml")
    assert sorted(task.title for task in store.tasks.list()) == ["One", "Three", "Two"]
    assert errors(log) == []


@pytest.mark.parametrize("name", [NAMES["ascii-255"], NAMES["4-byte-255"]], ids=["ascii", "utf8"])
def test_refused_files_under_one_long_name_each_keep_their_reason(
    ingestor: Ingestor, folder: DropFolder, log: pytest.LogCaptureFixture, name: str
) -> None:
    for n in (1, 2):
        drop(folder, name, REFUSED + f"# {n}\n".encode())
        [outcome] = ingestor.ingest(folder.scan())
        assert outcome.kind == "refused" and outcome.moved_to is not None
    failed = files_in(folder.failed)
    assert len(failed) == 4 and files_in(folder.root) == []
    for kept in failed:
        assert_fits(kept, name)
    assert sum(kept.endswith("-2.yaml.error.txt") for kept in failed) == 1
    assert errors(log) == []


def test_the_same_refused_bytes_again_under_a_long_name(
    ingestor: Ingestor, folder: DropFolder, log: pytest.LogCaptureFixture
) -> None:
    name = NAMES["ascii-255"]
    drop(folder, name, REFUSED)
    ingestor.ingest(folder.scan())
    drop(folder, name, REFUSED)  # a duplicate of the refusal: it joins the first in failed/
    [outcome] = ingestor.ingest(folder.scan())
    assert outcome.kind == "duplicate" and outcome.moved_to is not None
    assert files_in(folder.root) == [] and len(files_in(folder.failed)) == 4
    assert f"{name} is a duplicate of task" in log.text
    assert f"moved to failed/{outcome.moved_to.name}" in log.text
    assert errors(log) == []


def test_a_long_name_that_is_not_utf8_is_renamed_to_one_that_fits(
    ingestor: Ingestor, folder: DropFolder, log: pytest.LogCaptureFixture
) -> None:
    """Each byte that is not UTF-8 becomes `%XX`: three bytes for one."""
    raw = b"caf\xe9" * 60 + b".yaml"  # 245 bytes, 425 once written as %E9
    (folder.root / os.fsdecode(raw)).write_bytes(task_bytes("Cafe"))
    [outcome] = ingestor.ingest(folder.scan())
    assert outcome.kind == "accepted" and outcome.moved_to is not None
    assert_fits(outcome.moved_to.name, "caf%E9" * 30)
    assert outcome.moved_to.read_bytes() == task_bytes("Cafe")
    assert sorted(path.name for path in folder.root.iterdir()) == ["failed", "processed"]
    assert errors(log) == []


def test_a_duplicate_that_cannot_be_moved_is_never_said_to_have_moved(
    ingestor: Ingestor, folder: DropFolder, log: pytest.LogCaptureFixture
) -> None:
    path = drop(folder, "muffins.yaml", task_bytes("Muffins"))
    folder.processed.rmdir()
    folder.processed.write_text("not a folder")  # every move to processed/ fails
    ingestor.ingest(folder.scan())
    log.clear()
    [outcome] = ingestor.ingest(folder.scan())  # the rescan: a duplicate of its own task
    assert outcome.kind == "duplicate" and outcome.moved_to is None and path.exists()
    said = [r.getMessage() for r in log.records]
    assert len(errors(log)) == 1 and "cannot move muffins.yaml" in errors(log)[0]
    assert not [line for line in said if "moved to" in line], said
    assert "muffins.yaml is a duplicate of task muffins; it stays in the drop folder" in said
