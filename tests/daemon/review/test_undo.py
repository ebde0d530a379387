"""Decisions take effect after `publishing.grace_seconds`; until then undo puts the task back.

Through a real daemon publishing with the real Cloudinary SDK to the local
Cloudinary-speaking server, which counts uploads. The store's clock is held
still and moved by the test, so "before the grace has passed" and "after" are
exact, not raced; `test_undo_racing_the_start_of_publishing` races them on
purpose, on the real clock.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.generation.models import LoadedModel
from daemon.publishing.publishers.base import ASSET_HASH_CHARS
from daemon.store import JobStatus, Store, utc_now
from gladtui.client import ApiError, Client
from gladtui.shapes import GenerateRequest
from tests.apidaemon import ApiDaemon, answers, short_dir, start_daemon, task_yaml, wait_until
from tests.fakecloudinary import FakeCloudinary

GRACE = 10.0


class MovableClock:
    """The store's clock: the real time plus however far the test moved it."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def cdn() -> Iterator[FakeCloudinary]:
    with FakeCloudinary() as fake:
        yield fake


def publishing(cdn: FakeCloudinary, grace: float) -> dict[str, Any]:
    return {
        "publisher": "cloudinary",
        "grace_seconds": grace,
        "retry_base_seconds": 0.05,
        "cloudinary": {"url": cdn.url, "upload_prefix": cdn.prefix, "timeout_seconds": 60},
    }


@pytest.fixture
def held(tiny: LoadedModel, cdn: FakeCloudinary) -> Iterator[tuple[ApiDaemon, MovableClock]]:
    clock = MovableClock()
    daemon = ApiDaemon(tiny, settings={"publishing": publishing(cdn, GRACE)}, clock=clock)
    daemon.start()
    yield daemon, clock
    daemon.cleanup()


def files(task: dict[str, Any]) -> list[bool]:
    return [Path(v["path"]).exists() for v in task["variations"]]


def test_an_undone_approval_uploads_nothing_and_restores_the_task(
    held: tuple[ApiDaemon, MovableClock], cdn: FakeCloudinary
) -> None:
    daemon, clock = held
    before = daemon.in_review("Lemon Tart")
    answer = daemon.client.approve(before["id"], 2)
    task = answer["task"]
    assert task["status"] == "approved" and task["actions"] == ["undo"]
    assert task["undo_until"] is not None and "publishing in 10 s" in answer["message"]
    assert [v["selected"] for v in task["variations"]] == [False, True, False]
    # Nothing else is accepted while the decision waits: only undo.
    with pytest.raises(ApiError, match="undo it first") as refused:
        daemon.client.generate(before["id"], GenerateRequest(count=1))
    assert refused.value.status == 409

    clock.advance(GRACE / 2)
    undone = daemon.client.undo(before["id"])
    after = undone["task"]
    assert undone["changed"] and after["status"] == "review"
    assert after["actions"] == ["approve", "reject", "generate"] and after["undo_until"] is None
    assert [v["selected"] for v in after["variations"]] == [False, False, False]
    assert {k: after[k] for k in ("error", "slug", "variation_count")} == {
        k: before[k] for k in ("error", "slug", "variation_count")
    }

    clock.advance(GRACE * 2)  # long past the grace: the cancelled job must not run
    daemon.decision_worker_looked()
    assert cdn.upload_count == 0 and daemon.client.posts()["total"] == 0
    assert daemon.client.task(before["id"])["status"] == "review"
    with pytest.raises(ApiError, match="nothing to undo"):
        daemon.client.undo(before["id"])


def test_an_approval_left_alone_publishes_once_its_grace_has_passed(
    held: tuple[ApiDaemon, MovableClock], cdn: FakeCloudinary
) -> None:
    daemon, clock = held
    task = daemon.in_review("Plum Cake")
    daemon.client.approve(task["id"], 1)
    daemon.decision_worker_looked()  # the grace holds it back
    assert cdn.upload_count == 0 and daemon.client.task(task["id"])["status"] == "approved"
    clock.advance(GRACE + 1)
    published = daemon.wait_status(task["id"], "published")
    assert cdn.upload_count == 1 and published["actions"] == []
    with pytest.raises(ApiError, match="too late to undo") as refused:
        daemon.client.undo(task["id"])
    assert refused.value.status == 409


