"""What the store's tests build rows and clocks from."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from daemon.store import NewTask, NewVariation, Store

T0 = datetime(2025, 1, 2, 3, 4, 5, 678901)


class FakeClock:
    """A clock the test moves by hand; the store reads it for every timestamp."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def new_task(task_id: str = "muffins-001", **overrides: Any) -> NewTask:
    fields: dict[str, Any] = {
        "id": task_id,
        "title": "Making Delicious Muffins",
        "prompt": "blueberry muffins on a rustic table",
        "negative_prompt": "blurry",
        "content": "",
        "variations": 3,
        "steps": 30,
        "guidance_scale": 7.0,
        "width": 1024,
        "height": 1024,
        "seed": 42,
        "source_file": f"{task_id}.yaml",
        "source_sha256": f"sha-{task_id}",
    }
    fields.update(overrides)
    return NewTask(**fields)


def new_variation(task_id: str = "muffins-001", idx: int = 1, **overrides: Any) -> NewVariation:
    fields: dict[str, Any] = {
        "task_id": task_id,
        "idx": idx,
        "path": f"/previews/sdxl-{task_id}-variation-{idx}.png",
        "seed": 42 + idx,
        "prompt": "blueberry muffins",
        "negative_prompt": "blurry",
        "width": 1024,
        "height": 1024,
        "steps": 30,
        "guidance_scale": 7.0,
        "model": "builtin:tiny-sdxl",
    }
    fields.update(overrides)
    return NewVariation(**fields)


def schema_version(store: Store) -> int:
    """The latest migration applied (the store itself only needs the list)."""
    applied = store.migrations_applied()
    return applied[-1].version if applied else 0
