"""The review screen as a reviewer uses it, finding by finding (issue "Review you can trust").

A real daemon in this process (tiny model), the real app under Textual's pilot
at 80x24 and 120x40. What the reviewer sees (the mounted thumbnails, their
outline, the dialog's words) is checked against what the keys then do, read
back from the daemon. tests/gladtui/tui/test_tui_tmux.py checks the same screen in a
real terminal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Button, Input, Static
from textual_image.widget import Image

from gladtui.shapes import TaskStatus
from gladtui.tui.app import ReviewApp
from gladtui.tui.gallery import Thumbnail
from gladtui.tui.modals import ApproveScreen, GenerateScreen, RejectScreen, Tick
from gladtui.tui.screens import DisconnectedScreen, HelpScreen
from tests.apidaemon import ApiDaemon, task_yaml, wait_until
from tests.tuitools import detail_text, gallery, titles, until

if TYPE_CHECKING:
    from daemon.generation.models import LoadedModel

pytestmark = pytest.mark.slow

SIZES = [(80, 24), (120, 40)]
OLD_PICTURE_AREA = 8 * 16  # cells of a thumbnail at 120x40 before this issue


@pytest.fixture
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    daemon = ApiDaemon(tiny).start()
    yield daemon
    daemon.cleanup()


def app_for(daemon: ApiDaemon, **options: Any) -> ReviewApp:
    return ReviewApp(daemon.client, stream_timeout=3.0, **options)


def shown_thumbnails(app: ReviewApp) -> list[Thumbnail]:
    return list(app.review.query(Thumbnail))


def outlined(app: ReviewApp) -> list[int]:
    return [t.variation["index"] for t in shown_thumbnails(app) if t.has_class("-selected")]


def on_screen(app: ReviewApp, thumbnail: Thumbnail) -> bool:
    screen = app.screen.region
    return screen.contains_region(thumbnail.region) and thumbnail.region.area > 0


async def gallery_of(pilot: Pilot[None], app: ReviewApp, task_id: str, count: int) -> None:
    await until(
        pilot,
        lambda: (
            gallery(app).task_id == task_id
            and len(shown_thumbnails(app)) == count
            and len(app.review.query(Image)) == count
            and not gallery(app).has_class("-stale")
        ),
        what=f"the gallery of {task_id}",
    )
    await pilot.pause(0.1)


def dialog_text(app: ReviewApp) -> str:
    """The words of the screen's Statics and Labels, rich tables rendered as text."""
    console = Console(width=100, record=True)
    for widget in app.screen.query(Static):
        content = widget.content
        console.print(content if isinstance(content, Table) else str(widget.render()))
    return " ".join(console.export_text().split())


# -- finding 1: what is on screen is what is approved ------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_after_approving_the_12th_the_next_task_shows_its_first_variation(
    live: ApiDaemon, size: tuple[int, int]
) -> None:
    four = live.in_review("Four Pictures", variations=4, seed=500)["id"]
    twelve = live.in_review(
        "Twelve Pictures", name="Twelve Pictures.yaml", variations=12, seed=100
    )["id"]  # newest: on top
    app = app_for(live)
    async with app.run_test(size=size) as pilot:
        await gallery_of(pilot, app, twelve, 3)
        await pilot.press("left")  # from 1 back round to 12: the last page
        await until(pilot, lambda: outlined(app) == [12], what="12 outlined")
        assert [t.variation["index"] for t in shown_thumbnails(app)] == [10, 11, 12]
        assert "10–12 of 12" in str(gallery(app).border_title)
        await pilot.press("a")
        assert isinstance(app.screen, ApproveScreen) and app.screen.variation["index"] == 12
        await pilot.press("y")

        # The next task awaiting review, at once, on its first variation, outlined.
        await gallery_of(pilot, app, four, 3)
        assert app.review.tasks.current is not None
        assert app.review.tasks.current["id"] == four
        assert gallery(app).selected == 1 and outlined(app) == [1]
        [selected] = [t for t in shown_thumbnails(app) if t.has_class("-selected")]
        assert on_screen(app, selected)
        await pilot.press("a")
        assert isinstance(app.screen, ApproveScreen)
        assert app.screen.variation["index"] == 1
        assert "Approve variation 1?" in dialog_text(app)
        assert f"variation 1 · seed {500}" in dialog_text(app)
        assert app.screen.query(Image)  # the picture it will publish
        await pilot.press("n")
    published = live.wait_status(twelve, "published")
    assert published["selected_variation"] == 12


