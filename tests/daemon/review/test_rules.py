"""The daemon's rules (review/rules.py), written out once more as a table to check them against.

The table is the lifecycle as docs/lifecycle.md tells it, not recomputed from the
module's own constants, so a status slipped into or out of one of them (an
approval allowed from `rejected`, a cancel from `review`) fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.review.decisions import Decisions
from daemon.review.outcomes import Conflict
from daemon.review.rules import allowed_actions
from daemon.store import NewTask, NewVariation, Store
from gladtui.config import Config
from gladtui.shapes import TaskStatus

REVIEWABLE = ["approve", "reject", "generate"]
# status → (actions with a variation on disk, actions with none), when no decision waits.
EXPECTED: dict[TaskStatus, tuple[list[str], list[str]]] = {
    TaskStatus.QUEUED: (["cancel"], ["cancel"]),
    TaskStatus.GENERATING: (["cancel"], ["cancel"]),
    TaskStatus.REVIEW: (REVIEWABLE, ["reject", "generate"]),
    TaskStatus.APPROVED: ([], []),
    TaskStatus.PUBLISHING: ([], []),
    TaskStatus.PUBLISHED: ([], []),
    # Rejected: sent back for variations or rejected again (a new prompt), never approved.
    TaskStatus.REJECTED: (["reject", "generate"], ["reject", "generate"]),
    TaskStatus.FAILED: (REVIEWABLE, ["reject", "generate"]),
    TaskStatus.INVALID: ([], []),
}


def test_the_table_covers_every_status() -> None:
    assert set(EXPECTED) == set(TaskStatus)


@pytest.mark.parametrize("status", list(TaskStatus))
@pytest.mark.parametrize("variations", [0, 1])
@pytest.mark.parametrize("undoable", [False, True])
def test_allowed_actions(status: TaskStatus, variations: int, undoable: bool) -> None:
    with_images, without = EXPECTED[status]
    expected = ["undo"] if undoable else (with_images if variations else without)
    assert allowed_actions(status, variations=variations, undoable=undoable) == expected


def test_more_variations_allow_what_one_does() -> None:
    for status in TaskStatus:
        one = allowed_actions(status, variations=1, undoable=False)
        assert allowed_actions(status, variations=7, undoable=False) == one


def test_a_rejected_task_whose_files_were_kept_cannot_be_approved(tmp_path: Path) -> None:
    """Through the decisions themselves, on a real store: the refusal names the status."""
    with Store.open(tmp_path / "state.duckdb") as store:
        store.tasks.create(_task("pie"), status=TaskStatus.REVIEW)
        store.variations.add(_variation("pie", tmp_path))
        decisions = Decisions(store, Config.model_validate({"publishing": {"grace_seconds": 0}}))
        decisions.reject("pie", keep_files=True)
        assert store.variations.list("pie")  # the image is still there to approve
        with pytest.raises(Conflict, match=r"cannot approve task pie \(status: rejected\)"):
            decisions.approve("pie", 1)
        task = store.tasks.get("pie")
        assert task is not None and task.status is TaskStatus.REJECTED
        assert store.jobs.pending_for_task("pie") == []
        assert not any(v.selected for v in store.variations.list("pie"))


def _task(task_id: str) -> NewTask:
    return NewTask(
        id=task_id, title="Apple Pie", prompt="an apple pie", negative_prompt="", content="",
        variations=1, steps=2, guidance_scale=7.0, width=64, height=64, seed=1,
        source_file=f"{task_id}.yaml", source_sha256=f"sha-{task_id}",
    )  # fmt: skip


def _variation(task_id: str, folder: Path) -> NewVariation:
    path = folder / f"{task_id}-1.png"
    path.write_bytes(b"png")
    return NewVariation(
        task_id=task_id, idx=1, path=str(path), seed=1, prompt="an apple pie",
        negative_prompt="", width=64, height=64, steps=2, guidance_scale=7.0, model="tiny",
    )  # fmt: skip
