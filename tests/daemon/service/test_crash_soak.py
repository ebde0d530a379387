"""Proof under faults: a real daemon killed -9 at chosen moments, every invariant checked.

The soak (tests/harness/soak.py) runs 8 kills here, two at each moment (the
suite must stay under 10 minutes: each kill restarts a daemon with torch);
`bench/soak.py` runs 200 or more. `GLADTUI_SOAK_SEED=N` replays a run's schedule. Below it, one test
per crash window the soak found, each made certain (tests/harness/cut_move.py)
instead of left to a random kill.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from daemon.intake.dropfolder import DropFolder
from daemon.intake.ingest import Ingestor
from daemon.review.actions import Actions
from daemon.store import NewTask, NewVariation, Store
from daemon.store.jobkinds import PUBLISH
from gladtui.config import Config
from gladtui.shapes import TaskStatus
from gladtui.taskfile import TaskRules
from tests.apidaemon import short_dir
from tests.fakecloudinary import FakeCloudinary
from tests.harness.soak import MOMENTS, Soak
from tests.paths import HARNESS, REPO

KILLS = 8  # two per moment
CUT_MOVE = HARNESS / "cut_move.py"
ROOT = REPO


# Eight kills and restarts, each waiting for its moment: about 30 s a round on a
# quiet machine, 35-60 s with both cores busy (7 rounds took 262 s under a load of 8).
@pytest.mark.timeout(1200)
def test_kills_at_chosen_moments_break_no_invariant() -> None:
    seed = int(os.environ.get("GLADTUI_SOAK_SEED") or random.SystemRandom().randrange(10**6))
    root = short_dir("soak-")
    with FakeCloudinary() as cdn:
        tally = Soak(root, cdn, seed).run(KILLS)
    print(tally.table())
    assert tally.violations == [], f"seed {seed}; the daemon's log: {root}/daemon.log"
    assert tally.kills == dict.fromkeys(MOMENTS, KILLS // len(MOMENTS))
    shutil.rmtree(root, ignore_errors=True)


# -- the windows the soak found, one at a time --------------------------------------------


def ingest_once(database: Path, drop: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CUT_MOVE), str(database), str(drop), *flags],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def files(drop: Path) -> list[str]:
    return sorted(str(p.relative_to(drop)) for p in drop.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("text", "moved"),
    [("title: fine\nprompt: p\n", "processed/x.yaml"), ("title: no prompt\n", "failed/x.yaml")],
)
def test_killed_between_link_and_unlink_the_restart_finishes_the_move(
    tmp_path: Path, text: str, moved: str
) -> None:
    """It used to move the file again, making a second copy `x-2.yaml`."""
    database, drop = tmp_path / "db.duckdb", tmp_path / "drop"
    drop.mkdir()
    (drop / "x.yaml").write_text(text)
    assert ingest_once(database, drop, "--kill-after-link").returncode < 0
    assert sorted(files(drop)) == sorted([moved, "x.yaml"])  # both names: the cut
    restart = ingest_once(database, drop)
    assert restart.returncode == 0, restart.stderr
    assert json.loads(restart.stdout) == [["x.yaml", "x", "duplicate"]]
    reason = [f"{moved}.error.txt"] if moved.startswith("failed/") else []
    assert files(drop) == sorted([moved, *reason])
    with Store.open(database) as store:
        assert [t.id for t in store.tasks.list()] == ["x"]


def test_a_file_refused_unread_is_one_task_even_if_a_kill_cut_its_move(tmp_path: Path) -> None:
    """Too large to read: its refusal used to be stored again, as task `big-2`."""
    database, drop = tmp_path / "db.duckdb", tmp_path / "drop"
    drop.mkdir()
    (drop / "big.yaml").write_text("title: big\nprompt: p\ncontent: " + "a" * 70_000 + "\n")
    assert ingest_once(database, drop, "--kill-at-move").returncode < 0
    restart = ingest_once(database, drop)
    assert restart.returncode == 0, restart.stderr
    assert json.loads(restart.stdout) == [["big.yaml", "big", "duplicate"]]
    with Store.open(database) as store:
        assert [(t.id, t.status) for t in store.tasks.list()] == [("big", TaskStatus.INVALID)]
    assert files(drop) == ["failed/big.yaml", "failed/big.yaml.error.txt"]


def test_killed_before_the_reason_is_written_the_refusal_keeps_its_reason(
    tmp_path: Path,
) -> None:
    """It used to be moved first: `failed/x.yaml` stayed without `x.yaml.error.txt`."""
    database, drop = tmp_path / "db.duckdb", tmp_path / "drop"
    drop.mkdir()
    (drop / "x.yaml").write_text("title: no prompt\n")
    assert ingest_once(database, drop, "--kill-before-reason").returncode < 0
    assert ingest_once(database, drop).returncode == 0
    assert files(drop) == ["failed/x.yaml", "failed/x.yaml.error.txt"]


def test_a_publish_job_given_up_at_start_fails_its_task_which_can_be_approved_again(
    tmp_path: Path,
) -> None:
    """It used to stay `publishing` for ever: "already approved", and reject refused."""
    with Store.open(tmp_path / "db.duckdb") as store:
        store.tasks.create(
            NewTask(id="t", title="T", prompt="p", variations=1, steps=1, guidance_scale=1.0,
                    width=64, height=64),
            status=TaskStatus.PUBLISHING,
        )  # fmt: skip
        Image.new("RGB", (64, 64)).save(tmp_path / "t-1.png")  # there to be approved again
        store.variations.add(
            NewVariation(task_id="t", idx=1, path=str(tmp_path / "t-1.png"), seed=1, prompt="p",
                         negative_prompt="", width=64, height=64, steps=1, guidance_scale=1.0,
                         model="m")
        )  # fmt: skip
        store.jobs.enqueue(PUBLISH, "t", {"variation": 1}, max_attempts=1)
        store.jobs.claim([PUBLISH])  # and then the daemon is killed: its last attempt used
        [job] = store.jobs.requeue_running()
        task = store.tasks.get("t")
        assert task is not None and task.status is TaskStatus.FAILED
        assert f"{job.kind} job" in str(task.error)
        actions = Actions(
            store,
            Config(),
            ingestor=Ingestor(store, DropFolder(tmp_path / "drop"), TaskRules()),
            cancel_generation=lambda _task: None,
        )
        assert actions.approve("t", 1).changed
        assert [j.kind for j in store.jobs.pending_for_task("t")] == [PUBLISH]


def test_a_job_given_up_at_start_leaves_a_task_with_other_work_queued_alone(
    tmp_path: Path,
) -> None:
    with Store.open(tmp_path / "db.duckdb") as store:
        store.tasks.create(
            NewTask(id="t", title="T", prompt="p", variations=1, steps=1, guidance_scale=1.0,
                    width=64, height=64)
        )  # fmt: skip
        store.jobs.enqueue("generate", "t", {}, max_attempts=1)
        store.jobs.claim(["generate"])
        store.jobs.enqueue("generate", "t", {})  # queued meanwhile: the task is not stuck
        store.jobs.requeue_running()
        task = store.tasks.get("t")
        assert task is not None and task.status is TaskStatus.QUEUED