# -- findings 2 and 3: a layout that uses the terminal ----------------------------------


async def test_three_thumbnails_fit_side_by_side_at_80_columns(live: ApiDaemon) -> None:
    task_id = live.in_review("Many Pictures", variations=8)["id"]
    app = app_for(live)
    async with app.run_test(size=(80, 24)) as pilot:
        await gallery_of(pilot, app, task_id, 3)
        for thumbnail in shown_thumbnails(app):
            assert on_screen(app, thumbnail)
            assert gallery(app).region.contains_region(thumbnail.region)
            [picture] = thumbnail.query(Image)
            assert picture.size.width >= 12  # the picture fills its box, no wasted columns
            assert thumbnail.size.width - picture.size.width <= 2
        assert "1–3 of 8" in str(gallery(app).border_title)
        await pilot.press("5")  # the page follows the selection
        await until(pilot, lambda: outlined(app) == [5], what="5 outlined")
        assert [t.variation["index"] for t in shown_thumbnails(app)] == [4, 5, 6]


async def test_larger_terminals_get_larger_pictures(live: ApiDaemon) -> None:
    task_id = live.in_review("Big Pictures", variations=3)["id"]
    areas = {}
    for size in [(120, 40), (200, 60)]:
        app = app_for(live)
        async with app.run_test(size=size) as pilot:
            await gallery_of(pilot, app, task_id, 3)
            picture = app.review.query(Image).first()
            areas[size] = picture.size.width * picture.size.height
    assert areas[(120, 40)] >= 2 * OLD_PICTURE_AREA
    assert areas[(200, 60)] > 2 * areas[(120, 40)]


async def test_size_and_seeds_are_in_view_at_80x24(live: ApiDaemon) -> None:
    long_prompt = "a very long prompt " * 12
    task_id = live.in_review("Detailed", variations=3, prompt=long_prompt)["id"]
    app = app_for(live)
    async with app.run_test(size=(80, 24)) as pilot:
        await gallery_of(pilot, app, task_id, 3)
        scroll = app.review.detail_scroll
        width = scroll.content_region.width
        lines = Text(detail_text(app)).wrap(app.console, width)
        first = {str(line).split(":")[0]: n for n, line in reversed(list(enumerate(lines)))}
        assert first["size"] < scroll.content_region.height
        assert first["seeds"] < scroll.content_region.height


# -- finding 4: a key acts on the task on screen ----------------------------------------


async def test_c_right_after_g_cancels_that_task(live: ApiDaemon) -> None:
    other = live.in_review("Other Task", variations=1)["id"]
    slow = live.in_review(
        "Slow Task", name="Slow Task.yaml", variations=1, steps=40, width=256, height=256
    )["id"]
    app = app_for(live)
    async with app.run_test(size=(80, 24)) as pilot:
        await gallery_of(pilot, app, slow, 1)
        await pilot.press("g")
        assert isinstance(app.screen, GenerateScreen)
        await pilot.press("backspace", "8", "enter", "c")
        await until(
            pilot,
            lambda: live.client.task(slow)["status"] == "review",
            timeout=300,  # the cancel is seen at the next step; a busy machine's is slow
            what="the slow task cancelled, back in review",
        )
        assert app.review.tasks.current is not None and app.review.tasks.current["id"] == slow
    history = live.daemon.store.events.for_task(slow) if live.daemon else []
    assert any((e.detail or {}).get("cancelled") for e in history) or any(
        e.to_status == "review" and e.from_status == "generating" for e in history
    )
    assert live.client.task(slow)["variation_count"] < 9  # not all 8 more were made
    untouched = live.client.task(other)
    assert untouched["status"] == "review" and untouched["variation_count"] == 1


