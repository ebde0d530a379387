"""A variation whose file was moved or deleted by hand (issue 29, item 8).

Through a real daemon in this process (tiny model) and, for the screen, the real
TUI under Textual's pilot: the task JSON and `gladtui show` say `missing`, the
daemon refuses to approve such a variation and names the file and the fix, a
file that vanishes after its approval fails the publish at once (no retries, it
is not a network error), and the TUI marks the variation missing instead of
showing the picture it cached before, and its approve dialog warns and offers
only to go back.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Label, Static
from textual_image.widget import Image

from daemon.generation.models import LoadedModel
from daemon.store import Store
from daemon.store.jobkinds import PUBLISH
from gladtui.client import ApiError
from gladtui.tui.app import ReviewApp
from gladtui.tui.gallery import Thumbnail
from gladtui.tui.modals import ApproveScreen
from tests.apidaemon import GLADTUI, ApiDaemon
from tests.daemon.review.test_undo import GRACE, MovableClock
from tests.tuitools import detail_text, gallery, until

pytestmark = pytest.mark.slow

SLOW = 300  # s: generation on a 2-core machine shared with other test runs


@pytest.fixture
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    daemon = ApiDaemon(tiny).start()
    yield daemon
    daemon.cleanup()


def move_away(variation: dict[str, Any]) -> Path:
    """The reviewer moves the file elsewhere; returns where, to put it back."""
    path = Path(variation["path"])
    return path.rename(path.with_name(path.name + ".away"))


def put_back(moved: Path) -> None:
    moved.rename(moved.with_name(moved.name.removesuffix(".away")))


def gladtui(daemon: ApiDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GLADTUI), "--config", str(daemon.config_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def store_of(daemon: ApiDaemon) -> Store:
    assert daemon.daemon is not None
    return daemon.daemon.store


# -- the task JSON and `gladtui show` ------------------------------------------------------


def test_show_and_the_task_json_mark_a_missing_file(live: ApiDaemon) -> None:
    task = live.in_review("Moved Muffins", timeout=SLOW)
    task_id = task["id"]
    assert [v["missing"] for v in task["variations"]] == [False, False, False]
    moved = move_away(task["variations"][1])

    as_json = json.loads(gladtui(live, "show", task_id, "--json").stdout)
    assert [v["missing"] for v in as_json["variations"]] == [False, True, False]
    assert [v["removed_at"] for v in as_json["variations"]] == [None, None, None]
    human = gladtui(live, "show", task_id)
    assert human.returncode == 0, human.stderr
    lines = {int(m[1]): m[0] for m in re.finditer(r"(?m)^\s+(\d+) .*$", human.stdout)}
    assert lines[2].endswith(f"{task['variations'][1]['path']} (missing)")
    assert not lines[1].endswith(")") and not lines[3].endswith(")")
    assert re.search(
        r"(?m)^missing:\s+the file of variation\(s\) 2 is not at its path; put it back",
        human.stdout,
    )
    assert f"(gladtui generate {task_id})" in human.stdout

    put_back(moved)
    assert not any(v["missing"] for v in live.client.task(task_id)["variations"])
    assert "missing" not in gladtui(live, "show", task_id).stdout


def test_removed_variations_are_deleted_not_missing(live: ApiDaemon) -> None:
    task = live.in_review(
        "Rejected Muffins", name="Rejected Muffins.yaml", variations=2, timeout=SLOW
    )
    live.client.reject(task["id"], None, False)
    rejected = live.client.task(task["id"])
    assert all(v["removed_at"] and not v["missing"] for v in rejected["variations"])
    shown = gladtui(live, "show", task["id"]).stdout
    assert shown.count("(deleted)") == 2 and "missing" not in shown


# -- approving and publishing ------------------------------------------------------------


def test_approving_a_missing_variation_is_refused_with_the_file_and_the_fix(
    live: ApiDaemon,
) -> None:
    task = live.in_review("Refused Muffins", timeout=SLOW)
    task_id, path = task["id"], task["variations"][1]["path"]
    moved = move_away(task["variations"][1])

    with pytest.raises(ApiError) as refused:
        live.client.approve(task_id, 2)
    assert refused.value.status == 409
    assert refused.value.message == (
        f"cannot approve variation 2 of {task_id}: its file is missing ({path}); put the "
        "file back at that path and approve again, or generate more variations "
        f"(gladtui generate {task_id})"
    )
    cli = gladtui(live, "approve", task_id, "--variation", "2")
    assert cli.returncode == 1 and path in cli.stderr and "put the file back" in cli.stderr
    after = live.client.task(task_id)
    assert after["status"] == "review" and after["selected_variation"] is None
    assert store_of(live).jobs.pending_for_task(task_id, PUBLISH) == []

    put_back(moved)
    live.client.approve(task_id, 2)
    assert live.wait_status(task_id, "published")["selected_variation"] == 2


def test_a_file_gone_after_its_approval_fails_the_publish_at_once(tiny: LoadedModel) -> None:
    """Approved with a grace period, the file moved before it ends: one attempt, no retry."""
    clock = MovableClock()
    # Retries would come within a second: had the failure been retried, it would show.
    settings = {"publishing": {"grace_seconds": GRACE, "retry_base_seconds": 0.05}}
    daemon = ApiDaemon(tiny, settings=settings, clock=clock).start()
    try:
        task = daemon.in_review("Vanished Muffins", timeout=SLOW)
        task_id, path = task["id"], task["variations"][1]["path"]
        daemon.client.approve(task_id, 2)
        moved = move_away(task["variations"][1])
        clock.advance(GRACE)
        failed = daemon.wait_status(task_id, "failed", "published", timeout=SLOW)
        events = store_of(daemon).events.for_task(task_id)
        failures = [e.detail for e in events if e.kind == "publish_failed"]

        assert failed["status"] == "failed"
        assert failed["error"] == (
            f"cannot read variation 2 of {task_id} ({path}: No such file or directory); put "
            "the file back at that path and approve again, or generate more variations "
            f"(gladtui generate {task_id})"
        )
        assert failures == [{"error": failed["error"], "retrying": False}]  # one attempt

        put_back(moved)
        daemon.client.approve(task_id, 2)
        clock.advance(GRACE)
        assert daemon.wait_status(task_id, "published", timeout=SLOW)["post"] is not None
    finally:
        daemon.cleanup()


# -- the TUI ----------------------------------------------------------------------------


def thumbnail(app: ReviewApp, index: int) -> Thumbnail | None:
    found = [t for t in app.review.query(Thumbnail) if t.variation["index"] == index]
    return found[0] if found else None


def caption(box: Thumbnail) -> str:
    return str(box.query_one(Label).render())


def shows_picture(box: Thumbnail) -> bool:
    return bool(box.query(Image))


def screen_words(app: ReviewApp) -> str:
    return " ".join(" ".join(str(w.render()) for w in app.screen.query(Static)).split())


async def gallery_shows(pilot: Pilot[None], app: ReviewApp, task_id: str, count: int) -> None:
    await until(
        pilot,
        lambda: (
            gallery(app).task_id == task_id
            and not gallery(app).has_class("-stale")
            and len(app.review.query(Image)) == count
        ),
        what=f"{count} pictures of {task_id}",
    )


@pytest.mark.parametrize("confirm", [True, False], ids=["dialog", "one-key"])
async def test_the_tui_marks_a_missing_file_and_will_not_approve_it(
    live: ApiDaemon, confirm: bool
) -> None:
    older = live.in_review("Older Muffins", timeout=SLOW)
    task = live.in_review(
        "Newer Muffins", name="Newer Muffins.yaml", timeout=SLOW
    )  # newest first: under the cursor at start
    task_id, path = task["id"], task["variations"][1]["path"]
    app = ReviewApp(live.client, stream_timeout=3.0, confirm=confirm)
    async with app.run_test(size=(120, 40)) as pilot:
        await gallery_shows(pilot, app, task_id, 3)  # its pictures are cached now
        moved = move_away(task["variations"][1])
        await pilot.press("down")  # away, and back: the task is read again
        await gallery_shows(pilot, app, older["id"], 3)
        await pilot.press("up")
        await until(
            pilot,
            lambda: gallery(app).task_id == task_id and "missing" in detail_text(app),
            what="the task read again, variation 2 missing",
        )
        box = thumbnail(app, 2)
        assert box is not None and "missing" in caption(box) and not shows_picture(box)
        assert all(
            shows_picture(b) and "missing" not in caption(b)
            for b in (thumbnail(app, 1), thumbnail(app, 3))
            if b is not None
        )
        assert "the file of variation(s) 2 is not at its path" in detail_text(app)
        assert f"2:{task['variations'][1]['seed']} (missing)" in detail_text(app)

        await pilot.press("2", "a")
        await until(pilot, lambda: isinstance(app.screen, ApproveScreen), what="the dialog")
        words = screen_words(app)
        assert "Cannot approve variation 2" in words and path in words
        assert "Put the file back at that path and approve again" in words
        assert not app.screen.query(Image)  # no cached picture passed off as the file
        await pilot.press("y")  # refused here: nothing is sent
        await pilot.pause(0.2)
        assert isinstance(app.screen, ApproveScreen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ApproveScreen), what="back")
        after = live.client.task(task_id)
        assert after["status"] == "review" and after["undo_until"] is None

        put_back(moved)
        await pilot.press("down")
        await gallery_shows(pilot, app, older["id"], 3)
        await pilot.press("up")
        await gallery_shows(pilot, app, task_id, 3)
        box = thumbnail(app, 2)
        assert box is not None and "missing" not in caption(box)
        assert "missing" not in detail_text(app)
