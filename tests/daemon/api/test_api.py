"""The daemon's HTTP API on its Unix socket: a real daemon, real DuckDB, the tiny model.

Requests are plain HTTP (tests/apidaemon.py `http_json`), so these tests pin
the wire format itself; the CLI and client tests build on it.
"""

from __future__ import annotations

import os
import pwd
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from daemon.generation.models import LoadedModel
from tests.apidaemon import ApiDaemon, task_yaml, wait_until


@pytest.fixture
def parked() -> Iterator[ApiDaemon]:
    """A daemon whose model never loads: tasks stay queued, nothing competes for the CPU."""
    running = ApiDaemon(None).start()
    yield running
    running.cleanup()


@pytest.fixture
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    running = ApiDaemon(tiny).start()
    yield running
    running.cleanup()


def submit(d: ApiDaemon, title: str, **fields: Any) -> dict[str, Any]:
    name = quote(f"{title}.yaml")
    status, body = d.raw("POST", f"/api/tasks?name={name}", task_yaml(title, **fields))
    assert status == 201, body
    task: dict[str, Any] = body["task"]
    return task


# -- reading --------------------------------------------------------------------------------


def test_health_and_status(parked: ApiDaemon) -> None:
    assert parked.raw("GET", "/api/health") == (200, {"ok": True, "version": "0.1.0"})
    submit(parked, "One")
    status, body = parked.raw("GET", "/api/status")
    assert status == 200
    assert body["model"]["name"] == "builtin:tiny-sdxl"
    assert body["tasks"]["queued"] == 1 and set(body["tasks"]) >= {"review", "invalid"}
    assert body["jobs"]["pending"] == 1
    assert body["socket"] == str(parked.socket)
    assert body["last_event_id"] >= 1 and body["uptime_seconds"] >= 0
    cdn = parked.root / "state" / "cdn"
    assert body["publishing"] == {
        "publisher": "local",
        "images_to": f"the local folder {cdn}",
        "destination": f"the local folder {cdn}",
        "on_duplicate_slug": "suffix",
        "grace_seconds": 0.0,
        "posts_to": "local",
        "posts_destination": "gladtui's own posts table (gladtui posts)",
    }
    assert body["limits"] == {"max_variations": 16, "max_steps": 150}


def test_submissions_under_one_name_each_get_their_own_id(parked: ApiDaemon) -> None:
    # Regression: the third file named task.yaml was given task-2 again and the
    # daemon answered 500 with a duplicate key.
    ids = [parked.submit(task_yaml(title), "task.yaml") for title in ["A", "B", "C", "D"]]
    assert ids == ["task", "task-2", "task-3", "task-4"]


def test_submit_is_the_task_file_parser_and_exactly_once(parked: ApiDaemon) -> None:
    first = submit(parked, "Muffins")
    assert first["status"] == "queued" and first["slug"] == "muffins"
    assert first["source_file"] is None and first["variations_requested"] == 3
    status, again = parked.raw("POST", "/api/tasks?name=other.yaml", task_yaml("Muffins"))
    assert status == 200 and again["changed"] is False and again["task"]["id"] == first["id"]

    status, refused = parked.raw("POST", "/api/tasks?name=bad.yaml", b"title: x\nsteps: many\n")
    assert status == 422 and refused["error"]["code"] == "invalid"
    assert "prompt: required" in refused["error"]["message"]
    assert "steps: expected a whole number" in refused["error"]["message"]
    assert parked.raw("GET", "/api/tasks")[1]["total"] == 1  # nothing stored for it


def test_list_filters_pages_and_searches(parked: ApiDaemon) -> None:
    ids = [submit(parked, f"Task {n}")["id"] for n in range(5)]
    status, page = parked.raw("GET", "/api/tasks?limit=2&offset=1")
    assert status == 200 and page["total"] == 5 and (page["limit"], page["offset"]) == (2, 1)
    assert [t["id"] for t in page["tasks"]] == [ids[3], ids[2]]  # newest first
    assert parked.raw("GET", "/api/tasks?q=task%203")[1]["tasks"][0]["id"] == ids[3]
    assert parked.raw("GET", "/api/tasks?status=review")[1]["total"] == 0
    assert parked.raw("GET", "/api/tasks?status=review,queued")[1]["total"] == 5

    status, bad = parked.raw("GET", "/api/tasks?status=reviewed")
    assert status == 422 and "unknown reviewed" in bad["error"]["message"]
    assert parked.raw("GET", "/api/tasks?limit=0")[0] == 422
    assert parked.raw("GET", "/api/tasks?offset=x")[0] == 422


