"""The social card: the size asked for, centred on the task's focus, kept inside the image."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from daemon.publishing.publishers import card_asset_id_for
from daemon.publishing.socialcard import crop_box, render_card

RED = (255, 0, 0)


def marked(path: Path, size: tuple[int, int], at: tuple[float, float]) -> Path:
    """A grey image with a red disc centred at `at` (fractions of width and height)."""
    image = Image.new("RGB", size, (128, 128, 128))
    x, y = at[0] * size[0], at[1] * size[1]
    ImageDraw.Draw(image).ellipse((x - 12, y - 12, x + 12, y + 12), fill=RED)
    image.save(path)
    return path


def red_centre(card: Image.Image) -> tuple[float, float]:
    """Where the red disc is in the card: the mean of its red pixels, as fractions."""
    pixels = np.asarray(card.convert("RGB")).astype(int)
    ys, xs = np.nonzero((pixels[:, :, 0] > 200) & (pixels[:, :, 1] < 60))
    assert len(xs), "the mark is not in the card"
    return float(xs.mean()) / card.width, float(ys.mean()) / card.height


def test_the_card_is_1200x630_with_the_focus_at_its_centre(tmp_path: Path) -> None:
    # The crop is as tall as the image, so the focus can be its centre across and down.
    focus = (0.3, 0.5)
    source = marked(tmp_path / "wide.png", (4000, 1000), focus)
    card = Image.open(io.BytesIO(render_card(source, (1200, 630), focus)))
    assert card.size == (1200, 630) and card.format == "PNG"
    x, y = red_centre(card)
    assert abs(x - 0.5) < 0.01 and abs(y - 0.5) < 0.01
    centred = Image.open(io.BytesIO(render_card(source, (1200, 630), None)))
    assert red_centre(centred)[0] < 0.2  # without the focus the mark is far from the centre


def test_a_focus_near_the_edge_keeps_the_crop_inside_the_image(tmp_path: Path) -> None:
    # A focus in the top right corner: the crop cannot be centred there, it stops at the edges.
    assert crop_box((1000, 1000), (1200, 630), (0.97, 0.02)) == (0, 0, 1000, 525)
    assert crop_box((2000, 500), (1200, 630), (0.95, 0.5)) == (1048, 0, 2000, 500)
    source = marked(tmp_path / "edge.png", (2000, 500), (0.95, 0.5))
    card = Image.open(io.BytesIO(render_card(source, (1200, 630), (0.95, 0.5))))
    x, _ = red_centre(card)
    assert x == pytest.approx((0.95 * 2000 - 1048) / 952, abs=0.02)  # where the crop put it


def test_without_a_focus_the_centre_and_a_small_image_is_scaled_up(tmp_path: Path) -> None:
    source = marked(tmp_path / "small.png", (64, 64), (0.5, 0.5))
    card = Image.open(io.BytesIO(render_card(source, (1200, 630), None)))
    assert card.size == (1200, 630)
    x, y = red_centre(card)
    assert abs(x - 0.5) < 0.02 and abs(y - 0.5) < 0.02


def test_the_cards_asset_id_depends_on_the_image_size_and_focus_only() -> None:
    same = card_asset_id_for("t", b"png", (1200, 630), None)
    assert same == card_asset_id_for("t", b"png", (1200, 630), None)
    assert same.startswith("t-card-")
    others = {
        card_asset_id_for("t", b"other", (1200, 630), None),
        card_asset_id_for("t", b"png", (1200, 600), None),
        card_asset_id_for("t", b"png", (1200, 630), (0.2, 0.2)),
    }
    assert same not in others and len(others) == 3