# -- findings 5, 6, 7: labels, details, Esc ---------------------------------------------


async def test_same_titles_tell_apart_and_the_list_has_a_header(live: ApiDaemon) -> None:
    first = live.submit(task_yaml("Making Delicious Muffins", variations=1), "muffins.yaml")
    again = live.submit(task_yaml("Making Delicious Muffins", variations=1, seed=9), "again.yaml")
    for task_id in (first, again):
        live.wait_status(task_id, "review")
    app = app_for(live)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(titles(app)) == 2, what="both rows")
        await pilot.pause(0.2)
        tasks = app.review.tasks
        rows = [tasks.render_line(y).text for y in range(2)]
        assert rows[0] != rows[1]
        assert {first[-6:], again[-6:]} <= {row.strip().split()[-3][-6:] for row in rows}
        header = app.review.query_one("TaskListHeader").render_line(0).text
        assert "title" in header and "age" in header


async def test_tab_gives_the_details_the_arrows_and_says_so(live: ApiDaemon) -> None:
    first = live.in_review("First", variations=1)["id"]
    second = live.in_review(
        "Second", name="Second.yaml", variations=1, prompt="a long prompt " * 40
    )["id"]
    app = app_for(live)
    async with app.run_test(size=(80, 24)) as pilot:
        await gallery_of(pilot, app, second, 1)
        scroll = app.review.detail_scroll
        await pilot.press("right_square_bracket")  # from the list: the details scroll
        assert scroll.scroll_y > 0 and app.review.tasks.has_focus
        await pilot.press("left_square_bracket")
        assert scroll.scroll_y == 0
        await pilot.press("tab")
        assert scroll.has_focus and "Tab or Esc" in str(scroll.border_title)
        await pilot.press("down", "down")
        assert scroll.scroll_y > 0
        assert app.review.tasks.current is not None
        assert app.review.tasks.current["id"] == second  # the list did not move
        await pilot.press("escape", "down")
        assert app.review.tasks.has_focus and scroll.border_title is None
        await until(
            pilot,
            lambda: (
                app.review.tasks.current is not None and app.review.tasks.current["id"] == first
            ),
            what="down moves the list again",
        )
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = dict(app.screen.keys)
        assert "Tab" in keys and "Esc" in keys and "details" in keys["Tab"]
        assert any("[" in k and "]" in k for k in keys)


async def test_esc_in_the_list_drops_a_kept_search(live: ApiDaemon) -> None:
    for title in ("Blueberry Muffins", "Banana Bread"):
        live.in_review(title, variations=1)
    app = app_for(live)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(titles(app)) == 2, what="two tasks")
        await pilot.press("slash", *"banana", "enter")
        await until(pilot, lambda: titles(app) == ["Banana Bread"], what="the kept search")
        assert app.review.tasks.has_focus
        await pilot.press("escape")
        await until(pilot, lambda: len(titles(app)) == 2, what="the search dropped")
        assert app.review.search.value == "" and app.review.search.has_class("-hidden")


# -- findings 8, 10, 11, 12: the words on screen ----------------------------------------


async def test_the_reject_dialog_says_what_it_will_do(live: ApiDaemon) -> None:
    task_id = live.in_review("Rejectable", variations=1)["id"]
    app = app_for(live)
    async with app.run_test(size=(80, 24)) as pilot:
        await gallery_of(pilot, app, task_id, 1)
        await pilot.press("r")
        assert isinstance(app.screen, RejectScreen)
        tick = app.screen.query_one(Tick)
        assert "✓" not in str(tick.render())
        tick.value = True
        await pilot.pause()
        assert "✓" in str(tick.render())
        button = app.screen.query_one("#reject", Button)
        assert str(button.label) == "Reject"
        await pilot.press("p", *"golden crust")  # p: to the prompt field
        assert str(button.label) == "Reject and regenerate"
        prompt = app.screen.query_one("#prompt", Input)
        assert len(prompt.placeholder) < prompt.content_region.width  # not cut
        await pilot.press("escape")


