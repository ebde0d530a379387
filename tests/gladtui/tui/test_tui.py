"""The review TUI against a real daemon in this process, with the tiny model.

Keys are pressed through Textual's pilot; what the daemon did is read back
through its API, so each test checks both what the reviewer sees and what
really happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from PIL import Image as PILImage
from textual.widgets import Input
from textual_image.widget import Image

from gladtui.tui.gallery import Thumbnail
from gladtui.tui.largeview import LargeView
from gladtui.tui.modals import ApproveScreen, GenerateScreen, RejectScreen
from gladtui.tui.screens import DisconnectedScreen, HelpScreen
from gladtui.tui.tasklist import TaskList
from tests.apidaemon import ApiDaemon, task_yaml, wait_until
from tests.tuitools import detail_text, gallery, make_app, titles, until

if TYPE_CHECKING:
    from daemon.generation.models import LoadedModel

pytestmark = pytest.mark.slow


@pytest.fixture
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    daemon = ApiDaemon(tiny).start()
    yield daemon
    daemon.cleanup()


def drop(daemon: ApiDaemon, name: str, data: bytes) -> None:
    """Drop a task file the way a user does: written beside, then renamed in."""
    folder = daemon.config.drop_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f".{name}.part").write_bytes(data)
    (folder / f".{name}.part").rename(folder / name)


async def test_a_dropped_task_appears_live_with_its_thumbnails(live: ApiDaemon) -> None:
    app = make_app(live)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.connected, what="the event stream is up")
        assert titles(app) == []
        drop(live, "muffins.yaml", task_yaml("Making Delicious Muffins"))
        await until(pilot, lambda: titles(app) == ["Making Delicious Muffins"], what="row")
        await until(pilot, lambda: len(app.review.query(Thumbnail)) == 3, what="thumbnails")

        # Read again each time: the task shows while it generates now, a box's picture
        # widget is replaced when its thumbnail arrives, and a replaced one lingers in
        # the screen until its removal is processed: each box is asked for its own.
        def pictured(box: Thumbnail) -> bool:
            shown = box.query(Image)
            return box.picture is not None and any(
                i.size.width and i.size.height > 3 for i in shown
            )

        await until(
            pilot,
            lambda: all(map(pictured, app.review.query(Thumbnail))),
            what="each box's picture laid out",
        )
        thumbnails = list(app.review.query(Thumbnail))
        assert [t.variation["index"] for t in thumbnails] == [1, 2, 3]
        for thumbnail in thumbnails:  # each shows its own variation's thumbnail, pixel for pixel
            with PILImage.open(thumbnail.variation["thumbnail"]) as stored:
                expected = stored.convert("RGB").tobytes()
            assert thumbnail.picture is not None and thumbnail.picture.tobytes() == expected
        assert gallery(app).selected == 1
        text = detail_text(app)
        assert "slug: making-delicious-muffins  (free)" in text
        assert "seeds: 1:42, 2:43, 3:44" in text


async def test_2_then_a_publishes_variation_2(live: ApiDaemon) -> None:
    task_id = live.submit(task_yaml("Lemon Tart"))
    live.wait_status(task_id, "review")
    app = make_app(live)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.review.query(Thumbnail)) == 3, what="thumbnails")
        await pilot.press("2")
        assert gallery(app).selected == 2
        await pilot.press("a")
        assert isinstance(app.screen, ApproveScreen)
        shown = " ".join(str(w.render()) for w in app.screen.query("Static"))
        assert "lemon-tart" in shown and "the local folder" in shown
        await pilot.press("y")
        published = live.wait_status(task_id, "published")
        assert [v["index"] for v in published["variations"] if v["selected"]] == [2]
        # The event stream updates its row in place; the list keeps the task under the
        # cursor (no other awaits review) until the cursor leaves it: here, a new filter.
        await until(
            pilot,
            lambda: (
                app.review.tasks.current is not None
                and app.review.tasks.current["status"] == "published"
            ),
            what="the row says published",
        )
        await pilot.press("f", "F")
        await until(pilot, lambda: titles(app) == [], what="the published task leaves Review")


async def test_r_with_a_new_prompt_regenerates(live: ApiDaemon) -> None:
    task_id = live.submit(task_yaml("Sourdough", variations=2))
    live.wait_status(task_id, "review")
    app = make_app(live)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.review.query(Thumbnail)) == 2, what="thumbnails")
        await pilot.press("r")
        assert isinstance(app.screen, RejectScreen)
        await pilot.press("p", *"a rustic loaf at dawn", "enter")  # p: the prompt field
        wait_until(lambda: live.client.task(task_id)["prompt"] == "a rustic loaf at dawn")
        task = live.wait_status(task_id, "review")
        fresh = [v for v in task["variations"] if v["removed_at"] is None]
        assert len(fresh) == 2 and {v["prompt"] for v in fresh} == {"a rustic loaf at dawn"}
        # The rejected ones go from the gallery, the new ones take their place. (The new
        # prompt alone is shown from the rejection's commit on, with the old pictures
        # until their files are deleted: waiting for it raced the deletion.)
        await until(
            pilot,
            lambda: (
                "a rustic loaf at dawn" in detail_text(app)
                and {t.variation["index"] for t in app.review.query(Thumbnail)}
                == {v["index"] for v in fresh}
            ),
            what="the new variations in the gallery, the rejected ones gone",
        )


async def test_an_invalid_file_shows_its_name_and_error(live: ApiDaemon) -> None:
    app = make_app(live)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.connected, what="the event stream is up")
        drop(live, "typo.yaml", b"title: Typo\npromt: muffins\n")
        await pilot.press("F")  # back from Review wraps to Failed
        assert app.review.filter.key == "failed"
        await until(pilot, lambda: titles(app) == ["Typo"], what="the invalid task, by its title")
        await until(pilot, lambda: "promt" in detail_text(app), what="its error")
        text = detail_text(app)
        assert "unknown field 'promt' (did you mean 'prompt'?)" in text
        assert "file: typo.yaml" in text


async def test_search_and_filters_narrow_the_list(live: ApiDaemon) -> None:
    for title in ["Blueberry Muffins", "Banana Bread", "Muffin Tops"]:
        live.in_review(title, variations=1)
    app = make_app(live)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(titles(app)) == 3, what="three tasks")
        await pilot.press("slash", *"MUFFIN")
        await until(
            pilot,
            lambda: sorted(titles(app)) == ["Blueberry Muffins", "Muffin Tops"],
            what="search",
        )
        await pilot.press("enter", "f")  # keep the search, filter: all
        assert app.review.filter.key == "all"
        await until(pilot, lambda: len(titles(app)) == 2, what="all, still searched")
        await pilot.press("slash", "escape")  # Esc drops the search
        await until(pilot, lambda: len(titles(app)) == 3, what="all three again")
        await pilot.press("slash", *"a/b")  # in the search, "/" is text
        assert app.review.query_one("#search", Input).value == "a/b"


async def test_more_variations_and_the_large_view(live: ApiDaemon) -> None:
    task_id = live.submit(task_yaml("Scones", variations=1))
    live.wait_status(task_id, "review")
    app = make_app(live)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.review.query(Thumbnail)) == 1, what="thumbnail")
        await pilot.press("enter")
        assert isinstance(app.screen, LargeView)
        await pilot.press("escape", "g")
        assert isinstance(app.screen, GenerateScreen)
        await pilot.press("backspace", "2", "enter")
        await until(pilot, lambda: len(app.review.query(Thumbnail)) == 3, what="two more")
        assert live.client.task(task_id)["variation_count"] == 3
        # 1, then on: the gallery may have turned to the new ones as their previews formed
        await pilot.press("1", "right", "right")
        assert gallery(app).selected == 3
        await pilot.press("9")  # no such variation: a warning, the selection stays
        assert gallery(app).selected == 3


async def test_help_and_refusals_explain_themselves(live: ApiDaemon) -> None:
    app = make_app(live)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.connected, what="the event stream is up")
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "a")
        assert [n.message for n in app._notifications] == ["no task under the cursor"]
        assert app.screen is app.review


async def test_no_daemon_shows_how_to_start_one_then_reconnects(live: ApiDaemon) -> None:
    live.stop()
    app = make_app(live)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DisconnectedScreen), what="no daemon")

        def shown() -> str:
            return " ".join(str(w.render()) for w in app.screen.query("Static"))

        await until(pilot, lambda: "gladtui daemon" in shown(), what="how to start one")
        assert f"{live.socket} does not exist" in shown()
        live.start()
        task_id = live.submit(task_yaml("Back Again", variations=1))
        live.wait_status(task_id, "review")
        await until(pilot, lambda: not isinstance(app.screen, DisconnectedScreen), what="back")
        await until(pilot, lambda: titles(app) == ["Back Again"], what="the list, reloaded")
        assert isinstance(app.screen.query_one(TaskList), TaskList)
