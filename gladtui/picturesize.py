"""How many pixels a picture needs: the gallery's box in cells times a cell's pixels.

The TUI asks the daemon for thumbnails this wide, so a picture is neither
blurred (too few pixels for the box) nor heavier than the box can show (over
SSH every byte crosses the link). A cell's pixels are the terminal's own
(terminalfacts.py); half blocks draw two pixels a cell, one wide.
"""

from __future__ import annotations

from gladtui.shapes import thumbnail_step
from gladtui.terminalfacts import CellPixels

HALF_BLOCK_CELL = CellPixels(1, 2, "half blocks: one pixel wide, two tall")


def picture_cell(protocol: str, cell: CellPixels) -> CellPixels:
    """The pixels one cell shows with `protocol`."""
    return HALF_BLOCK_CELL if protocol == "halfblocks" else cell


def wanted_thumbnail_width(box_cells: int, cell_pixels: int) -> int:
    """The thumbnail width to ask the daemon for: a box `box_cells` wide, each cell
    `cell_pixels` wide, rounded up to the daemon's steps (shapes.THUMBNAIL_WIDTHS), so
    every reviewer's sizes share the daemon's cache. The one place where that width
    is decided."""
    return thumbnail_step(box_cells * cell_pixels)
