"""One generation job's denoising on a loaded pipeline, wherever that pipeline lives.

The same code runs in the daemon (the local backend) and inside a Ray replica
(daemon/generation/ray/replica.py), so a job renders the same images either way. What goes
in (`JobSpec`) and what comes out (`Conditioning`, then one `DoneBatch` per
batch) are plain picklable values: they cross a process boundary with Ray.
Writing files and rows is not done here: only the daemon writes
(daemon/generation/writeback.py).

Each image has its own seeded generator (variation n of a task uses the base
seed + n - 1), so any variation can be reproduced alone from its recorded
seed, whether it was made in a batch or not.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from daemon.generation.images import LoraUse
from daemon.generation.models import LoadedModel
from daemon.generation.progress import Progress
from daemon.generation.recipes import Recipe
from daemon.generation.schedulers import SamplerRecord

__all__ = ["Conditioning", "DoneBatch", "Interrupted", "JobSpec", "denoise_job"]


class Interrupted(Exception):
    """A cancel or a stop interrupted the step loop; the batch's images are half-made."""


@dataclass(frozen=True)
class JobSpec:
    """Everything a pipeline needs to render a job's missing variations."""

    task_id: str
    prompt: str
    negative_prompt: str
    recipe: Recipe
    width: int
    height: int
    base_seed: int
    indexes: list[int]
    batch_size: int
    lora_dir: Path | None = None
    max_prompt_tokens: int | None = None

    def batches(self) -> list[list[int]]:
        size = self.batch_size
        return [self.indexes[i : i + size] for i in range(0, len(self.indexes), size)]

    def seed_for(self, index: int) -> int:
        return self.recipe.seed_for(index, self.base_seed)


@dataclass(frozen=True)
class Conditioning:
    """What preparing the job settled, for the PNG metadata and the task's warnings."""

    model: str
    vae: str | None
    sampler: SamplerRecord
    loras: list[LoraUse]
    warnings: list[str]


@dataclass(frozen=True)
class DoneBatch:
    """A finished batch: images (PIL) in the order of `indexes`."""

    indexes: list[int]
    images: list[Any]


JobEvent = Conditioning | DoneBatch
Report = Callable[[Progress], None]


class StepPreviews(Protocol):
    """Where a batch's latents go at each step (daemon/generation/previews.py BatchPreviews)."""

    def offer(self, step: int, steps: int, latents: Any, scheduler: Any) -> None: ...


class _NoPreviews:
    def offer(self, step: int, steps: int, latents: Any, scheduler: Any) -> None:
        return None


# Live previews of a batch while it denoises: a context per batch, entered with the
# task and the batch's variation indexes (daemon/generation/previews.py PreviewMaker.batch).
PreviewBatches = Callable[[str, Sequence[int]], AbstractContextManager[StepPreviews]]


def denoise_job(
    model: LoadedModel,
    spec: JobSpec,
    report: Report,
    interrupted: Callable[[], bool],
    previews: PreviewBatches | None = None,
) -> Generator[JobEvent, None, None]:
    """Prepare the job, then denoise batch by batch: yields its Conditioning, then batches.

    `interrupted` is asked at every step; when it says yes the step loop stops
    and Interrupted is raised: the images of an interrupted run are never kept.
    """
    prepared = model.conditioner.prepare(
        spec.recipe,
        spec.prompt,
        spec.negative_prompt,
        lora_dir=spec.lora_dir,
        max_prompt_tokens=spec.max_prompt_tokens,
    )
    yield Conditioning(
        model=model.name,
        vae=model.vae,
        sampler=prepared.sampler,
        loras=prepared.loras,
        warnings=prepared.warnings,
    )
    batches = spec.batches()
    for number, indexes in enumerate(batches):
        batch = previews(spec.task_id, indexes) if previews else nullcontext(_NoPreviews())
        with batch as shown:
            images = _denoise_batch(
                model, spec, prepared.call_arguments(len(indexes)), indexes, report,
                interrupted, shown, number=number, count=len(batches),
            )  # fmt: skip
        yield DoneBatch(indexes=list(indexes), images=images)


def _denoise_batch(
    model: LoadedModel,
    spec: JobSpec,
    arguments: dict[str, Any],
    indexes: list[int],
    report: Report,
    interrupted: Callable[[], bool],
    previews: StepPreviews,
    *,
    number: int,
    count: int,
) -> list[Any]:
    import torch  # here, not at module level: the daemon starts without torch

    generators = [torch.Generator(device="cpu").manual_seed(spec.seed_for(n)) for n in indexes]
    done_before = number * spec.batch_size
    stopped = False

    def on_step_end(pipeline: Any, step: int, _timestep: Any, kwargs: dict[str, Any]) -> Any:
        nonlocal stopped
        if interrupted():
            stopped = True
            pipeline._interrupt = True  # diffusers' own flag: skip the remaining steps
        # Model calls, not steps asked for: Heun and DPM2 make two a step.
        steps = pipeline.num_timesteps
        report(
            Progress(
                task_id=spec.task_id,
                step=number * steps + step + 1,
                steps=count * steps,
                images_done=done_before,
                images_total=len(spec.indexes),
            )
        )
        previews.offer(step + 1, steps, kwargs.get("latents"), pipeline.scheduler)
        return kwargs

    result = model.pipeline(
        **arguments,
        num_inference_steps=spec.recipe.steps,
        guidance_scale=spec.recipe.guidance_scale,
        width=spec.width,
        height=spec.height,
        generator=generators,
        callback_on_step_end=on_step_end,
    )
    if stopped or interrupted():
        raise Interrupted
    return list(result.images)
