"""The gallery widget: every picture the TUI holds for the task shown is drawn."""

from __future__ import annotations

from typing import Any

from PIL import Image
from textual.app import App, ComposeResult
from textual.containers import Vertical

from gladtui.shapes import VariationJSON
from gladtui.tui.gallery import Gallery
from gladtui.tui.picturewidget import PictureBase


def variation(index: int) -> VariationJSON:
    fields: dict[str, Any] = {
        "index": index, "round": 1, "path": f"/p/t-{index}.png", "thumbnail": f"/t/{index}",
        "seed": 40 + index, "width": 64, "height": 64, "selected": False, "removed_at": None,
        "missing": False,
    }  # fmt: skip
    return fields  # type: ignore[return-value]  # the fields the gallery reads


class GalleryOnly(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.gallery = Gallery(id="gallery")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield self.gallery


async def test_a_picture_that_came_before_the_same_task_is_shown_again_is_drawn() -> None:
    """The look-ahead may store a picture just after the gallery was drawn without it:
    showing the task again with it (its variations unchanged) must draw it."""
    variations = [variation(n) for n in (1, 2, 3)]
    picture = Image.new("RGB", (64, 64), (200, 120, 40))
    app = GalleryOnly()
    async with app.run_test(size=(80, 24)) as pilot:
        gallery = app.gallery
        gallery.show("t1", variations, {1: picture, 2: picture, 3: None})
        await pilot.pause()
        assert len(gallery.query(PictureBase)) == 2 and len(gallery.query(".pending")) == 1
        gallery.show("t1", variations, {1: picture, 2: picture, 3: picture})
        await pilot.pause()
        assert len(gallery.query(PictureBase)) == 3 and not gallery.query(".pending")
