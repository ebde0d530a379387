"""Every client command of `gladtui`, as a user runs it, against a real daemon.

Each command runs as its own process (`gladtui --config … tasks`), both in its
human form and with `--json`, so the exit codes, stdout and stderr checked here
are exactly what a person or a script gets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.models import LoadedModel
from tests.apidaemon import ApiDaemon, task_yaml, wait_until

GLADTUI = Path(sys.executable).parent / "gladtui"


@pytest.fixture(scope="module")
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    running = ApiDaemon(tiny).start()
    yield running
    running.cleanup()


def gladtui(d: ApiDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GLADTUI), "--config", str(d.config_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def as_json(d: ApiDaemon, *args: str) -> Any:
    result = gladtui(d, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_status(live: ApiDaemon) -> None:
    human = gladtui(live, "status")
    assert human.returncode == 0
    assert "model:    builtin:tiny-sdxl" in human.stdout
    assert f"socket:   {live.socket}" in human.stdout
    cdn = live.config.local_cdn_dir
    assert f"publish:  the local folder {cdn} (duplicate slugs: suffix)" in human.stdout
    data = as_json(live, "status")
    assert data["socket"] == str(live.socket) and "review" in data["tasks"]


def test_tasks_show_and_search(live: ApiDaemon) -> None:
    task_id = live.submit(task_yaml("Listed Muffins", variations=1, steps=1), "listed.yaml")
    live.wait_status(task_id, "review")
    page = as_json(live, "tasks", "--search", "listed")
    assert [t["id"] for t in page["tasks"]] == [task_id] and page["total"] == 1
    assert as_json(live, "tasks", "--status", "failed,invalid")["total"] == 0

    human = gladtui(live, "tasks", "--status", "review")
    assert human.returncode == 0
    row = next(line for line in human.stdout.splitlines() if line.startswith(task_id))
    assert "review" in row and "Listed Muffins" in row

    shown = as_json(live, "show", task_id)
    assert shown["slug"] == "listed-muffins" and len(shown["variations"]) == 1
    human = gladtui(live, "show", task_id).stdout
    assert "Listed Muffins" in human and shown["variations"][0]["path"] in human


def test_generate_approve_and_refusals(live: ApiDaemon) -> None:
    task_id = live.submit(task_yaml("Chosen", variations=1, steps=1), "chosen.yaml")
    live.wait_status(task_id, "review")
    more = gladtui(live, "generate", task_id, "--count", "1", "--prompt", "plums")
    assert more.returncode == 0 and "queued variation(s) 2" in more.stdout
    live.wait_status(task_id, "review")

    approved = as_json(live, "approve", task_id, "--variation", "2")
    assert approved["changed"] is True and approved["task"]["selected_variation"] == 2
    again = gladtui(live, "approve", task_id, "--variation", "1")
    assert again.returncode == 1 and "already has variation 2 approved" in again.stderr
    missing = gladtui(live, "show", "no-such-task")
    assert missing.returncode == 1 and "no task 'no-such-task'" in missing.stderr


def test_reject_with_a_new_prompt_then_cancel(live: ApiDaemon) -> None:
    task_id = live.submit(task_yaml("Rejected", variations=1, steps=1), "rejected.yaml")
    first = live.wait_status(task_id, "review")["variations"][0]
    rejected = gladtui(live, "reject", task_id, "--keep-files")
    assert rejected.returncode == 0 and f"{task_id}: rejected" in rejected.stdout
    assert Path(first["path"]).is_file()

    regenerated = as_json(live, "reject", task_id, "--prompt", "pears")
    assert regenerated["task"]["status"] == "queued" and regenerated["task"]["prompt"] == "pears"
    live.wait_status(task_id, "review")

    slow = gladtui(live, "generate", task_id, "--count", "4", "--steps", "60")
    assert slow.returncode == 0
    wait_until(lambda: live.client.task(task_id)["progress"] is not None)
    cancelled = gladtui(live, "cancel", task_id)
    assert cancelled.returncode == 0 and "cancelled the generation" in cancelled.stdout
    assert live.wait_status(task_id, "review")["variation_count"] < 5  # not all 4 made
    late = gladtui(live, "cancel", task_id)
    assert late.returncode == 1 and "cannot cancel" in late.stderr


def test_posts_lists_what_approval_published(live: ApiDaemon) -> None:
    task_id = live.submit(task_yaml("Posted", variations=1, steps=1), "posted.yaml")
    live.wait_status(task_id, "review")
    assert gladtui(live, "approve", task_id, "--variation", "1").returncode == 0
    live.wait_status(task_id, "published")
    page = as_json(live, "posts")
    post = next(p for p in page["posts"] if p["task_id"] == task_id)
    assert post["slug"] == "posted" and post["featured_image_url"].startswith("file://")
    human = gladtui(live, "posts")
    assert human.returncode == 0 and "posted" in human.stdout


def test_usage_errors_exit_2(live: ApiDaemon) -> None:
    assert gladtui(live, "approve", "x").returncode == 2  # --variation is required
    assert gladtui(live, "tasks", "--status", "done").returncode == 2