def test_unknown_things_are_json_errors(parked: ApiDaemon, tmp_path: Path) -> None:
    status, body = parked.raw("GET", "/api/nope")
    assert status == 404 and body["error"]["message"] == "no such endpoint: GET /api/nope"
    assert parked.raw("DELETE", "/api/tasks")[0] == 405
    status, body = parked.raw("GET", "/api/tasks/missing")
    assert status == 404 and body["error"] == {
        "status": 404,
        "code": "not_found",
        "message": "no task 'missing'",
    }
    task = submit(parked, "Here")
    for body_bytes, expected in [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got a list"),
        (b'{"variaton": 1}', "did you mean 'variation'"),
        (b'{"variation": "2"}', "variation: expected a whole number"),
        (b'{"variation": null}', "variation: required"),
    ]:
        status, body = parked.raw("POST", f"/api/tasks/{task['id']}/approve", body_bytes)
        assert status == 422 and expected in body["error"]["message"], body


# 4 KiB fits in the socket's buffer; 8 MiB does not, so the daemon's close after its
# answer always breaks the client's send, and the answer must still be read.
@pytest.mark.parametrize("size", [4096, 8 << 20], ids=["buffered", "send-breaks"])
def test_oversized_body_is_refused_with_413(size: int) -> None:
    small = ApiDaemon(None, settings={"api": {"max_request_bytes": 2048}}).start()
    try:
        status, body = small.raw("POST", "/api/tasks", b"#" * size)
        assert status == 413 and body["error"]["code"] == "too_large"
        assert small.raw("GET", "/api/health")[0] == 200  # and the daemon carries on
    finally:
        small.cleanup()


# -- acting ---------------------------------------------------------------------------------


def test_approve_selects_publishes_and_is_idempotent(live: ApiDaemon) -> None:
    task = live.in_review("Approve me")
    assert [v["index"] for v in task["variations"]] == [1, 2, 3]
    assert all(Path(v["path"]).is_file() for v in task["variations"])

    status, body = live.raw("POST", f"/api/tasks/{task['id']}/approve", {"variation": 2})
    assert status == 200 and body["changed"] is True
    approved = body["task"]
    assert approved["status"] in ("approved", "publishing", "published")
    assert approved["selected_variation"] == 2
    assert [v["selected"] for v in approved["variations"]] == [False, True, False]
    published = live.wait_status(task["id"], "published")
    assert published["post"]["slug"] == "approve-me" and published["slug_outcome"] == "published"

    status, again = live.raw("POST", f"/api/tasks/{task['id']}/approve", {"variation": 2})
    assert status == 200 and again["changed"] is False
    status, other = live.raw("POST", f"/api/tasks/{task['id']}/approve", {"variation": 3})
    assert status == 409 and "already has variation 2 approved" in other["error"]["message"]


def test_approving_what_does_not_exist_or_is_not_ready(parked: ApiDaemon, live: ApiDaemon) -> None:
    queued = submit(parked, "Still queued")
    status, body = parked.raw("POST", f"/api/tasks/{queued['id']}/approve", {"variation": 1})
    assert status == 409 and "status: queued" in body["error"]["message"]
    task = live.in_review("Ready", variations=1)
    status, body = live.raw("POST", f"/api/tasks/{task['id']}/approve", {"variation": 7})
    assert status == 404 and "has no variation 7 (it has: 1)" in body["error"]["message"]


