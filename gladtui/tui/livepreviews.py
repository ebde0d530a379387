"""Live previews in the gallery: the variations being generated, as they form.

The daemon's progress events say when a new preview is there (its step and
the variations of the running batch); the review screen then fetches them
through the API (`Client.preview`, never a file) and the gallery shows each
in a `PreviewBox` where the pending variation will be, captioned with its
step. When the variation is final its thumbnail takes the box's place.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image as PILImage
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Label

from gladtui.client import Client, ClientError
from gladtui.shapes import ProgressJSON
from gladtui.tui.picturewidget import PictureBase, picture_widget


@dataclass(frozen=True, slots=True)
class PreviewShot:
    picture: PILImage.Image
    step: str  # "12/30", as the daemon's Preview-Step header says


def preview_mark(progress: ProgressJSON) -> tuple[int, list[int]] | None:
    """(step, variations) of a progress event's latest preview; None when there is none."""
    preview = progress.get("preview")
    if preview is None:
        return None
    return preview["step"], preview["variations"]


def fetch_previews(client: Client, task_id: str, indexes: list[int]) -> dict[int, PreviewShot]:
    """The latest preview of each variation that has one now. Blocking: call from a worker."""
    shots: dict[int, PreviewShot] = {}
    for index in indexes:
        try:
            data, step = client.preview(task_id, index)
        except ClientError:
            continue  # final meanwhile (404), or the daemon is gone: the stream says so
        try:
            with PILImage.open(io.BytesIO(data)) as opened:
                picture = opened.convert("RGB")
        except (OSError, ValueError):
            continue
        shots[index] = PreviewShot(picture, step)
    return shots


class PreviewBox(Vertical):
    """A variation being generated: its latest preview and `N · 12/30` (the step)."""

    def __init__(
        self, index: int, shot: PreviewShot, width: int, picture_size: tuple[int, int]
    ) -> None:
        super().__init__()
        self.index = index
        self.shot = shot
        self.styles.width = width
        self._picture_size = picture_size

    def compose(self) -> ComposeResult:
        widget: Widget = picture_widget(self.shot.picture)
        widget.styles.width = self._picture_size[0]
        widget.styles.height = self._picture_size[1]
        yield widget
        yield Label(self._caption())

    def _caption(self) -> str:
        return f"{self.index} · {self.shot.step}"

    def update(self, shot: PreviewShot) -> None:
        """A newer preview: drawn in place, no new layout."""
        self.shot = shot
        self.query_one(".picture", PictureBase).image = shot.picture
        self.query_one(Label).update(self._caption())


class PreviewTracker:
    """Which previews to fetch: those of a step not fetched yet (events come every step)."""

    def __init__(self) -> None:
        self._last: tuple[str, int, tuple[int, ...]] | None = None

    def wanted(self, task_id: str, progress: ProgressJSON) -> list[int]:
        mark = preview_mark(progress)
        if mark is None:
            return []
        key = (task_id, mark[0], tuple(mark[1]))
        if key == self._last:
            return []
        self._last = key
        return mark[1]
