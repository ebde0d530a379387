"""The widget that draws a picture, by the protocol chosen for this terminal.

textual-image provides kitty graphics, sixel and half blocks. iTerm2's inline
images (OSC 1337) are drawn here the way textual-image draws sixels: its
sixel widget places an escape sequence over the widget's cells at render
time, so the same widget with another encoder draws iTerm2's. That reaches
into textual-image's sixel widget, hence the version bound in pyproject.toml.

`use(protocol)` is called once by `gladtui.tui.run`, before the app starts
(the choice belongs to the terminal, for the whole process); until then the
widget textual-image detected is used, which is what tests see.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

from PIL import Image as PILImage
from textual.app import ComposeResult
from textual.widget import Widget
from textual_image.widget import HalfcellImage, SixelImage, TGPImage
from textual_image.widget import Image as DetectedImage
from textual_image.widget._base import Image as PictureBase
from textual_image.widget.sixel import _ImageSixelImpl, _NoopRenderable

from gladtui.pictureprotocol import Protocol


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
    "kitty": TGPImage,
    "sixel": SixelImage,
    "iterm2": ITerm2Image,
    "halfblocks": HalfcellImage,
}
_chosen: list[Callable[..., Widget]] = [DetectedImage]


__all__ = ["PictureBase", "picture_widget", "use"]


def use(protocol: Protocol) -> None:
    """Draw every picture from now on with `protocol`."""
    _chosen[0] = _WIDGETS[protocol]


def picture_widget(picture: PILImage.Image, *, id: str | None = None) -> Widget:
    """A widget drawing `picture` to fill its box, by the protocol in use."""
    return _chosen[0](picture, id=id, classes="picture")
