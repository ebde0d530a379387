"""Tasks with real PNG variations put straight into a running daemon's store.

For API tests about serving pictures, not making them: no model runs, so a
test can have dozens of variations of any size in a second. The daemon reads
these rows and files exactly as it reads the generator's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from daemon.store import NewTask, NewVariation
from gladtui.shapes import TaskStatus
from tests.apidaemon import ApiDaemon


def noise(size: tuple[int, int], idx: int) -> Image.Image:
    return Image.effect_noise(size, 40).convert("RGB")  # random: each file differs


def coordinates(size: tuple[int, int], idx: int) -> Image.Image:
    """A picture whose every pixel says where it is and whose it is: red the x and green
    the y (their low bytes), blue their high bits and `idx`. Any crop of it names its
    place, pixel for pixel, and compresses well (for graphics through tmux)."""
    width, height = size
    x = np.arange(width, dtype=np.uint32)[None, :].repeat(height, 0)
    y = np.arange(height, dtype=np.uint32)[:, None].repeat(width, 1)
    blue = (x >> 8 & 3) << 6 | (y >> 8 & 3) << 4 | (idx & 15)
    pixels = np.stack([x & 255, y & 255, blue], axis=-1).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def blocks(size: tuple[int, int], idx: int) -> Image.Image:
    """`coordinates` in squares, of 256 pixels for variation 1, 128 for 2, 64 for 3 (each
    one told from the others at a glance, side by side): few colours, so a snapshot of it
    stays small even fitted (scaled down, each cell would be a colour of its own)."""
    width, height = size
    square = max(256 >> (idx - 1), 1)
    coarse = coordinates(size, idx).resize(
        (max(width // square, 1), max(height // square, 1)), Image.Resampling.NEAREST
    )
    return coarse.resize(size, Image.Resampling.NEAREST)


def add_review_task(
    d: ApiDaemon,
    task_id: str,
    size: tuple[int, int],
    count: int,
    paint: Callable[[tuple[int, int], int], Image.Image] = noise,
    prompt: str = "bread",
) -> list[Path]:
    """A task awaiting review with `count` variations of `size`, painted by `paint`
    (by default each different noise)."""
    assert d.daemon is not None
    store, folder = d.daemon.store, d.config.preview_dir
    folder.mkdir(parents=True, exist_ok=True)
    paths, rows = [], []
    for idx in range(1, count + 1):
        path = folder / f"{task_id}-{idx}.png"
        paint(size, idx).save(path)
        paths.append(path)
        rows.append(
            NewVariation(task_id=task_id, idx=idx, path=str(path), seed=idx, prompt="bread",
                         negative_prompt="", width=size[0], height=size[1], steps=2,
                         guidance_scale=7.0, model="test")
        )  # fmt: skip
    task = NewTask(id=task_id, title=task_id, prompt=prompt, variations=count, steps=2,
                   guidance_scale=7.0, width=size[0], height=size[1], seed=1)  # fmt: skip
    with store.transaction():
        store.tasks.create_many([task], status=TaskStatus.REVIEW)
        store.variations.add_many(rows)
    return paths


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
