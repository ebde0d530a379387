"""The large view: the loupe at 100 % and the compare, under Textual's pilot in half blocks.

A real daemon (no model: the variations are 1024x1024 files put in its store,
each pixel naming its place, tests/storedpictures.py) and the real app, with
pictures drawn in half blocks as `gladtui tui` draws them in a terminal that
shows no graphics. What is checked is what the screen draws, read back from
the picture widget's own cells (two pixels a cell, their colours), against
the daemon's full image at the place the screen names.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image, ImageChops
from textual.geometry import Region
from textual.widget import Widget

from gladtui.tui.app import ReviewApp
from gladtui.tui.gallery import Thumbnail
from gladtui.tui.largeview import LargeView
from gladtui.tui.modals import ApproveScreen
from gladtui.tui.screens import HelpScreen
from tests.apidaemon import ApiDaemon
from tests.storedpictures import add_review_task, coordinates
from tests.tuitools import half_blocks, large_view_shows, make_app, until

pytestmark = pytest.mark.slow

SIZE = (1024, 1024)
SIZES = [(80, 24), (120, 40)]
PLACE = re.compile(r"x (\d+)–(\d+), y (\d+)–(\d+) of (\d+)×(\d+)")
CDN = "https://cdn.example.com/images"


@pytest.fixture(autouse=True)
def drawn_in_half_blocks() -> Iterator[None]:
    with half_blocks():
        yield


@pytest.fixture
def daemon() -> Iterator[ApiDaemon]:
    settings = {"publishing": {"local": {"dir": "cdn", "base_url": CDN}}}
    d = ApiDaemon(None, settings=settings).start()
    yield d
    d.cleanup()


def served(d: ApiDaemon, task_id: str, index: int) -> Image.Image:
    return Image.open(io.BytesIO(d.client.image(task_id, index))).convert("RGB")


def drawn(widget: Widget) -> Image.Image:
    """The picture a half-block widget draws: each cell's upper and lower pixel."""
    width, height = widget.size
    picture = Image.new("RGB", (width, 2 * height))
    for y, strip in enumerate(widget.render_lines(Region(0, 0, width, height))):
        x = 0
        for segment in strip:
            style = segment.style
            assert style is not None and style.color and style.bgcolor, segment
            for _ in segment.text:
                picture.putpixel((x, 2 * y), style.color.get_truecolor())
                picture.putpixel((x, 2 * y + 1), style.bgcolor.get_truecolor())
                x += 1
    return picture


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None


def view(app: ReviewApp) -> LargeView:
    screen = app.screen
    assert isinstance(screen, LargeView), screen
    return screen


def caption(app: ReviewApp) -> str:
    return str(view(app).caption.render())


def place(app: ReviewApp) -> tuple[int, int, int, int]:
    """The crop the screen names: left, top, right, bottom."""
    found = PLACE.search(caption(app))
    assert found is not None, caption(app)
    left, right, top, bottom, width, height = (int(n) for n in found.groups())
    assert (width, height) == SIZE
    return (left, top, right, bottom)


def pictures(app: ReviewApp) -> list[Widget]:
    return [panel.picture for panel in view(app).shown_panels]


def labels(app: ReviewApp) -> list[str]:
    return [str(panel.label.render()) for panel in view(app).shown_panels]


async def reviewing(pilot: Any, app: ReviewApp, task_id: str) -> None:
    await until(
        pilot,
        lambda: app.review.gallery.task_id == task_id and app.review.gallery.current is not None,
        what=f"the gallery of {task_id}",
    )


async def settled(pilot: Any, app: ReviewApp, count: int, zoomed: bool) -> None:
    """The large view shows `count` pictures (not `…`), at 100 % or fitted."""
    shows = lambda: large_view_shows(app, count, zoomed=zoomed)  # noqa: E731
    await until(pilot, shows, what=f"{count} picture(s) in the large view")
    await pilot.pause()


