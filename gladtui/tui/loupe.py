"""The large view's geometry: pictures fitted to panels, and the loupe's crop at 100 %.

No Textual here: plain arithmetic, tested on its own (tests/gladtui/tui/test_loupe.py).

100 % means one image pixel per pixel the terminal draws. A cell shows
`cell.width` x `cell.height` of them with kitty graphics, sixel and iTerm2's
images (the terminal's own cell size), and 1 x 2 with half blocks (one pixel
per half cell). So a view of C x R cells shows a crop of C·w x R·h image
pixels, and the picture widget draws that crop unscaled. The crop is whole
cells (an image smaller than the view is shown whole, less what does not fill
a last cell), so nothing is ever stretched.

The loupe's place is the centre of its crop, in image pixels. It starts at
the image's centre; a pan moves it by a quarter of what is visible (`PAN_PART`),
and the crop never leaves the image: at an edge it stops there. The same
centre gives the same crop on every variation of the same size, which is what
keeps the loupe in place when the reviewer moves to another variation.
"""

from __future__ import annotations

from dataclasses import dataclass

PAN_PART = 4  # a pan moves the loupe by a quarter of the visible width (or height)
PANEL_GAP = 1  # cells between two pictures side by side

Point = tuple[int, int]  # x, y in image pixels
Cells = tuple[int, int]  # columns, rows


@dataclass(frozen=True, slots=True)
class Crop:
    """A rectangle of an image, in its pixels: left and top inclusive, right and bottom not."""

    left: int
    top: int
    right: int
    bottom: int
    image: tuple[int, int]  # the whole image's width and height

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def box(self) -> tuple[int, int, int, int]:
        """As Pillow's `Image.crop` takes it."""
        return (self.left, self.top, self.right, self.bottom)

    @property
    def centre(self) -> Point:
        return (self.left + self.width // 2, self.top + self.height // 2)

    def describe(self) -> str:
        """Where the loupe is: `x 384–640, y 200–420 of 1024×1024`."""
        width, height = self.image
        return f"x {self.left}–{self.right}, y {self.top}–{self.bottom} of {width}×{height}"


@dataclass(frozen=True, slots=True)
class Sight:
    """What the loupe shows: the crop, and the cells that draw it one pixel per pixel."""

    crop: Crop
    cells: Cells


def loupe(
    image: tuple[int, int], room: Cells, cell: tuple[int, int], centre: Point | None
) -> Sight:
    """The crop of `image` shown at 100 % in `room` cells of `cell` pixels, around `centre`
    (None: the image's centre), kept inside the image."""
    image_width, image_height = image
    cell_width, cell_height = cell
    columns = _whole_cells(image_width, room[0], cell_width)
    rows = _whole_cells(image_height, room[1], cell_height)
    width = min(columns * cell_width, image_width)
    height = min(rows * cell_height, image_height)
    x, y = centre if centre is not None else (image_width // 2, image_height // 2)
    left = _clamp(x - width // 2, 0, image_width - width)
    top = _clamp(y - height // 2, 0, image_height - height)
    return Sight(Crop(left, top, left + width, top + height, image), (columns, rows))


def pan(crop: Crop, right: int, down: int) -> Point:
    """The loupe's centre after `right` steps to the right and `down` steps down
    (negative: left, up); a step is a quarter of the crop's width or height, at
    least a pixel. The crop stops at the image's edges."""
    step_x = max(crop.width // PAN_PART, 1)
    step_y = max(crop.height // PAN_PART, 1)
    image_width, image_height = crop.image
    left = _clamp(crop.left + right * step_x, 0, image_width - crop.width)
    top = _clamp(crop.top + down * step_y, 0, image_height - crop.height)
    return (left + crop.width // 2, top + crop.height // 2)


def fit(image: tuple[int, int], room: Cells, cell: tuple[int, int]) -> Cells:
    """The cells that show all of `image` as large as `room` allows, its aspect kept
    (a cell being `cell` pixels), at least one by one."""
    image_width, image_height = image
    cell_width, cell_height = cell
    if image_width <= 0 or image_height <= 0:
        return (1, 1)
    scale = min(room[0] * cell_width / image_width, room[1] * cell_height / image_height)
    columns = min(max(round(image_width * scale / cell_width), 1), max(room[0], 1))
    rows = min(max(round(image_height * scale / cell_height), 1), max(room[1], 1))
    return (columns, rows)


def panels(columns: int, count: int) -> list[int]:
    """The widths of `count` panels side by side in `columns`, a gap between them: all
    the same, so the loupe shows the same crop on each (a column may be left over)."""
    usable = max(columns - PANEL_GAP * (count - 1), count)
    return [usable // count] * count


def _whole_cells(pixels: int, room: int, cell: int) -> int:
    """The cells an image `pixels` long takes at 100 %: as many as fit in `room` and
    are filled; one at least (an image smaller than a cell is drawn in one)."""
    return max(min(room, pixels // max(cell, 1)), 1)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, max(high, low)))
