"""Kitty graphics as Unicode placeholders: the escapes, and the ids the cells carry.

An image is transmitted once (its raw pixels compressed with zlib, base64, in
chunks of 4096 characters: the first with the keys, the rest with only `m`
and `q`), given a virtual
placement of its cells (`a=p,U=1`), and shown by ordinary text: one U+10EEEE
per cell, its row, column and the id's high byte as diacritics, the id's low
part as the foreground colour. Text is what tmux keeps, moves and redraws, so
the picture stays where the cells are. `a=d,d=I` deletes an image and frees
its data (`d=a`, the default, never touches virtual placements).

The colour is what reaches the terminal after Textual and tmux: a 256-colour
index (the id's low byte) or a 24-bit colour (its low 24 bits). Textual turns
every colour into RGB and writes it as 256 colours or true colour, and tmux
writes RGB on as 256 colours unless its terminal has the RGB feature. So the
colours used are those of the 6x6x6 cube that come back as their own index
from both (not greys, which map to the grey ramp): the cell's colour is the
same either way, and the id sent with the image is the one the terminal will
read (`image_id`).
"""

from __future__ import annotations

import base64
import io
import random
import zlib
from collections import deque
from dataclasses import dataclass

from PIL import Image
from rich.color import Color, ColorSystem, ColorType
from rich.color_triplet import ColorTriplet
from textual_image.renderable.tgp import _NUMBER_TO_DIACRITIC  # kitty's diacritics table

PLACEHOLDER = chr(0x10EEEE)
DIACRITICS = tuple(chr(d) for d in _NUMBER_TO_DIACRITIC)  # the numbers 0, 1, 2, ...
CHUNK = 4096  # base64 characters per transmission escape, as the protocol requires
CUBE = (0, 95, 135, 175, 215, 255)  # the levels of xterm's 6x6x6 colour cube (16-231)


def kitty(keys: str, payload: str = "") -> str:
    return f"\x1b_G{keys}{';' + payload if payload else ''}\x1b\\"


@dataclass(frozen=True, slots=True)
class Encoded:
    """A picture as kitty takes it: the keys naming its format, and its data in base64."""

    keys: str
    data: str


def zlib_pixels(picture: Image.Image) -> Encoded:
    """Raw pixels (f=24 RGB, f=32 with alpha) compressed with zlib at its fastest (o=z).

    About twice as quick to make as a PNG of the same pixels (no PNG filters: measured
    by bench/loupe.py, which prints both), for about half as many bytes again on
    noisy pictures: the encoding is what a pan waits for, the bytes only what the
    terminal reads."""
    alpha = picture.mode in ("RGBA", "LA") or "transparency" in picture.info
    mode, bits = ("RGBA", 32) if alpha else ("RGB", 24)
    pixels = picture if picture.mode == mode else picture.convert(mode)
    data = base64.b64encode(zlib.compress(pixels.tobytes(), 1)).decode("ascii")
    return Encoded(f"f={bits},s={pixels.width},v={pixels.height},o=z", data)


def png(picture: Image.Image) -> Encoded:
    """A PNG (f=100), as textual-image sends one: fewer bytes, slower to make."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=2)
    return Encoded("f=100", base64.b64encode(buffer.getvalue()).decode("ascii"))


def transmit(image_id: int, encoded: Encoded) -> list[str]:
    """The escapes that store a picture under `image_id` (quietly: q=2, no answers)."""
    data = encoded.data
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    escapes = []
    for n, chunk in enumerate(chunks):
        more = 1 if n < len(chunks) - 1 else 0
        first = f"a=t,{encoded.keys},i={image_id},q=2,m={more}"
        escapes.append(kitty(first if n == 0 else f"m={more},q=2", chunk))
    return escapes


def place(image_id: int, columns: int, rows: int) -> str:
    """A virtual placement: the image fitted to `columns` x `rows` placeholder cells."""
    return kitty(f"a=p,U=1,i={image_id},c={columns},r={rows},q=2")


def delete(image_id: int) -> str:
    """Delete the image and its placements, and free its data."""
    return kitty(f"a=d,d=I,i={image_id},q=2")


def placeholder_rows(colour: int, high: int, columns: int, rows: int) -> list[str]:
    """The text of the cells, row by row (its colour is `cell_colour(colour)`)."""
    top = DIACRITICS[high]
    return [
        "".join(PLACEHOLDER + DIACRITICS[r] + DIACRITICS[c] + top for c in range(columns))
        for r in range(rows)
    ]


def cube_rgb(index: int) -> tuple[int, int, int]:
    n = index - 16
    return CUBE[n // 36], CUBE[n // 6 % 6], CUBE[n % 6]


def cell_colour(index: int) -> Color:
    return Color.from_triplet(ColorTriplet(*cube_rgb(index)))


def _survives_256_colours(index: int) -> bool:
    """Textual's RGB written as 256 colours is this index again (Rich's downgrade)."""
    downgraded = cell_colour(index).downgrade(ColorSystem.EIGHT_BIT)
    return downgraded.type == ColorType.EIGHT_BIT and downgraded.number == index


# tmux turns an exact cube colour into its index (colour_find_rgb), so Rich's
# downgrade is the only filter: it takes low-saturation colours for greys.
ID_COLOURS = tuple(i for i in range(16, 232) if _survives_256_colours(i))


def image_id(colour: int, high: int, *, true_colour: bool) -> int:
    """The id the terminal reads from cells of `cell_colour(colour)` with `high`."""
    r, g, b = cube_rgb(colour)
    low = (r << 16 | g << 8 | b) if true_colour else colour
    return high << 24 | low


@dataclass(frozen=True, slots=True)
class Ticket:
    """One image's place in the id space: its colour and the process's high byte."""

    colour: int
    high: int


class ImageIds:
    """The ids in use. Ids are global to the terminal (every program in every tmux
    pane shares them): a random high byte per process keeps two TUIs apart, and a
    freed colour goes to the back of the queue, so it is the last reused."""

    def __init__(self, high: int | None = None) -> None:
        self.high = random.randint(1, 255) if high is None else high
        self._free = deque(ID_COLOURS)

    def take(self) -> Ticket | None:
        """A free id; None when all are in use (the caller draws another way)."""
        return Ticket(self._free.popleft(), self.high) if self._free else None

    def give_back(self, ticket: Ticket) -> None:
        self._free.append(ticket.colour)

    @property
    def free(self) -> int:
        return len(self._free)
