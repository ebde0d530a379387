"""The kitty picture widget's bookkeeping: every image it sends is deleted once,
whether its widget goes first or the app does, and a render that comes after
the widget went sends nothing (CI once saw an image left behind on quit)."""

from __future__ import annotations

import asyncio

from PIL import Image
from textual.app import App, ComposeResult

from gladtui.passthrough import unwrapped
from gladtui.tui import kittyescapes, kittypicture
from gladtui.tui.kittypicture import HELD, IDS, KittyPicture


class OnePicture(App[None]):
    def compose(self) -> ComposeResult:
        yield KittyPicture(Image.new("RGB", (64, 64), (200, 40, 40)), id="picture")

    def on_unmount(self) -> None:
        kittypicture.delete_all_sent(self)  # as the review app does


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
            kittypicture.delete_all_sent(app)
            assert HELD == {} and IDS.free == free
        # the widget's own unmount came after: its ticket was not given back twice
        assert IDS.free == free

    asyncio.run(scenario())


def test_on_exit_every_image_ever_sent_is_deleted_again() -> None:
    """tmux drops passthrough while its terminal is behind on output: a delete sent
    once may never arrive, so the app deletes every id it used once more at exit."""
    written: list[str] = []

    def recording(escape: str) -> str:
        written.append(escape)
        return escape

    async def scenario() -> None:
        kittypicture.configure(recording, rgb_reaches=True)
        app = OnePicture()
        async with app.run_test(size=(40, 12)) as pilot:
            await pilot.pause()
            [image_id] = HELD
            await app.query_one(KittyPicture).remove()
            deletes = [e for e in written if e == kittyescapes.delete(image_id)]
            assert len(deletes) == 1  # deleted as its widget went
        deletes = [e for e in written if e == kittyescapes.delete(image_id)]
        assert len(deletes) == 2  # and again as the app went

    try:
        asyncio.run(scenario())
    finally:
        kittypicture.configure(unwrapped, rgb_reaches=True)
