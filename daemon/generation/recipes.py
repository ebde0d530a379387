"""What one generation job renders with: the task's settings, or those its request asked for.

A task carries the settings its file resolved (task file, then preset, then
config). A `generate --preset final --from-variation 2` request carries its
own in the job's payload (`Overrides`, read by daemon/store/jobkinds.py), for that
job only, plus the seed of the variation it re-renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from daemon.store import TaskRecord
from daemon.store.jobkinds import Overrides

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


def recipe_for(task: TaskRecord, overrides: Overrides) -> Recipe:
    """The task's own settings, unless the job carries a preset's: then all of those."""
    own = Recipe(
        steps=task.steps,
        guidance_scale=task.guidance_scale,
        scheduler=task.scheduler,
        loras=dict(task.loras),
        preset=task.preset,
        seed=overrides.seed,
        from_variation=overrides.from_variation,
    )
    preset = overrides.settings
    if preset is None:
        return own
    return replace(
        own,
        steps=preset.steps,
        guidance_scale=preset.guidance_scale,
        scheduler=preset.scheduler,
        loras=dict(preset.loras),
        preset=preset.preset,
    )
