"""The large view's geometry (gladtui/tui/loupe.py): crops at 100 %, pans, fits, panels."""

from __future__ import annotations

import pytest

from gladtui.tui.loupe import Crop, fit, loupe, pan, panels

SQUARE = (1024, 1024)
HALF_BLOCK = (1, 2)  # a cell's pixels in half blocks
KITTY = (10, 20)  # a terminal's cell


def test_the_loupe_starts_centred_one_image_pixel_per_drawn_pixel() -> None:
    # 80x21 cells in half blocks: 80x42 image pixels.
    sight = loupe(SQUARE, (80, 21), HALF_BLOCK, None)
    assert sight.cells == (80, 21)
    assert sight.crop == Crop(472, 491, 552, 533, SQUARE)
    assert sight.crop.describe() == "x 472–552, y 491–533 of 1024×1024"
    # With real pixels, a cell is the terminal's: 800x420 of them.
    sight = loupe(SQUARE, (80, 21), KITTY, None)
    assert (sight.crop.width, sight.crop.height) == (800, 420)
    assert sight.crop.describe() == "x 112–912, y 302–722 of 1024×1024"


def test_a_pan_moves_a_quarter_of_the_view() -> None:
    crop = loupe(SQUARE, (40, 21), KITTY, None).crop  # 400x420 pixels
    right = loupe(SQUARE, (40, 21), KITTY, pan(crop, 1, 0)).crop
    assert (right.left, right.top) == (crop.left + 100, crop.top)
    down = loupe(SQUARE, (40, 21), KITTY, pan(crop, 0, 1)).crop
    assert (down.left, down.top) == (crop.left, crop.top + 105)
    back = loupe(SQUARE, (40, 21), KITTY, pan(right, -1, 0)).crop
    assert back == crop
    # Near an edge a step goes only as far as the edge.
    wide = loupe(SQUARE, (80, 21), KITTY, None).crop  # 800 wide: 112 to spare either side
    assert loupe(SQUARE, (80, 21), KITTY, pan(wide, 1, 0)).crop.right == 1024


def test_the_loupe_stops_at_the_edges() -> None:
    crop = loupe(SQUARE, (80, 21), KITTY, None).crop
    for _ in range(10):
        crop = loupe(SQUARE, (80, 21), KITTY, pan(crop, -1, -1)).crop
    assert (crop.left, crop.top) == (0, 0)
    assert loupe(SQUARE, (80, 21), KITTY, pan(crop, -1, -1)).crop == crop  # stays
    for _ in range(10):
        crop = loupe(SQUARE, (80, 21), KITTY, pan(crop, 1, 1)).crop
    assert (crop.right, crop.bottom) == SQUARE
    assert crop.describe() == "x 224–1024, y 604–1024 of 1024×1024"


@pytest.mark.parametrize("image", [(1024, 1024), (1217, 831), (640, 1536), (1023, 1)])
@pytest.mark.parametrize("cell", [HALF_BLOCK, KITTY, (7, 15)])
def test_a_centre_gives_back_its_crop(image: tuple[int, int], cell: tuple[int, int]) -> None:
    """The place is kept as the crop's centre: the same centre, the same crop (what
    keeps the loupe in place across variations), at any size, odd ones included."""
    crop = loupe(image, (59, 17), cell, None).crop
    for steps in [(0, 0), (1, 0), (0, -1), (3, 2), (-5, 7)]:
        moved = loupe(image, (59, 17), cell, pan(crop, *steps)).crop
        assert loupe(image, (59, 17), cell, moved.centre).crop == moved
        assert 0 <= moved.left < moved.right <= image[0]
        assert 0 <= moved.top < moved.bottom <= image[1]
        assert (moved.width, moved.height) == (crop.width, crop.height)


def test_an_image_smaller_than_the_view_is_shown_whole_in_whole_cells() -> None:
    sight = loupe((64, 64), (80, 21), KITTY, None)
    assert sight.cells == (6, 3)  # 60x60 pixels: the cells it fills
    assert sight.crop.describe() == "x 2–62, y 2–62 of 64×64"
    # The 4 pixels that fill no cell are reached by panning, and no further.
    moved = loupe((64, 64), (80, 21), KITTY, pan(sight.crop, 1, 1)).crop
    assert moved.describe() == "x 4–64, y 4–64 of 64×64"
    tiny = loupe((5, 5), (80, 21), KITTY, None)  # smaller than a cell: one cell
    assert tiny.cells == (1, 1) and tiny.crop.box == (0, 0, 5, 5)


def test_fit_keeps_the_aspect() -> None:
    assert fit(SQUARE, (80, 21), KITTY) == (42, 21)  # 420 px tall: as wide
    assert fit(SQUARE, (80, 21), HALF_BLOCK) == (42, 21)
    assert fit((1536, 640), (80, 21), KITTY) == (80, 17)  # wide: the width decides
    assert fit(SQUARE, (39, 21), KITTY) == (39, 20)


def test_panels_side_by_side_are_equal() -> None:
    assert panels(80, 1) == [80]
    assert panels(80, 2) == [39, 39]  # and the gap
    assert panels(120, 2) == [59, 59]