def test_an_undone_rejection_deletes_nothing(
    held: tuple[ApiDaemon, MovableClock],
) -> None:
    daemon, clock = held
    task = daemon.in_review("Fig Salad", variations=2)
    answer = daemon.client.reject(task["id"])
    assert answer["task"]["status"] == "rejected" and answer["task"]["actions"] == ["undo"]
    assert files(answer["task"]) == [True, True]
    back = daemon.client.undo(task["id"])["task"]
    assert back["status"] == "review" and files(back) == [True, True]
    clock.advance(GRACE * 2)
    daemon.decision_worker_looked()
    assert files(daemon.client.task(task["id"])) == [True, True]


def test_a_rejection_takes_effect_after_its_grace(
    held: tuple[ApiDaemon, MovableClock],
) -> None:
    daemon, clock = held
    plain = daemon.in_review("Burnt Toast", variations=2)
    renewed = daemon.in_review("Pale Bread", variations=2)
    daemon.client.reject(plain["id"])
    daemon.client.reject(renewed["id"], prompt="golden bread, crisp crust")
    clock.advance(GRACE + 1)
    wait_until(lambda: not any(files(daemon.client.task(plain["id"]))))
    done = daemon.client.task(plain["id"])
    assert done["status"] == "rejected" and done["undo_until"] is None
    assert done["actions"] == ["reject", "generate"]
    again = daemon.wait_status(renewed["id"], "review")
    fresh = [v for v in again["variations"] if v["removed_at"] is None]
    assert [v["index"] for v in fresh] == [3, 4]
    assert {v["prompt"] for v in fresh} == {"golden bread, crisp crust"}
    assert not any(Path(v["path"]).exists() for v in again["variations"][:2])


def test_undo_of_a_failed_task_approved_again_restores_its_error(
    tiny: LoadedModel, cdn: FakeCloudinary
) -> None:
    clock = MovableClock()
    settings = {"publishing": {**publishing(cdn, GRACE), "max_attempts": 1}}
    daemon = ApiDaemon(tiny, settings=settings, clock=clock).start()
    try:
        task = daemon.in_review("Quince Jam")
        cdn.fail(500)
        daemon.client.approve(task["id"], 1)
        clock.advance(GRACE + 1)
        failed = daemon.wait_status(task["id"], "failed")
        assert "approve" in failed["actions"] and failed["error"]
        daemon.client.approve(task["id"], 3)
        back = daemon.client.undo(task["id"])["task"]
        assert (back["status"], back["error"]) == ("failed", failed["error"])
        assert [v["selected"] for v in back["variations"]] == [True, False, False]
    finally:
        daemon.cleanup()


def test_a_list_can_keep_undoable_decisions_and_the_reviewers_task(
    held: tuple[ApiDaemon, MovableClock],
) -> None:
    daemon, _clock = held
    a, b, c = (daemon.in_review(title, variations=1) for title in ("A", "B", "C"))
    daemon.client.approve(a["id"], 1)
    daemon.client.generate(b["id"], GenerateRequest(count=1))  # queued: no longer in review
    client = daemon.client
    assert [t["id"] for t in client.tasks(["review"])["tasks"]] == [c["id"]]
    page = client.tasks(["review"], undoable=True)
    assert [t["id"] for t in page["tasks"]] == [c["id"], a["id"]] and page["total"] == 2
    kept = client.tasks(["review"], undoable=True, keep=b["id"])
    assert [t["id"] for t in kept["tasks"]] == [c["id"], b["id"], a["id"]]
    assert kept["total"] == 3


