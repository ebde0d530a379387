"""A daemon killed with SIGKILL while ingesting: after restart, exactly one outcome per file.

Each run is a real subprocess on the real store; the kill happens at a chosen
point through injected collaborators (tests/harness/ingest_once.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from daemon.intake.dropfolder import DropFolder
from daemon.intake.ingest import CRASHED_BEFORE, Ingestor
from daemon.store import Store
from gladtui.shapes import TaskStatus
from gladtui.taskfile import TaskRules
from tests.paths import HARNESS, REPO
from tests.privileges import NOBODY, run_unprivileged

INGEST_ONCE = HARNESS / "ingest_once.py"
ROOT = REPO


def run_ingest(database: Path, drop: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(INGEST_ONCE), str(database), str(drop), *flags],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def killed(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == -signal.SIGKILL


@contextmanager
def opened(database: Path) -> Iterator[Store]:
    with Store.open(database) as store:
        yield store


def write_tasks(drop: Path, names: list[str], marker: str = "") -> None:
    drop.mkdir(parents=True, exist_ok=True)
    for name in names:
        extra = f"content: {marker}\n" if marker and name.startswith("crash") else ""
        (drop / f"{name}.yaml").write_text(f"title: {name}\nprompt: a {name}\n{extra}")


def test_a_file_that_kills_the_parser_is_refused_after_restart_never_looped(
    tmp_path: Path,
) -> None:
    database, drop = tmp_path / "db.duckdb", tmp_path / "drop"
    write_tasks(drop, ["alpha", "crasher", "omega"], marker="KILL-ME")
    flags = ("--kill-on-parse", "KILL-ME")

    # 1st run: the batch parse dies. Every file of the batch is now a suspect.
    assert killed(run_ingest(database, drop, *flags))
    # 2nd run: suspects are parsed alone; the innocent ones pass, the culprit dies again.
    assert killed(run_ingest(database, drop, *flags))
    # 3rd run: the culprit, which already died alone, is refused without parsing.
    third = run_ingest(database, drop, *flags)
    assert third.returncode == 0, third.stderr

    with opened(database) as store:
        tasks = {t.source_file: t for t in store.tasks.list()}
        assert set(tasks) == {"alpha.yaml", "crasher.yaml", "omega.yaml"}
        assert tasks["alpha.yaml"].status is TaskStatus.QUEUED
        assert tasks["omega.yaml"].status is TaskStatus.QUEUED
        assert tasks["crasher.yaml"].status is TaskStatus.INVALID
        assert CRASHED_BEFORE in str(tasks["crasher.yaml"].error)
        assert store.ingest_attempts.all() == []
    folder = DropFolder(drop)
    assert list(folder.scan()) == []
    assert sorted(p.name for p in folder.processed.iterdir()) == ["alpha.yaml", "omega.yaml"]
    assert (folder.failed / "crasher.yaml").exists()
    assert CRASHED_BEFORE in (folder.failed / "crasher.yaml.error.txt").read_text()


def test_killed_between_commit_and_move_leaves_exactly_one_task(tmp_path: Path) -> None:
    database, drop = tmp_path / "db.duckdb", tmp_path / "drop"
    write_tasks(drop, ["one", "two"])
    assert killed(run_ingest(database, drop, "--kill-on-move"))
    with opened(database) as store:  # committed, though no file was moved
        assert len(store.tasks.list()) == 2
    restart = run_ingest(database, drop)
    assert restart.returncode == 0, restart.stderr
    assert sorted(kind for _, _, kind in json.loads(restart.stdout)) == ["duplicate"] * 2
    with opened(database) as store:
        assert sorted(t.id for t in store.tasks.list()) == ["one", "two"]
        assert sum(len(store.jobs.pending_for_task(t)) for t in ("one", "two")) == 2
    assert sorted(p.name for p in (drop / "processed").iterdir()) == ["one.yaml", "two.yaml"]


def test_unreadable_file_is_refused_by_a_daemon_running_as_an_ordinary_user(
    open_dir: Path,
) -> None:
    """Root reads every file, so the daemon side runs as `nobody` (when we are root)."""
    drop, database = open_dir / "drop", open_dir / "state" / "db.duckdb"
    write_tasks(drop, ["readable", "secret"])
    (drop / "secret.yaml").chmod(0o600)  # owned by us; `nobody` cannot read it
    database.parent.mkdir()
    if os.geteuid() == 0:
        for folder in (drop, database.parent):
            os.chown(folder, NOBODY, NOBODY)

    def ingest_once() -> dict[str, str]:
        folder = DropFolder(drop)
        folder.prepare()
        with Store.open(database) as store:
            outcomes = Ingestor(store, folder, TaskRules()).ingest(sorted(folder.scan()))
        return {o.file_name: o.kind for o in outcomes}

    outcomes = run_unprivileged(ingest_once)
    assert outcomes == {"readable.yaml": "accepted", "secret.yaml": "refused"}
    error = (drop / "failed" / "secret.yaml.error.txt").read_text()
    assert "permission denied" in error
    assert (drop / "failed" / "secret.yaml").exists()  # kept, not deleted
