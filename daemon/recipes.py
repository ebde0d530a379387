"""What one generation job renders with: the task's settings, or those its request asked for.

A task carries the settings its file resolved (task file, then preset, then
config). A `generate --preset final --from-variation 2` request carries its
own in the job's payload (daemon/jobkinds.py), for that job only, plus the
seed of the variation it re-renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from daemon.store import TaskRecord

__all__ = ["Recipe", "recipe_for"]


@dataclass(frozen=True, slots=True)
class Recipe:
    steps: int
    guidance_scale: float
    scheduler: str | None  # None: the model's own
    loras: Mapping[str, float] = field(default_factory=dict)
    preset: str | None = None
    seed: int | None = None  # every image of the job uses it (a re-render)
    from_variation: int | None = None

    def seed_for(self, index: int, base_seed: int) -> int:
        """Variation n of a task uses the base seed + n - 1, unless the job names one."""
        return self.seed if self.seed is not None else base_seed + index - 1


def recipe_for(task: TaskRecord, payload: Mapping[str, Any]) -> Recipe:
    settings: Mapping[str, Any] = payload.get("settings") or {}
    seed = payload.get("seed")
    source = payload.get("from_variation")
    return Recipe(
        steps=int(settings.get("steps", task.steps)),
        guidance_scale=float(settings.get("guidance_scale", task.guidance_scale)),
        scheduler=settings.get("scheduler", task.scheduler),  # a None in it: the model's own
        loras={str(k): float(v) for k, v in settings.get("loras", task.loras).items()},
        preset=settings.get("preset", task.preset),
        seed=None if seed is None else int(seed),
        from_variation=None if source is None else int(source),
    )