def test_kill_9_during_the_grace_publishes_once_after_restart(cdn: FakeCloudinary) -> None:
    root = short_dir()
    settings = {
        "drop_dir": "drop", "state_dir": "state", "preview_dir": "previews",
        "cache_dir": "cache", "socket": "run/d.sock",
        "generation": {"model": "builtin:tiny-sdxl", "device": "cpu"},
        "publishing": publishing(cdn, 3.0),
    }  # fmt: skip
    (root / "config.yaml").write_text(yaml.safe_dump(settings))
    client = Client(root / "run" / "d.sock", timeout=30)
    daemon = start_daemon(root / "config.yaml")
    try:
        wait_until(lambda: answers(client), timeout=60)
        task_id = client.submit(task_yaml("Killed While Waiting"), "k.yaml")["task"]["id"]
        wait_until(lambda: client.task(task_id)["status"] == "review", timeout=120)
        client.approve(task_id, 2)
        daemon.send_signal(signal.SIGKILL)  # inside the 3 s grace: nothing uploaded yet
        daemon.wait(timeout=30)
        assert cdn.upload_count == 0
        daemon = start_daemon(root / "config.yaml")
        wait_until(lambda: answers(client), timeout=60)
        wait_until(lambda: client.task(task_id)["status"] == "published", timeout=60)
        published = client.task(task_id)
        daemon.send_signal(signal.SIGTERM)  # stopped, it uploads nothing more
        assert daemon.wait(timeout=60) == 0
        with Store.open(root / "state" / "gladtui.duckdb") as store:
            left = store.jobs.pending_for_task(task_id)  # what a later daemon would run
    finally:
        daemon.kill()
        daemon.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    assert cdn.upload_count == 1 and len(cdn.assets) == 1 and left == []
    assert published["selected_variation"] == 2 and published["post"] is not None


def test_undo_racing_the_start_of_publishing(tiny: LoadedModel, cdn: FakeCloudinary) -> None:
    """Undo sent around the moment the grace ends: it wins, or is refused; never both.

    What undo answered must be what happened: undone → back in review, its job
    cancelled, nothing of it uploaded; too late → published, exactly one upload.
    """
    grace = 0.3
    daemon = ApiDaemon(tiny, settings={"publishing": publishing(cdn, grace)}).start()
    rng = random.Random(16)
    answered: dict[str, str] = {}
    try:
        tasks = [daemon.in_review(f"Race {n}", variations=1) for n in range(6)]
        for task in tasks:
            daemon.client.approve(task["id"], 1)
            time.sleep(grace + rng.uniform(-0.1, 0.9))  # the publisher polls every second
            answered[task["id"]] = undo_answer(daemon.client, task["id"])
        assert daemon.daemon is not None
        jobs = daemon.daemon.store.jobs
        # Every job has run or was cancelled: whatever the publisher was to do, it has done.
        wait_until(lambda: not any(jobs.pending_for_task(task_id) for task_id in answered))
        happened = {task_id: final_state(daemon, cdn, task_id) for task_id in answered}
        cancelled = jobs.count_by_status()[JobStatus.CANCELLED]
    finally:
        daemon.cleanup()
    assert happened == answered
    undone = sum(outcome == "undone" for outcome in answered.values())
    assert cancelled == undone  # one cancelled job per undo, none left to run late
    assert cdn.upload_count == len(answered) - undone


def undo_answer(client: Client, task_id: str) -> str:
    try:
        client.undo(task_id)
    except ApiError as exc:
        assert exc.status == 409 and "too late to undo" in exc.message
        return "published"
    return "undone"


def final_state(daemon: ApiDaemon, cdn: FakeCloudinary, task_id: str) -> str:
    """`undone` or `published` when the task's state is all one of them, else the state."""
    status = daemon.client.task(task_id)["status"]
    own = re.compile(rf"(.*/)?{re.escape(task_id)}-[0-9a-f]{{{ASSET_HASH_CHARS}}}")
    uploads = sum(bool(own.fullmatch(public_id)) for public_id in cdn.assets)
    state = {("review", 0): "undone", ("published", 1): "published"}
    return state.get((status, uploads), f"{status} with {uploads} upload(s)")
