"""Every client command of `gladtui`, as a user runs it, against a real daemon.

Each command runs as its own process (`gladtui --config … tasks`), both in its
human form and with `--json`, so the exit codes, stdout and stderr checked here
are exactly what a person or a script gets.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.generation.models import LoadedModel
from gladtui.shapes import IN_GENERATION
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
    assert f"images:   the local folder {cdn}\n" in human.stdout
    posts = "gladtui's own posts table (gladtui posts) (duplicate slugs: suffix)"
    assert f"posts:    {posts}\n" in human.stdout
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
    derived = "Listed Muffins: blueberry muffins on a rustic table (from the title)"
    assert re.search(rf"^alt text: +{re.escape(derived)}$", human, re.MULTILINE)


def test_show_names_the_alt_text_caption_and_focus_the_task_file_gave(live: ApiDaemon) -> None:
    task = task_yaml(
        "Captioned", variations=1, steps=1, alt="Two plums", caption="Ripe", focus="0.2,0.8"
    )
    task_id = live.submit(task, "captioned.yaml")
    shown = live.wait_status(task_id, "review")
    assert (shown["alt"], shown["alt_from_task"], shown["caption"], shown["focus"]) == (
        "Two plums",
        True,
        "Ripe",
        [0.2, 0.8],
    )
    human = gladtui(live, "show", task_id).stdout
    for line in ("alt text: +Two plums", "caption: +Ripe", "focus: +0.2,0.8"):
        assert re.search(rf"^{line}$", human, re.MULTILINE), line


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
    # Queued, or already taken by the generator (or even made) by the time it is read.
    assert regenerated["task"]["status"] in {*IN_GENERATION, "review"}
    assert regenerated["task"]["prompt"] == "pears"
    again = live.wait_status(task_id, "review")
    assert [v["prompt"] for v in again["variations"]][-1] == "pears"

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


def test_approve_prints_the_slug_and_the_url_once_published(live: ApiDaemon) -> None:
    task_id = live.submit(task_yaml("Printed Post", variations=1, steps=1), "printed.yaml")
    live.wait_status(task_id, "review")
    result = gladtui(live, "approve", task_id, "--variation", "1")
    assert result.returncode == 0, result.stderr
    post = live.client.task(task_id)["post"]
    assert post is not None  # it waited for the publication, so the URL was there to print
    assert result.stdout.splitlines()[1:] == [
        "slug: printed-post",
        f"published: {post['featured_image_url']}",
    ]


def test_approve_during_a_grace_period_says_how_to_undo(tiny: LoadedModel) -> None:
    waiting = ApiDaemon(tiny, settings={"publishing": {"grace_seconds": 600}}).start()
    try:
        task_id = waiting.submit(task_yaml("Graceful", variations=2, steps=1), "g.yaml")
        waiting.wait_status(task_id, "review")
        result = gladtui(waiting, "approve", task_id, "--variation", "2")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].endswith("publishing in 600 s") and lines[1] == "slug: graceful"
        assert f"`gladtui undo {task_id}` takes it back" in lines[2]
        assert "takes effect:" in gladtui(waiting, "show", task_id).stdout
        undone = gladtui(waiting, "undo", task_id)
        assert undone.returncode == 0 and f"{task_id}: review" in undone.stdout
        again = gladtui(waiting, "undo", task_id)
        assert again.returncode == 1 and "nothing to undo" in again.stderr
        assert waiting.client.task(task_id)["selected_variation"] is None
    finally:
        waiting.cleanup()


def test_a_refused_file_shows_its_own_title_and_only_what_was_wrong(live: ApiDaemon) -> None:
    drop = live.config.drop_dir
    (drop / ".broken.part").write_text("title: Autumn Soups\nprompt: soup\nvariations: zero\n")
    (drop / ".broken.part").rename(drop / "broken.yaml")
    wait_until(lambda: as_json(live, "tasks", "--status", "invalid")["total"] >= 1)
    [task] = [t for t in as_json(live, "tasks", "--status", "invalid")["tasks"]
              if t["source_file"] == "broken.yaml"]  # fmt: skip
    assert task["title"] == "Autumn Soups" and task["slug_outcome"] == "none"
    assert task["actions"] == []
    shown = gladtui(live, "show", task["id"]).stdout
    assert "title:       Autumn Soups" in shown and "source file: broken.yaml" in shown
    assert "variations: expected a whole number, got text 'zero'" in shown
    for absent in ("size:", "steps:", "seed:", "slug:"):
        assert absent not in shown, shown
