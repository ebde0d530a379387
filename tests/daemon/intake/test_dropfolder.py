"""The drop folder's moves and `gladtui submit`'s atomic placement, on real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.intake.dropfolder import DropFolder, is_candidate_name
from daemon.intake.readiness import Snapshot
from gladtui.cli.submit import submit_file
from gladtui.taskfile import TaskFileError, TaskRules

GOOD = b"title: Muffins\nprompt: muffins on a table\n"


@pytest.mark.parametrize(
    ("name", "candidate"),
    [
        ("task.yaml", True),
        ("task.yml", True),
        ("TASK.YAML", True),
        (".task.yaml", False),
        ("task.yaml.tmp", False),
        ("task.yaml.part", False),
        ("task.yaml~", False),
        (".task.yaml.swp", False),
        ("task.json", False),
        ("task.yaml.error.txt", False),
    ],
)
def test_candidate_names(name: str, candidate: bool) -> None:
    assert is_candidate_name(name) is candidate


def test_scan_lists_candidates_only(tmp_path: Path) -> None:
    folder = DropFolder(tmp_path)
    folder.prepare()
    for name in ("a.yaml", "b.yml", ".c.yaml", "d.tmp", "notes.txt"):
        (tmp_path / name).write_bytes(GOOD)
    (folder.processed / "old.yaml").write_bytes(GOOD)
    assert sorted(p.name for p in folder.scan()) == ["a.yaml", "b.yml"]


def test_accept_never_overwrites(tmp_path: Path) -> None:
    folder = DropFolder(tmp_path)
    folder.prepare()
    for round_ in range(3):
        path = tmp_path / "task.yaml"
        path.write_bytes(b"round %d" % round_)
        folder.accept(path)
        assert not path.exists()
    names = sorted(p.name for p in folder.processed.iterdir())
    assert names == ["task-2.yaml", "task-3.yaml", "task.yaml"]
    assert (folder.processed / "task.yaml").read_bytes() == b"round 0"
    assert (folder.processed / "task-3.yaml").read_bytes() == b"round 2"


def test_refuse_writes_the_reason_beside_the_file(tmp_path: Path) -> None:
    folder = DropFolder(tmp_path)
    folder.prepare()
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"title: [\n")
    moved = folder.refuse(path, "bad.yaml: line 2: oops")
    assert moved == folder.failed / "bad.yaml"
    assert moved.read_bytes() == b"title: [\n"
    assert (folder.failed / "bad.yaml.error.txt").read_text() == "bad.yaml: line 2: oops\n"


def test_refuse_moves_a_directory_and_a_symlink_without_following(tmp_path: Path) -> None:
    folder = DropFolder(tmp_path)
    folder.prepare()
    (tmp_path / "dir.yaml").mkdir()
    target = tmp_path / "secret.txt"
    target.write_text("do not touch")
    (tmp_path / "link.yaml").symlink_to(target)
    folder.refuse(tmp_path / "dir.yaml", "is a directory")
    folder.refuse(tmp_path / "link.yaml", "is a symbolic link")
    assert (folder.failed / "dir.yaml").is_dir()
    assert (folder.failed / "link.yaml").is_symlink()
    assert target.read_text() == "do not touch"


def test_submit_places_exact_bytes_marked_complete(tmp_path: Path) -> None:
    source = tmp_path / "muffins.yaml"
    source.write_bytes(GOOD)
    drop = tmp_path / "drop"
    placed = submit_file(source, drop, rules=TaskRules())
    assert placed.destination == drop / "muffins.yaml"
    assert placed.destination.read_bytes() == GOOD
    assert placed.task.spec.title == "Muffins"
    assert Snapshot.of(placed.destination.stat()).renamed_after_last_write
    assert [p.name for p in drop.iterdir()] == ["muffins.yaml"]  # no temp file left


def test_submit_never_overwrites_a_pending_file(tmp_path: Path) -> None:
    source = tmp_path / "muffins.yaml"
    source.write_bytes(GOOD)
    drop = tmp_path / "drop"
    first = submit_file(source, drop, rules=TaskRules()).destination
    second = submit_file(source, drop, rules=TaskRules()).destination
    assert (first.name, second.name) == ("muffins.yaml", "muffins-2.yaml")


def test_submit_refuses_an_invalid_file_and_places_nothing(tmp_path: Path) -> None:
    source = tmp_path / "bad.yaml"
    source.write_bytes(b"title: Muffins\n")
    drop = tmp_path / "drop"
    with pytest.raises(TaskFileError, match="prompt: required"):
        submit_file(source, drop, rules=TaskRules())
    assert not drop.exists() or not any(drop.iterdir())
