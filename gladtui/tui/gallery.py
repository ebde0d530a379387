"""The gallery: a task's variations as thumbnails side by side, one selected.

Thumbnails are drawn by textual-image, which picked the best way this
terminal can show pictures (kitty graphics, sixel, else coloured half blocks)
when `gladtui.tui` was imported, before the app started.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import HorizontalScroll, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Label, Static
from textual_image.widget import Image

from gladtui.shapes import VariationJSON


def live_variations(variations: list[VariationJSON]) -> list[VariationJSON]:
    """The variations whose file is still on disk: the ones a reviewer can choose."""
    return [v for v in variations if v["removed_at"] is None]


def picture(variation: VariationJSON, *, large: bool) -> Path | None:
    """The file to show: the thumbnail in the gallery, the full image when enlarged."""
    choices = [variation["path"], variation["thumbnail"]] if large else [variation["thumbnail"]]
    return next((Path(p) for p in choices if p and Path(p).is_file()), None)


class Thumbnail(Vertical):
    """One variation: its picture and `N · seed`."""

    def __init__(self, variation: VariationJSON) -> None:
        super().__init__()
        self.variation = variation

    def compose(self) -> ComposeResult:
        path = picture(self.variation, large=False)
        if path is None:
            yield Static("(no file)", classes="missing")
        else:
            yield Image(path)
        mark = " ✓ approved" if self.variation["selected"] else ""
        yield Label(f"{self.variation['index']}{mark}")


class Gallery(HorizontalScroll, can_focus=False):
    """Thumbnails of the live variations; `selected` is a variation index (1-based)."""

    selected: reactive[int | None] = reactive(None, init=False)

    class Selected(Message):
        def __init__(self, index: int | None) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.task_id: str | None = None
        self.variations: list[VariationJSON] = []

    def hide_stale(self) -> None:
        """Hide the pictures until the next `show` (another task is under the cursor).

        Cheaper than removing them: a repaint, not a layout of the whole pane,
        so the cursor stays quick while it moves.
        """
        self.add_class("-stale")

    def show(self, task_id: str | None, variations: list[VariationJSON], note: str = "") -> None:
        """Show a task's variations; the selection stays when the task is the same."""
        self.remove_class("-stale")
        live = live_variations(variations)
        shown = [(v["index"], v["thumbnail"], v["selected"]) for v in self.variations]
        same_task = task_id == self.task_id
        if same_task and shown == [(v["index"], v["thumbnail"], v["selected"]) for v in live]:
            return  # nothing visible changed: keep the pictures as they are
        keep = self.selected if same_task else None
        self.task_id, self.variations = task_id, live
        self.remove_children()
        if not live:
            self.mount(Static(note or "No images yet.", classes="empty"))
        else:
            self.mount_all(Thumbnail(v) for v in live)
        indexes = [v["index"] for v in live]
        chosen = next((v["index"] for v in live if v["selected"]), None)
        self.selected = keep if keep in indexes else (chosen or (indexes[0] if indexes else None))
        self._mark()

    def select(self, index: int) -> bool:
        """Select variation `index`; False when the task has no such live variation."""
        if index not in [v["index"] for v in self.variations]:
            return False
        self.selected = index
        return True

    def step(self, delta: int) -> None:
        indexes = [v["index"] for v in self.variations]
        if not indexes:
            return
        at = indexes.index(self.selected) if self.selected in indexes else 0
        self.selected = indexes[(at + delta) % len(indexes)]

    @property
    def current(self) -> VariationJSON | None:
        return next((v for v in self.variations if v["index"] == self.selected), None)

    def watch_selected(self) -> None:
        self._mark()
        self.post_message(self.Selected(self.selected))

    def _mark(self) -> None:
        for thumbnail in self.query(Thumbnail):
            chosen = thumbnail.variation["index"] == self.selected
            thumbnail.set_class(chosen, "-selected")
            if chosen:
                self.scroll_to_widget(thumbnail, animate=False)
