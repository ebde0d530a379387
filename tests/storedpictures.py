"""Tasks with real PNG variations put straight into a running daemon's store.

For API tests about serving pictures, not making them: no model runs, so a
test can have dozens of variations of any size in a second. The daemon reads
these rows and files exactly as it reads the generator's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image

from daemon.store import NewTask, NewVariation
from gladtui.shapes import TaskStatus
from tests.apidaemon import ApiDaemon


def add_review_task(d: ApiDaemon, task_id: str, size: tuple[int, int], count: int) -> list[Path]:
    """A task awaiting review with `count` variations of `size`, each different noise."""
    assert d.daemon is not None
    store, folder = d.daemon.store, d.config.preview_dir
    folder.mkdir(parents=True, exist_ok=True)
    paths, rows = [], []
    for idx in range(1, count + 1):
        path = folder / f"{task_id}-{idx}.png"
        Image.effect_noise(size, 40).convert("RGB").save(path)  # random: each file differs
        paths.append(path)
        rows.append(
            NewVariation(task_id=task_id, idx=idx, path=str(path), seed=idx, prompt="bread",
                         negative_prompt="", width=size[0], height=size[1], steps=2,
                         guidance_scale=7.0, model="test")
        )  # fmt: skip
    task = NewTask(id=task_id, title=task_id, prompt="bread", variations=count, steps=2,
                   guidance_scale=7.0, width=size[0], height=size[1], seed=1)  # fmt: skip
    with store.transaction():
        store.tasks.create_many([task], status=TaskStatus.REVIEW)
        store.variations.add_many(rows)
    return paths


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
