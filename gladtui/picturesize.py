"""How many pixels a picture needs: the gallery's box in cells times a cell's pixels.

The TUI asks the daemon for thumbnails this wide, so a picture is neither
blurred (too few pixels for the box) nor heavier than the box can show (over
SSH every byte crosses the link). A cell's pixels are the terminal's own
(terminalfacts.py); half blocks draw two pixels a cell, one wide.
"""

from __future__ import annotations

from gladtui.terminalfacts import CellPixels

HALF_BLOCK_CELL = CellPixels(1, 2, "half blocks: one pixel wide, two tall")
# The API's bounds for `…/thumbnail?width=W` (daemon/imageserving.py checks them).
MIN_WIDTH, MAX_WIDTH = 16, 8192


def picture_cell(protocol: str, cell: CellPixels) -> CellPixels:
    """The pixels one cell shows with `protocol`."""
    return HALF_BLOCK_CELL if protocol == "halfblocks" else cell


def wanted_thumbnail_width(box_cells: int, cell_pixels: int) -> int:
    """The thumbnail width to ask the daemon for: a box `box_cells` wide, each cell
    `cell_pixels` wide. The one place where that width is decided; the daemon
    rounds what it is asked up to the widths it keeps."""
    return min(max(box_cells * cell_pixels, MIN_WIDTH), MAX_WIDTH)
