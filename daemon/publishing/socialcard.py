"""The social card: a second rendition of the approved image at `publishing.social_card`.

OpenGraph and Twitter show a 1200×630 picture beside a shared link. The card
is the largest box of that shape that fits in the image, centred on the task
file's `focus` (the image's centre without one) and moved back inside the
image where the focus is near an edge, then scaled to the card's size (up,
for a small image). The same image, size and focus give the same PNG bytes,
so a retry after a crash asks the CDN for the same asset again (its id:
`card_asset_id_for`, daemon/publishing/publishers/base.py) and exactly-once
holds for the card as for the image.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

CENTRE = (0.5, 0.5)


def crop_box(
    image_size: tuple[int, int], card_size: tuple[int, int], focus: tuple[float, float]
) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the card's shape in the image, centred on `focus`
    (fractions of width and height) as nearly as the image's edges allow."""
    width, height = image_size
    card_width, card_height = card_size
    if width * card_height >= height * card_width:  # the image is wider: full height
        box_height = height
        box_width = max(1, min(width, round(height * card_width / card_height)))
    else:
        box_width = width
        box_height = max(1, min(height, round(width * card_height / card_width)))
    left = _clamp(round(focus[0] * width - box_width / 2), 0, width - box_width)
    top = _clamp(round(focus[1] * height - box_height / 2), 0, height - box_height)
    return left, top, left + box_width, top + box_height


def render_card(
    source: Path, card_size: tuple[int, int], focus: tuple[float, float] | None
) -> bytes:
    """The card as PNG bytes: cropped around `focus` (the centre if None), then scaled."""
    with Image.open(source) as image:
        image.load()
        box = crop_box(image.size, card_size, focus or CENTRE)
        card = image.crop(box).resize(card_size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    card.save(out, "PNG")
    return out.getvalue()


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))
