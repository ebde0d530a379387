"""The kitty graphics widget: a picture as Unicode placeholder cells (kittyescapes.py).

textual-image's own kitty widget sends the picture again under a new id at
every render and its cleanup (`a=d` without `d=I`) frees nothing, and it
writes to stdout beside Textual's writer thread, unwrapped for tmux. This one
transmits a picture once per size, under an id it keeps while the picture is
shown; a new picture or size gets a new id, and the old one is deleted once
the screen no longer shows its cells (after the next refresh), as is the last
when the widget goes. Escapes go through Textual's own output queue (where
Textual writes its clipboard escape), wrapped for tmux's passthrough when the
TUI runs inside tmux, so they never split one of Textual's sequences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from PIL import Image as PILImage
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from textual.app import App
from textual.app import RenderResult as WidgetRenderResult
from textual_image._geometry import ImageSize
from textual_image._pixeldata import PixelData, ensure_image
from textual_image._terminal import get_cell_size
from textual_image._utils import StrOrBytesPath
from textual_image.renderable.halfcell import Image as HalfcellRenderable
from textual_image.widget._base import Image as PictureBase

from gladtui.passthrough import Wrap, unwrapped
from gladtui.tui import kittyescapes
from gladtui.tui.kittyescapes import Encoded, ImageIds, Ticket

Picture = StrOrBytesPath | IO[bytes] | PILImage.Image  # what textual-image draws


@dataclass(slots=True)
class KittyOutput:
    """Where the escapes go: wrapped or not, whether 24-bit colours reach the
    terminal as such (through tmux only when its terminal has the RGB feature),
    and how a picture is encoded (bench/loupe.py compares the encodings)."""

    wrap: Wrap = unwrapped
    rgb_reaches: bool = True
    encode: Callable[[PILImage.Image], Encoded] = kittyescapes.zlib_pixels

    def send(self, app: App[Any], escapes: list[str]) -> None:
        driver = app._driver  # Textual's writer queue; None before start and after exit
        if driver is not None and escapes:
            driver.write("".join(self.wrap(e) for e in escapes))


OUTPUT = KittyOutput()
IDS = ImageIds()
HELD: dict[int, Ticket] = {}  # every image sent and not yet deleted, by id
SENT: set[int] = set()  # every id this process ever sent an image under


def delete_all_sent(app: App[Any]) -> None:
    """Delete every image this process sent, once more: called as the app unmounts,
    after its widgets. Ids are global to the terminal, so a leak outlives the TUI,
    and a delete can be lost on the way: tmux drops passthrough while its terminal
    is behind on output (a slow SSH link, a big picture just before; measured on
    a loaded machine: one delete in a loupe session never arrived). Deleting an
    id that is gone already is a no-op for the terminal (q=2: no answer)."""
    OUTPUT.send(app, [kittyescapes.delete(image_id) for image_id in sorted(SENT)])
    for ticket in HELD.values():
        IDS.give_back(ticket)
    HELD.clear()


def configure(wrap: Wrap, rgb_reaches: bool) -> None:
    """Set once, before the app starts: the choice belongs to the terminal."""
    OUTPUT.wrap, OUTPUT.rgb_reaches = wrap, rgb_reaches


@dataclass(frozen=True, slots=True)
class Shown:
    """A picture the terminal holds: which, at what size, under which id."""

    picture: object
    cells: tuple[int, int]  # columns, rows
    pixels: tuple[int, int]
    ticket: Ticket
    image_id: int

    def fits(self, picture: object, cells: tuple[int, int], pixels: tuple[int, int]) -> bool:
        return self.picture is picture and self.cells == cells and self.pixels == pixels


class KittyPicture(PictureBase, Renderable=HalfcellRenderable):
    """textual-image's picture widget (its sizing), drawn as placeholder cells; its
    renderable (half blocks) only when no id is free or the picture is too large."""

    def __init__(
        self, image: PILImage.Image, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(image, id=id, classes=classes)
        self._shown: Shown | None = None
        self._retired: list[Shown] = []  # replaced, deleted after the next refresh
        self._gone = False  # unmounted: a render still queued must send nothing

    def render(self) -> WidgetRenderResult:
        picture = self.image
        return "" if picture is None else _Cells(self, picture)

    def on_unmount(self) -> None:
        self._gone = True
        for shown in [*self._retired, *([self._shown] if self._shown else [])]:
            self._delete(shown)
        self._retired, self._shown = [], None

    def shown_as(
        self, picture: Picture, cells: tuple[int, int], pixels: tuple[int, int]
    ) -> Shown | None:
        """`picture` at this size in the terminal: sent now unless it is there already.
        None when no id is free."""
        if self._shown is not None and self._shown.fits(picture, cells, pixels):
            return self._shown
        if self._gone:
            return None
        ticket = IDS.take()
        if ticket is None:
            return None
        true_colour = self.app.console.color_system == "truecolor" and OUTPUT.rgb_reaches
        image_id = kittyescapes.image_id(ticket.colour, ticket.high, true_colour=true_colour)
        escapes = kittyescapes.transmit(image_id, OUTPUT.encode(_at_size(picture, pixels)))
        OUTPUT.send(self.app, [*escapes, kittyescapes.place(image_id, *cells)])
        HELD[image_id] = ticket
        SENT.add(image_id)
        if self._shown is not None:
            self._retire(self._shown)
        self._shown = Shown(picture, cells, pixels, ticket, image_id)
        return self._shown

    def _retire(self, shown: Shown) -> None:
        self._retired.append(shown)
        self.call_after_refresh(self._delete_retired, shown)

    def _delete_retired(self, shown: Shown) -> None:
        if shown in self._retired:  # not already deleted by an unmount
            self._retired.remove(shown)
            self._delete(shown)

    def _delete(self, shown: Shown) -> None:
        if HELD.pop(shown.image_id, None) is None:
            return  # deleted already, by delete_all_sent
        OUTPUT.send(self.app, [kittyescapes.delete(shown.image_id)])
        IDS.give_back(shown.ticket)


def _at_size(picture: Picture, pixels: tuple[int, int]) -> PILImage.Image:
    """The picture scaled to `pixels`; itself when it has that size already (the loupe's
    crops do: no copy, no resampling)."""
    if isinstance(picture, PILImage.Image) and picture.size == pixels:
        return picture
    with ensure_image(picture) as image:
        return PixelData(image).scaled(*pixels).pil_image


class _Cells:
    """The rich renderable of a KittyPicture: its placeholder cells at the size given."""

    def __init__(self, widget: KittyPicture, picture: Picture) -> None:
        self.widget = widget
        self.picture = picture
        self.size = ImageSize(widget._image_width, widget._image_height, *widget._get_styled_size())

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width, _ = self.size.get_cell_size(options.max_width, options.max_height, get_cell_size())
        return Measurement(width, width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        cell, height = get_cell_size(), options.max_height
        cells = self.size.get_cell_size(options.max_width, height, cell)
        pixels = self.size.get_pixel_size(options.max_width, height, cell)
        fits = max(cells) <= len(kittyescapes.DIACRITICS) and min(cells) > 0
        shown = self.widget.shown_as(self.picture, cells, pixels) if fits else None
        if shown is None:  # too large for the diacritics, or no id free
            half_blocks = HalfcellRenderable(self.picture, *cells)
            yield from half_blocks.__rich_console__(console, options)
            return
        yield from _rows(shown)


def _rows(shown: Shown) -> Iterator[Segment]:
    style = Style(color=kittyescapes.cell_colour(shown.ticket.colour))
    for line in kittyescapes.placeholder_rows(shown.ticket.colour, shown.ticket.high, *shown.cells):
        yield Segment(line, style)
        yield Segment.line()