async def panned_to_the_end(pilot: Any, app: ReviewApp, *keys: str) -> tuple[int, ...]:
    """Press `keys` until the place stays the same (an edge), at most 200 times."""
    last = place(app)
    for _ in range(200):
        await pilot.press(*keys)
        now = place(app)
        if now == last:
            return now
        last = now
    raise AssertionError(f"still moving after 200 presses of {keys}: {last}")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_z_draws_the_served_pixels_at_the_place_it_names(
    daemon: ApiDaemon, size: tuple[int, int]
) -> None:
    add_review_task(daemon, "loupe", SIZE, 3, paint=coordinates)
    full = {n: served(daemon, "loupe", n) for n in (1, 2, 3)}
    app = make_app(daemon)
    async with app.run_test(size=size) as pilot:
        await reviewing(pilot, app, "loupe")
        await pilot.press("z")
        await settled(pilot, app, 1, zoomed=True)

        # Centred, one image pixel per half cell: the whole width (but the last column,
        # kept empty for tmux), the rows between the caption and the label and footer.
        columns, rows = size[0] - 1, size[1] - 3
        left, top, right, bottom = place(app)
        assert (right - left, bottom - top) == (columns, 2 * rows)
        assert (left + right) // 2 == 512 and (top + bottom) // 2 == 512
        [widget] = pictures(app)
        assert same(drawn(widget), full[1].crop((left, top, right, bottom)))

        # l pans right by a quarter of the view; j down by a quarter.
        await pilot.press("l", "j")
        moved = place(app)
        step_x, step_y = columns // 4, 2 * rows // 4  # a quarter of the crop's pixels
        assert moved == (left + step_x, top + step_y, right + step_x, bottom + step_y)
        assert same(drawn(pictures(app)[0]), full[1].crop(moved))

        # Another variation: the same place, its own pixels.
        for key, index in [("right", 2), ("3", 3), ("left", 2)]:
            await pilot.press(key)
            await settled(pilot, app, 1, zoomed=True)
            assert app.review.gallery.selected == index
            assert place(app) == moved
            assert same(drawn(pictures(app)[0]), full[index].crop(moved))
            assert labels(app) == [f"{index} · seed {index}"]

        # The edges stop it: pressed until it moves no more, it is at the top left,
        # then at the bottom right, and shows what is there.
        edge = await panned_to_the_end(pilot, app, "h", "shift+up")
        assert edge[:2] == (0, 0)
        edge = await panned_to_the_end(pilot, app, "shift+right", "j")
        assert edge[2:] == SIZE
        assert (edge[2] - edge[0], edge[3] - edge[1]) == (columns, 2 * rows)
        assert same(drawn(pictures(app)[0]), full[2].crop(edge))

        await pilot.press("z")  # z goes back where it came from: the list
        await until(pilot, lambda: app.screen is app.review, what="the list")


async def test_enter_then_z_and_esc_go_back_a_step_at_a_time(daemon: ApiDaemon) -> None:
    add_review_task(daemon, "steps", SIZE, 2, paint=coordinates)
    add_review_task(daemon, "other", SIZE, 2, paint=coordinates)
    app = make_app(daemon)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.review.gallery.current is not None, what="a gallery")
        task_id = app.review.gallery.task_id
        assert task_id is not None
        await pilot.press("enter")
        await settled(pilot, app, 1, zoomed=False)
        assert caption(app).startswith("fitted (z: 100 %)")
        [widget] = pictures(app)  # the whole picture, fitted: 21 rows, 42 pixels wide
        assert widget.size == (42, 21)
        whole = served(daemon, task_id, 1).resize((42, 42))  # as textual-image scales it
        assert same(drawn(widget), whole)

        await pilot.press("z", "l")
        await settled(pilot, app, 1, zoomed=True)
        panned = place(app)
        await pilot.press("escape")  # out of the loupe, to the fitted view z came from
        await settled(pilot, app, 1, zoomed=False)
        await pilot.press("z")  # the loupe is where it was on this task
        await settled(pilot, app, 1, zoomed=True)
        assert place(app) == panned
        await pilot.press("escape", "escape")
        await until(pilot, lambda: app.screen is app.review, what="the list")

        await pilot.press("down")  # another task: the loupe starts centred again
        await until(pilot, lambda: app.review.gallery.task_id not in (None, task_id))
        await pilot.press("z")
        await settled(pilot, app, 1, zoomed=True)
        left, top, right, bottom = place(app)
        assert ((left + right) // 2, (top + bottom) // 2) == (512, 512)


async def test_compare_two_side_by_side_then_approve_publishes_the_selected(
    daemon: ApiDaemon,
) -> None:
    paths = add_review_task(daemon, "compare", SIZE, 3, paint=coordinates)
    full = {n: served(daemon, "compare", n) for n in (1, 2, 3)}
    app = make_app(daemon)
    async with app.run_test(size=(80, 24)) as pilot:
        await reviewing(pilot, app, "compare")
        await pilot.press("p")  # pins 1, the selection moves on to 2, side by side
        await settled(pilot, app, 2, zoomed=False)
        assert labels(app) == ["1 · seed 1 · pinned (p: unpin)", "2 · seed 2 · selected: ← → a"]
        left, right = pictures(app)
        assert left.size == right.size == (39, 20)  # 1024² fitted in 39x21 cells
        columns, rows = left.size
        assert same(drawn(left), full[1].resize((columns, 2 * rows)))
        assert same(drawn(right), full[2].resize((columns, 2 * rows)))
        assert not same(drawn(left), drawn(right))

        # The arrows cycle the other one, past the pinned one.
        await pilot.press("right")
        await settled(pilot, app, 2, zoomed=False)
        assert app.review.gallery.selected == 3
        await pilot.press("right")
        await settled(pilot, app, 2, zoomed=False)
        assert app.review.gallery.selected == 2
        assert labels(app)[0].startswith("1 · seed 1 · pinned")

        # z: both at 100 %, at the same place; a pan moves both.
        await pilot.press("z", "l")
        await settled(pilot, app, 2, zoomed=True)
        crop = place(app)
        assert crop[2] - crop[0] == 39  # a half of the width, the gap aside
        assert same(drawn(pictures(app)[0]), full[1].crop(crop))
        assert same(drawn(pictures(app)[1]), full[2].crop(crop))

        # a acts on the selected one (right), and the dialog says so.
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApproveScreen), what="the dialog")
        dialog = app.screen
        assert isinstance(dialog, ApproveScreen) and dialog.variation["index"] == 2
        note = str(dialog.query_one("#approve-note").render())
        assert note == (
            "the selected variation, 2 (on the right in the compare), not the pinned one, 1"
        )
        await pilot.press("y")
        await until(pilot, lambda: app.screen is app.review, what="back to the list")
    published = daemon.wait_status("compare", "published")
    assert published["selected_variation"] == 2
    [uploaded] = sorted((daemon.root / "cdn").iterdir())
    assert uploaded.read_bytes() == paths[1].read_bytes()


