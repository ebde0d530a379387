"""The widget that draws a picture, by the protocol chosen for this terminal.

textual-image provides sixel and half blocks; kitty graphics are drawn by
kittypicture.py (Unicode placeholders, through tmux too). iTerm2's inline
images (OSC 1337) are drawn here the way textual-image draws sixels: its
sixel widget places an escape sequence over the widget's cells at render
time, so the same widget with another encoder draws iTerm2's. That reaches
into textual-image's sixel widget, hence the version bound in pyproject.toml.
They are not wrapped for tmux: tmux passes them without moving the cursor
to the pane's cells, so they would land out of place (measured, tmux 3.3a).

`use(choice)` is called once by `gladtui.tui.run`, before the app starts
(the choice belongs to the terminal, for the whole process); until then the
widget textual-image detected is used, which is what tests see.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

from PIL import Image as PILImage
from textual.app import ComposeResult
from textual.css.scalar import Unit
from textual.widget import Widget
from textual_image import _terminal
from textual_image.renderable.halfcell import Image as HalfcellRenderable
from textual_image.renderable.unicode import Image as UnicodeRenderable
from textual_image.widget import HalfcellImage, SixelImage
from textual_image.widget import Image as DetectedImage
from textual_image.widget._base import Image as PictureBase
from textual_image.widget.sixel import _ImageSixelImpl, _NoopRenderable

from gladtui.passthrough import wrap_for
from gladtui.pictureprotocol import Choice, Protocol
from gladtui.terminalfacts import CellPixels
from gladtui.tui import kittypicture
from gladtui.tui.kittypicture import KittyPicture


class _ITerm2Impl(_ImageSixelImpl):
    """textual-image's sixel placement, with iTerm2's inline image as the payload."""

    def _image_to_sixels(
        self, image: PILImage.Image, sixel_options: object = None, background: object = None
    ) -> str:
        return iterm2_inline(image)


class ITerm2Image(SixelImage, Renderable=_NoopRenderable):
    def compose(self) -> ComposeResult:
        yield _ITerm2Impl(self.image, self._sixel_options)


def iterm2_inline(image: PILImage.Image) -> str:
    """OSC 1337 File=: a PNG drawn at exactly its pixel size, the cursor left in place."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    data = buffer.getvalue()
    args = (
        f"inline=1;size={len(data)};width={image.width}px;height={image.height}px;"
        "preserveAspectRatio=0;doNotMoveCursor=1"
    )
    return f"\x1b]1337;File={args}:{base64.b64encode(data).decode('ascii')}\x07"


_WIDGETS: dict[Protocol, Callable[..., Widget]] = {
    "kitty": KittyPicture,
    "sixel": SixelImage,
    "iterm2": ITerm2Image,
    "halfblocks": HalfcellImage,
}
_chosen: list[Callable[..., Widget]] = [DetectedImage]
_choice: list[Choice | None] = [None]


__all__ = ["PictureBase", "chosen", "drawn_cell", "picture_widget", "repicture", "use"]


def use(choice: Choice) -> None:
    """Draw every picture from now on as `choice` says, at its terminal's cell size."""
    _chosen[0] = _WIDGETS[choice.protocol]
    _choice[0] = choice
    facts = choice.facts
    if facts is None:
        return
    _use_cell_size(facts.cell)
    tmux = facts.tmux
    rgb_reaches = tmux is None or "RGB" in tmux.features
    kittypicture.configure(wrap_for(choice.in_tmux), rgb_reaches)


def chosen() -> Choice | None:
    """The choice in use (None: the one textual-image detected, as in tests)."""
    return _choice[0]


def _use_cell_size(cell: CellPixels) -> None:
    """textual-image sizes every picture by its cached cell size, which it read from the
    window size on import; inside tmux that can be tmux's 16x32 guess. The facts'
    size is the terminal's own answer where it gave one."""
    _terminal.get_cell_size._result = _terminal.CellSize(cell.width, cell.height)  # type: ignore[attr-defined]


# The image pixels a cell shows when a widget draws it as text, not as pixels
TEXT_CELLS: dict[type, tuple[int, int]] = {
    HalfcellRenderable: (1, 2),  # two pixels, one above the other
    UnicodeRenderable: (1, 1),  # textual-image's grey characters, when it saw no terminal
}


def drawn_cell() -> tuple[int, int]:
    """The image pixels one cell shows with the widget in use, width and height: the
    terminal's cell for pixels (kitty graphics, sixel, iTerm2), 1x2 for half blocks.
    What the loupe's 100 % is made of."""
    widget = _chosen[0]
    text = None if widget is KittyPicture else getattr(widget, "_Renderable", None)
    if text in TEXT_CELLS:
        return TEXT_CELLS[text]
    cell = _terminal.get_cell_size()
    return (cell.width, cell.height)


def picture_widget(picture: PILImage.Image, *, id: str | None = None) -> Widget:
    """A widget drawing `picture` to fill its box, by the protocol in use."""
    return _chosen[0](picture, id=id, classes="picture")


def repicture(widget: PictureBase, picture: PILImage.Image) -> None:
    """Another picture in `widget`: a repaint only, when its width and height are set in
    cells (as gallery.py and largeview.py set them). textual-image's setter asks for a
    layout of the whole screen, for widgets sized by their picture; for these that is
    the most of what showing the next task costs, and changes nothing."""
    styles = widget.styles
    fixed = all(s is not None and s.unit is Unit.CELLS for s in (styles.width, styles.height))
    pending = widget._layout_required  # a layout asked for by something else stays
    widget.image = picture
    if fixed and not pending:
        widget._layout_required = False
