"""Reject reasons (issue 33): recorded with the decision, and their words added to the
next round's prompts, in the variations' rows and their PNGs.

A real daemon in this process on its socket, real DuckDB, the tiny model; requests
as plain HTTP, so the wire format is pinned too.
"""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.generation.images import (
    ADDITIONS_KEY,
    parse_a1111_parameters,
    read_parameters,
)
from daemon.generation.models import LoadedModel
from gladtui.config.review import HANDS, ReviewConfig, apply_additions
from tests.apidaemon import ApiDaemon


@pytest.fixture
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    running = ApiDaemon(tiny).start()
    yield running
    running.cleanup()


def reject(d: ApiDaemon, task_id: str, body: dict[str, Any]) -> tuple[int, Any]:
    return d.raw("POST", f"/api/tasks/{task_id}/reject", body)


def fresh(task: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in task["variations"] if v["removed_at"] is None]


def test_hands_again_adds_to_the_negative_prompt_of_the_new_round(live: ApiDaemon) -> None:
    task = live.in_review("Hands", variations=2)
    status, body = reject(live, task["id"], {"again": True, "reasons": ["hands"]})
    assert status == 200, body
    assert body["task"]["status"] == "queued"
    again = live.wait_status(task["id"], "review")
    new = fresh(again)
    assert [v["index"] for v in new] == [3, 4]
    negative = f"blurry, {HANDS}"  # the task file's, then the reason's words
    added = {"reasons": ["hands"], "prompt": "", "negative_prompt": HANDS}
    for variation in new:
        assert variation["prompt"] == "blueberry muffins on a rustic table"  # the same
        assert variation["negative_prompt"] == negative
        assert variation["additions"] == added
        png = Path(variation["path"])
        meta = parse_a1111_parameters(read_parameters(png) or "")
        assert meta["negative_prompt"] == negative  # what was rendered, as A1111 says it
        assert json.loads(read_parameters(png, ADDITIONS_KEY) or "null") == added
    assert again["negative_prompt"] == negative  # the task's next rounds keep the fix

    # The audit trail: who rejected, why, and what was added.
    assert live.daemon is not None
    history = live.daemon.store.events.for_task(task["id"])
    [rejected] = [e for e in history if e.to_status == "rejected"]
    assert rejected.actor == pwd.getpwuid(os.getuid()).pw_name
    assert rejected.detail is not None
    assert rejected.detail["reasons"] == ["hands"]
    assert rejected.detail["again"] is True
    assert rejected.detail["additions"] == added


def test_a_reason_again_adds_nothing_twice(live: ApiDaemon) -> None:
    task = live.in_review("Twice", variations=1)
    assert reject(live, task["id"], {"again": True, "reasons": ["hands"]})[0] == 200
    live.wait_status(task["id"], "review")
    assert reject(live, task["id"], {"again": True, "reasons": ["hands", "dark"]})[0] == 200
    after = live.wait_status(task["id"], "review")
    [newest] = fresh(after)
    assert newest["negative_prompt"] == f"blurry, {HANDS}"  # not twice
    assert newest["prompt"] == "blueberry muffins on a rustic table, bright, well lit"
    assert newest["additions"] == {
        "reasons": ["hands", "dark"],
        "prompt": "bright, well lit",
        "negative_prompt": "",  # the hands' words were there already
    }


def test_a_new_prompt_gets_the_reasons_words_and_rejecting_alone_records_them(
    live: ApiDaemon,
) -> None:
    task = live.in_review("New prompt", variations=1)
    status, _ = reject(live, task["id"], {"prompt": "lemon tarts", "reasons": ["dark", "topic"]})
    assert status == 200
    [newest] = fresh(live.wait_status(task["id"], "review"))
    assert newest["prompt"] == "lemon tarts, bright, well lit"
    assert newest["negative_prompt"] == "blurry"
    assert newest["additions"]["reasons"] == ["dark", "topic"]

    status, body = reject(live, task["id"], {"reasons": ["text"]})  # no new round
    assert status == 200 and body["task"]["status"] == "rejected"
    assert live.daemon is not None
    last = [e for e in live.daemon.store.events.for_task(task["id"]) if e.to_status][-1]
    assert last.to_status == "rejected" and last.detail is not None
    assert last.detail["reasons"] == ["text"] and last.detail["additions"] is None


def test_unknown_reasons_are_refused_with_the_list_and_nothing_changes(live: ApiDaemon) -> None:
    task = live.in_review("Unknown", variations=1)
    status, body = reject(live, task["id"], {"again": True, "reasons": ["hands", "feet"]})
    assert status == 422
    message = body["error"]["message"]
    assert "unknown reason(s) feet" in message
    assert "the config has: hands, text, topic, dark, blurry" in message
    after = live.client.task(task["id"])
    assert after["status"] == "review"
    assert Path(after["variations"][0]["path"]).is_file()

    status, body = reject(live, task["id"], {"again": True, "prompt": "figs"})
    assert status == 422 and "not both" in body["error"]["message"]
    status, body = reject(live, task["id"], {"reasons": "hands"})
    assert status == 422 and "expected a list of reason names" in body["error"]["message"]


def test_status_lists_the_reasons_for_the_dialog(live: ApiDaemon) -> None:
    status, body = live.raw("GET", "/api/status")
    assert status == 200
    reasons = {r["name"]: r for r in body["reject_reasons"]}
    assert list(reasons) == ["hands", "text", "topic", "dark", "blurry"]
    assert reasons["hands"] == {
        "name": "hands",
        "key": "h",
        "label": "bad hands",
        "prompt_add": "",
        "negative_add": HANDS,
    }


def test_additions_are_appended_once_and_empty_prompts_take_them_whole() -> None:
    reasons = ReviewConfig().reject_reasons
    after = apply_additions(reasons, ["hands", "text"], "a cat", "")
    assert after.negative_prompt == f"{HANDS}, text, letters, watermark"
    after = apply_additions(reasons, ["hands"], "a cat", f"ugly, {HANDS.upper()},")
    assert after.negative_prompt == f"ugly, {HANDS.upper()},"  # there already, case aside
    assert after.additions.negative_prompt == ""