async def test_p_again_unpins_and_the_gallery_marks_the_pinned_one(daemon: ApiDaemon) -> None:
    add_review_task(daemon, "pins", SIZE, 3, paint=coordinates)
    app = make_app(daemon)
    async with app.run_test(size=(80, 24)) as pilot:
        await reviewing(pilot, app, "pins")
        await pilot.press("p")
        await settled(pilot, app, 2, zoomed=False)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.review, what="the list")

        def captions() -> list[str]:
            return [str(t.query_one("Label").render()) for t in app.review.query(Thumbnail)]

        await until(pilot, lambda: captions() == ["1 · 1 pin", "2 · 2", "3 · 3"], what="pin")
        await pilot.press("enter")  # with a pin, the large view is the compare
        await settled(pilot, app, 2, zoomed=False)
        await pilot.press("p")  # unpins, in the view: the selected one alone
        await settled(pilot, app, 1, zoomed=False)
        assert labels(app) == ["2 · seed 2"]
        await pilot.press("escape")
        await until(pilot, lambda: captions() == ["1 · 1", "2 · 2", "3 · 3"], what="no pin")
        await pilot.press("p", "escape", "p")  # pinned, back, p in the list: unpinned
        await until(pilot, lambda: captions() == ["1 · 1", "2 · 2", "3 · 3"], what="unpinned")
        assert "variation 2 unpinned" in [n.message for n in app._notifications]


async def test_the_help_lists_the_new_keys(daemon: ApiDaemon) -> None:
    add_review_task(daemon, "help", SIZE, 2, paint=coordinates)
    app = make_app(daemon)
    async with app.run_test(size=(120, 40)) as pilot:
        await reviewing(pilot, app, "help")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        keys = dict(help_screen.keys)
        assert keys["z"].startswith("the selected variation at 100 %")
        assert keys["p"].startswith("pin the selected variation and compare")
        assert keys["← → 1-9"].startswith("select a variation")  # the numbers too
        await pilot.press("escape", "z")
        await settled(pilot, app, 1, zoomed=True)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="its help")
        keys = dict(app.screen.keys)  # type: ignore[attr-defined]
        pan = keys["h Shift+← l Shift+→ k Shift+↑ j Shift+↓"]
        assert pan.startswith("pan the loupe a quarter of the view")
        assert keys["z"].startswith("the loupe: 100 %") and keys["p"].startswith("pin the")
        assert keys["a A"].startswith("approve the selected variation (the right one")
        assert keys["← → 1-9"].startswith("the other variation: previous / next")