def test_two_clients_approving_at_once_make_one_approval(live: ApiDaemon) -> None:
    task = live.in_review("Race", variations=2)
    barrier = threading.Barrier(4)
    answers: list[tuple[int, Any]] = []

    def approve(index: int) -> None:
        barrier.wait()
        answers.append(live.raw("POST", f"/api/tasks/{task['id']}/approve", {"variation": index}))

    threads = [threading.Thread(target=approve, args=(n,)) for n in (1, 1, 1, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [200] * 4
    assert sum(body["changed"] for _, body in answers) == 1
    assert live.daemon is not None
    history = live.daemon.store.events.for_task(task["id"])
    [approval] = [e for e in history if e.to_status == "approved"]
    assert approval.actor == pwd.getpwuid(os.getuid()).pw_name  # the reviewer, by name
    assert approval.detail == {"variation": 1, "grace_seconds": 0.0}
    live.wait_status(task["id"], "published")
    assert live.raw("GET", "/api/posts")[1]["total"] == 1


def test_reject_deletes_the_files_and_a_new_prompt_regenerates(live: ApiDaemon) -> None:
    task = live.in_review("Reject me", variations=2)
    paths = [Path(v["path"]) for v in task["variations"]]
    thumbs = [Path(v["thumbnail"]) for v in task["variations"]]
    status, body = live.raw("POST", f"/api/tasks/{task['id']}/reject", {})
    assert status == 200 and body["task"]["status"] == "rejected"
    assert not any(p.exists() for p in paths + thumbs)
    assert all(v["removed_at"] for v in body["task"]["variations"])
    assert live.raw("POST", f"/api/tasks/{task['id']}/reject", {})[1]["changed"] is False

    status, body = live.raw(
        "POST", f"/api/tasks/{task['id']}/reject", {"prompt": "lemon tarts on slate"}
    )
    assert status == 200 and body["task"]["status"] == "queued"
    again = live.wait_status(task["id"], "review")
    fresh = [v for v in again["variations"] if v["removed_at"] is None]
    assert [v["index"] for v in fresh] == [3, 4]  # indexes are never reused
    assert {v["prompt"] for v in fresh} == {"lemon tarts on slate"}
    assert again["prompt"] == "lemon tarts on slate"
    assert all(Path(v["path"]).is_file() for v in fresh)


def test_reject_can_keep_the_files(live: ApiDaemon) -> None:
    task = live.in_review("Keep them", variations=1)
    status, body = live.raw("POST", f"/api/tasks/{task['id']}/reject", {"keep_files": True})
    assert status == 200 and body["task"]["status"] == "rejected"
    assert Path(task["variations"][0]["path"]).is_file()


def test_more_variations_and_the_original_route(live: ApiDaemon) -> None:
    task = live.in_review("More", variations=1)
    status, body = live.raw("POST", f"/api/tasks/{task['id']}/generate", {"count": 2})
    assert status == 200 and "queued variation(s) 2-3" in body["message"]
    assert len(live.wait_status(task["id"], "review")["variations"]) == 3

    status, body = live.raw(
        "POST",
        "/api/media/generate-image-variations",
        {"task_id": task["id"], "num_variations": 1, "num_inference_steps": 1, "prompt": "figs"},
    )
    assert status == 200 and body["task"]["status"] == "queued"
    done = live.wait_status(task["id"], "review")
    newest = done["variations"][-1]
    assert (newest["index"], newest["steps"], newest["prompt"]) == (4, 1, "figs")
    status, body = live.raw("POST", "/api/media/generate-image-variations", {"task_id": "nope"})
    assert status == 404


def test_cancel_a_queued_task_and_a_running_one(parked: ApiDaemon, live: ApiDaemon) -> None:
    queued = submit(parked, "Never started")
    status, body = parked.raw("POST", f"/api/tasks/{queued['id']}/cancel")
    assert status == 200 and body["task"]["status"] == "failed"
    assert "cancelled before it started" in body["task"]["error"]

    slow = submit(live, "Slow", variations=4, steps=40)
    wait_until(lambda: live.raw("GET", f"/api/tasks/{slow['id']}")[1]["progress"] is not None)
    status, body = live.raw("POST", f"/api/tasks/{slow['id']}/cancel")
    assert status == 200
    settled = live.wait_status(slow["id"], "review", "failed")
    assert len(settled["variations"]) < 4
    status, body = live.raw("POST", f"/api/tasks/{slow['id']}/cancel")
    assert status == 409


def test_posts_page_is_empty_before_any_approval(parked: ApiDaemon) -> None:
    assert parked.raw("GET", "/api/posts") == (
        200,
        {"posts": [], "total": 0, "offset": 0, "limit": 100},
    )
