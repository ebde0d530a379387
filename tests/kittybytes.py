"""Reading kitty graphics back out of the bytes a terminal received.

What a kitty terminal would do with them: transmissions reassembled from their
chunks (the first chunk has the keys, the rest only `m` and `q`) and decoded
as their keys say (a PNG, f=100; raw RGB or RGBA pixels, f=24 or f=32, s×v of
them, zlib-compressed with o=z), virtual
placements, deletions, in the order they came. And the screen they land on,
through pyte (a VT emulator), where Unicode placeholder cells name an image by
their colour and diacritics.
"""

from __future__ import annotations

import base64
import io
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field

import pyte
from PIL import Image

from gladtui.tui.kittyescapes import CUBE, DIACRITICS, PLACEHOLDER

KITTY = re.compile(rb"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\", re.DOTALL)
STRING_COMMANDS = re.compile(rb"\x1b[_P].*?\x1b\\", re.DOTALL)  # APC, DCS: pyte would print them


@dataclass
class Graphics:
    images: dict[int, bytes] = field(default_factory=dict)  # id -> the last data sent
    formats: dict[int, dict[str, str]] = field(default_factory=dict)  # id -> its keys
    transmissions: Counter[int] = field(default_factory=Counter)
    placements: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (c, r)
    deleted: list[int] = field(default_factory=list)
    queries: int = 0
    order: list[tuple[str, int]] = field(default_factory=list)  # ("t"|"p"|"d", id)

    def image(self, image_id: int) -> Image.Image:
        """The picture as kitty decodes it; an unknown format fails the test."""
        keys, data = self.formats[image_id], self.images[image_id]
        if keys.get("o") == "z":
            data = zlib.decompress(data)
        bits = keys.get("f", "32")  # kitty's default is 32-bit RGBA
        if bits == "100":
            return Image.open(io.BytesIO(data))
        mode = {"24": "RGB", "32": "RGBA"}[bits]
        size = (int(keys["s"]), int(keys["v"]))
        assert len(data) == size[0] * size[1] * len(mode), f"{len(data)} bytes for {size} {mode}"
        return Image.frombytes(mode, size, data)


def keys_of(raw: bytes) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in raw.decode().split(",") if "=" in pair)


def graphics(output: bytes) -> Graphics:
    """Every kitty graphics command in `output`, as kitty would take them."""
    found = Graphics()
    receiving: int | None = None
    chunks: list[bytes] = []
    for match in KITTY.finditer(output):
        keys, payload = keys_of(match.group(1)), match.group(2) or b""
        if receiving is not None:  # a continuation: only m (and q)
            chunks.append(payload)
            if keys.get("m", "0") == "0":
                found.images[receiving] = base64.b64decode(b"".join(chunks))
                receiving = None
            continue
        action, image_id = keys.get("a", "t"), int(keys.get("i", "0"))
        if action == "q":
            found.queries += 1
        elif action in ("t", "T"):
            found.transmissions[image_id] += 1
            found.formats[image_id] = keys
            found.order.append(("t", image_id))
            chunks = [payload]
            if keys.get("m", "0") == "1":
                receiving = image_id
            else:
                found.images[image_id] = base64.b64decode(payload)
        elif action == "p":
            found.placements[image_id] = (int(keys["c"]), int(keys["r"]))
            found.order.append(("p", image_id))
        elif action == "d" and keys.get("d") == "I":
            found.deleted.append(image_id)
            found.order.append(("d", image_id))
    return found


def screen(output: bytes, columns: int, rows: int) -> pyte.Screen:
    """The screen a terminal of that size shows after `output` (graphics left out)."""
    shown = pyte.Screen(columns, rows)
    pyte.ByteStream(shown).feed(STRING_COMMANDS.sub(b"", output))
    return shown


_CUBE_INDEX = {
    f"{CUBE[n // 36]:02x}{CUBE[n // 6 % 6]:02x}{CUBE[n % 6]:02x}": 16 + n for n in range(216)
}


def placeholder_cells(
    shown: pyte.Screen, *, true_colour: bool = False
) -> dict[int, set[tuple[int, int]]]:
    """The image id each placeholder cell names, with the (row, column) of the image it
    shows. pyte keeps a colour as RGB either way: `true_colour` says whether the
    terminal got it as 24 bits (the id's low 24 bits) or as a 256-colour index (what
    tmux writes to a terminal without its RGB feature)."""
    number = {d: n for n, d in enumerate(DIACRITICS)}
    cells: dict[int, set[tuple[int, int]]] = {}
    for line in shown.buffer.values():
        for cell in line.values():
            if not cell.data.startswith(PLACEHOLDER) or cell.fg not in _CUBE_INDEX:
                continue
            marks = [number[c] for c in cell.data[1:]]
            if len(marks) != 3:
                continue
            row, column, high = marks
            low = int(cell.fg, 16) if true_colour else _CUBE_INDEX[cell.fg]
            image_id = high << 24 | low
            cells.setdefault(image_id, set()).add((row, column))
    return cells
