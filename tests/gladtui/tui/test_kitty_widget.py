"""The kitty picture widget's bookkeeping: every image it sends is deleted once,
whether its widget goes first or the app does, and a render that comes after
the widget went sends nothing (CI once saw an image left behind on quit)."""

from __future__ import annotations

import asyncio

from PIL import Image
from textual.app import App, ComposeResult

from gladtui.tui import kittypicture
from gladtui.tui.kittypicture import HELD, IDS, KittyPicture


class OnePicture(App[None]):
    def compose(self) -> ComposeResult:
        yield KittyPicture(Image.new("RGB", (64, 64), (200, 40, 40)), id="picture")


def test_a_removed_widget_deletes_its_image_and_a_late_render_sends_nothing() -> None:
    async def scenario() -> None:
        free = IDS.free
        app = OnePicture()
        async with app.run_test(size=(40, 12)) as pilot:
            await pilot.pause()
            widget = app.query_one(KittyPicture)
            assert len(HELD) == 1 and IDS.free == free - 1
            await widget.remove()
            assert HELD == {} and IDS.free == free
            late = widget.shown_as(widget.image, (4, 2), (48, 48))  # type: ignore[arg-type]
            assert late is None and HELD == {} and IDS.free == free

    asyncio.run(scenario())


def test_the_app_deletes_what_is_still_held_and_nothing_twice() -> None:
    async def scenario() -> None:
        free = IDS.free
        app = OnePicture()
        async with app.run_test(size=(40, 12)) as pilot:
            await pilot.pause()
            assert len(HELD) == 1
            kittypicture.delete_all_held(app)
            assert HELD == {} and IDS.free == free
        # the widget's own unmount came after: its ticket was not given back twice
        assert IDS.free == free

    asyncio.run(scenario())