async def test_the_help_says_what_q_does_here(live: ApiDaemon) -> None:
    cases = [({}, "quit (the daemon keeps running)"), ({"quit_note": "ends it"}, "ends it")]
    for options, words in cases:
        app = app_for(live, **options)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.connected, what="the stream")  # noqa: B023
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            assert dict(app.screen.keys)["q"] == words
            legend = dialog_text(app)
            assert "awaiting review" in legend and "takes effect in 7 s" in legend


async def test_the_no_daemon_screen_says_how_to_start_one_once(live: ApiDaemon) -> None:
    live.stop()
    app = app_for(live)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(
            pilot,
            lambda: isinstance(app.screen, DisconnectedScreen) and app.screen.query("#reason"),
            what="no daemon",
        )
        text = dialog_text(app)
        assert "Start it with `gladtui daemon`" in text
        assert "start one: start it" not in text.lower()


# -- finding 15 and the one-key setting: rules from the daemon --------------------------


async def test_a_failed_task_can_be_approved_again_and_more_follows_the_limits(
    tiny: LoadedModel,
) -> None:
    settings = {"limits": {"max_variations": 5}, "generation": {"variations": 2}}
    daemon = ApiDaemon(tiny, settings=settings).start()
    try:
        task_id = daemon.in_review("Failing", variations=2)["id"]
        assert daemon.daemon is not None
        # A publish that failed leaves the task failed, with its variations.
        failed = TaskStatus.FAILED
        daemon.daemon.store.tasks.set_status(task_id, failed, error="the CDN said no")
        app = app_for(daemon)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("F")  # the Failed filter
            await gallery_of(pilot, app, task_id, 2)
            await pilot.press("g")
            assert isinstance(app.screen, GenerateScreen)
            assert "How many (1-5)" in dialog_text(app)
            await pilot.press("escape", "2", "a")
            assert isinstance(app.screen, ApproveScreen)
            await pilot.press("y")
            published = daemon.wait_status(task_id, "published")
        assert published["selected_variation"] == 2
    finally:
        daemon.cleanup()


async def test_one_key_decisions_and_undo(tiny: LoadedModel) -> None:
    daemon = ApiDaemon(tiny, settings={"publishing": {"grace_seconds": 600}}).start()
    try:
        older = daemon.in_review("Older", variations=2)["id"]
        newer = daemon.in_review("Newer", variations=2)["id"]
        app = app_for(daemon, confirm=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await gallery_of(pilot, app, newer, 2)
            await pilot.press("2", "a")  # one key: no dialog
            assert app.screen is app.review
            await gallery_of(pilot, app, older, 2)  # moved on at once
            wait_until(lambda: daemon.client.task(newer)["status"] == "approved")
            await until(
                pilot,
                lambda: "↑" in app.review.tasks.render_line(0).text,
                what="the approved task's countdown",
            )
            await pilot.press("r")  # one key: rejected, the files stay during the grace
            wait_until(lambda: daemon.client.task(older)["status"] == "rejected")
            await pilot.press("u")  # the last decision: the rejection
            await until(pilot, lambda: daemon.client.task(older)["status"] == "review")
            await pilot.press("u")  # then the approval, and back on its variation
            await until(pilot, lambda: daemon.client.task(newer)["status"] == "review")
            await gallery_of(pilot, app, newer, 2)
            assert gallery(app).selected == 2
        assert daemon.client.posts()["total"] == 0
    finally:
        daemon.cleanup()
