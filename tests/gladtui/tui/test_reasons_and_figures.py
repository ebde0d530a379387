"""The reject dialog's reasons and the figures screen (issue 33), as a reviewer sees them.

A real daemon in this process, the real app under Textual's pilot at 80x24 (and
120x40 for the figures); what is on screen is checked, then what the keys did is
read back from the daemon.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from gladtui.tui.app import ReviewApp
from gladtui.tui.figuresscreen import FiguresScreen
from gladtui.tui.modals import RejectScreen
from tests.apidaemon import ApiDaemon
from tests.daemon.store.helpers import FakeClock
from tests.deskhistory import fill_desk
from tests.tuitools import gallery, until

if TYPE_CHECKING:
    from daemon.generation.models import LoadedModel

pytestmark = pytest.mark.slow

HANDS = "deformed hands, extra fingers"


def screen_rows(app: ReviewApp) -> list[str]:
    """The screen's rows as the terminal gets them: borders, titles, cut where cut."""
    strips = app.screen._compositor.render_strips()  # no public way to read them
    return [strip.text for strip in strips]


def on_screen(app: ReviewApp, words: str) -> bool:
    return any(words in row for row in screen_rows(app))


@pytest.fixture
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    daemon = ApiDaemon(tiny).start()
    yield daemon
    daemon.cleanup()


async def test_the_reject_dialog_shows_the_reasons_and_the_change_before_it_is_made(
    live: ApiDaemon,
) -> None:
    task_id = live.in_review("Hands", variations=1)["id"]
    app = ReviewApp(live.client, stream_timeout=3.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: gallery(app).task_id == task_id, what="the task shown")
        await until(pilot, lambda: app.review.status is not None, what="the daemon's status")
        await pilot.press("r")
        assert isinstance(app.screen, RejectScreen)
        await pilot.pause()
        assert on_screen(app, "h  [ ] bad hands")
        assert on_screen(app, "No new round")
        await pilot.press("h")  # the reason's key
        await pilot.pause()
        assert on_screen(app, "h  [✓] bad hands")
        assert not on_screen(app, HANDS + ",")  # no round asked for: nothing added yet
        await pilot.press("a")  # the same prompt again
        await pilot.pause()
        # The change, on screen whole at 80x24, before Enter makes it.
        assert on_screen(app, "prompt: blueberry muffins on a rustic table")
        assert on_screen(app, f"negative: blurry, {HANDS}")
        assert on_screen(app, "Reject and regenerate")
        assert live.client.task(task_id)["status"] == "review"  # nothing sent yet
        await pilot.press("enter")
        await until(
            pilot,
            lambda: live.client.task(task_id)["variations"][0]["removed_at"] is not None,
            what="the rejection sent and taken effect",
        )
    task = live.wait_status(task_id, "review")
    newest = [v for v in task["variations"] if v["removed_at"] is None]
    assert [v["index"] for v in newest] == [2]
    assert newest[0]["negative_prompt"] == f"blurry, {HANDS}"
    assert newest[0]["additions"] == {"reasons": ["hands"], "prompt": "", "negative_prompt": HANDS}


@pytest.fixture(scope="module")
def desk() -> Iterator[ApiDaemon]:
    clock = FakeClock()
    running = ApiDaemon(None, clock=clock).start()
    assert running.daemon is not None
    fill_desk(running.daemon.store, clock)
    yield running
    running.cleanup()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_figures_screen_draws_the_bars(desk: ApiDaemon, size: tuple[int, int]) -> None:
    app = ReviewApp(desk.client, stream_timeout=3.0)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.review.tasks is not None, what="the review screen")
        await pilot.press("s")
        assert isinstance(app.screen, FiguresScreen)
        await until(pilot, lambda: on_screen(app, "approval rate"), what="the figures")
        rows = screen_rows(app)
        [rate] = [row for row in rows if "approval rate" in row]
        assert "50%" in rate
        # ann's 2 decisions an hour against bob's 1: a bar twice as long, each value whole
        ann = re.search(r" ann (█+) +2 ", "\n".join(rows))
        bob = re.search(r" bob (█+) +1 ", "\n".join(rows))
        assert ann is not None and bob is not None, "\n".join(rows)
        assert len(ann.group(1)) == 2 * len(bob.group(1)) > 0
        await pilot.press("escape")
        assert not isinstance(app.screen, FiguresScreen)
