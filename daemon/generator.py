"""Generation jobs: queued tasks become PNG variations in the preview folder.

One worker thread claims `generate` jobs from the store (rows, not memory, so a
daemon killed mid-job resumes it) and runs them on a pipeline loaded once and
reused. A job names the variation indexes it makes (`first_index`, `count`):
on a retry or after a crash, indexes that already have a row are kept and only
the missing ones are generated, so a task always ends with exactly the
variations it asked for.

Each image has its own seeded generator (variation n of a task uses the base
seed + n - 1), so any variation can be reproduced alone from its recorded
seed, whether it was made in a batch or not.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from daemon.conditioning import Prepared
from daemon.generrors import describe, naming
from daemon.images import (
    a1111_parameters,
    thumbnail_of,
    variation_filename,
    write_png_atomically,
)
from daemon.jobkinds import GENERATE
from daemon.models import LoadedModel, ModelError, load_model
from daemon.previewdecode import preview_decoder
from daemon.previews import PreviewBoard, PreviewMaker
from daemon.progress import Progress, ProgressBoard
from daemon.recipes import Recipe, recipe_for
from daemon.store import (
    JobRecord,
    JobStatus,
    NewVariation,
    StatusConflictError,
    Store,
    TaskRecord,
)
from gladtui.config import Config
from gladtui.shapes import TaskStatus

log = logging.getLogger(__name__)

MAX_SEED = 2**32 - 1  # the range other tools draw from, so seeds are portable
IDLE_POLL_SECONDS = 1.0
RETRY_BASE_SECONDS = 5.0
VARIATION_ADDED = "variation_added"


class Cancelled(Exception):
    """The reviewer cancelled the running generation."""


class Stopping(Exception):
    """The daemon is stopping: the job goes back to the queue for the next start."""


@dataclass
class GeneratorState:
    """What `gladtui status` shows about generation."""

    model: str
    device: str | None = None
    state: str = "starting"  # loading | idle | generating | unavailable
    error: str | None = None
    load_seconds: float | None = None
    images_generated: int = 0


ModelLoader = Callable[[], LoadedModel]


class Generator:
    """The worker that runs `generate` jobs until `stop` is set."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        progress: ProgressBoard,
        stop: threading.Event,
        loader: ModelLoader | None = None,
        retry_base_seconds: float = RETRY_BASE_SECONDS,
        previews: PreviewBoard | None = None,
    ) -> None:
        """`previews`: where live previews go (the API reads them there)."""
        self.store = store
        self.config = config
        self.progress = progress
        self._stop = stop
        self._wake = threading.Event()
        self._loader = loader or (lambda: load_model(config.generation, cache_dir=config.cache_dir))
        self._model: LoadedModel | None = None
        self._retry_base_seconds = retry_base_seconds
        self.state = GeneratorState(model=config.generation.model)
        self.previews = PreviewMaker(
            previews if previews is not None else PreviewBoard(),
            progress,
            interval=config.generation.preview_interval_seconds,
        )
        # Set once the first load has succeeded or failed: systemd's READY waits for it.
        self.model_settled = threading.Event()

    # -- control, from other threads ----------------------------------------------------

    def wake(self) -> None:
        """New work was queued: look now rather than at the next poll."""
        self._wake.set()

    def cancel(self, task_id: str) -> None:
        """Stop a running generation of `task_id` at its next denoising step."""
        self.progress.request_cancel(task_id)

    # -- the worker loop ----------------------------------------------------------------

    def run(self) -> None:
        """Load the model, then run jobs until stopped. Blocks; run it in its own thread."""
        try:
            with contextlib.suppress(ModelError):  # reported in state; each job retries it
                self._ensure_model()
        finally:
            self.model_settled.set()
        while not self._stop.is_set():
            job = self.store.jobs.claim([GENERATE])
            if job is None:
                self._wake.wait(IDLE_POLL_SECONDS)
                self._wake.clear()
                continue
            self._run_job(job)
        self.previews.close()
        log.info("generator stopped")

    def _ensure_model(self) -> LoadedModel:
        if self._model is not None:
            return self._model
        self.state.state = "loading"
        log.info("loading model %s", self.config.generation.model)
        try:
            model = self._loader()
        except ModelError as exc:
            self.state.state, self.state.error = "unavailable", str(exc)
            log.error("model unavailable: %s", exc)
            raise
        self._model = model
        self.state.state, self.state.error = "idle", None
        self.state.device, self.state.load_seconds = model.device, model.load_seconds
        log.info("model %s loaded on %s in %.1f s", model.name, model.device, model.load_seconds)
        self.previews.decoder = preview_decoder(
            self.config.generation, device=model.device, dtype=model.dtype
        )
        return model

    def _run_job(self, job: JobRecord) -> None:
        task = self.store.tasks.get(job.task_id or "")
        if task is None or task.status not in (TaskStatus.QUEUED, TaskStatus.GENERATING):
            log.info("job %d skipped: task %s is no longer waiting", job.id, job.task_id)
            self.store.jobs.complete(job.id)
            return
        self.state.state = "generating"
        try:
            self._generate(job, task)
        except Cancelled:
            self._after_cancel(job, task.id)
        except Stopping:
            self._hand_back(job, task.id)
        except Exception as exc:
            self._after_failure(job, task.id, exc)
        finally:
            self.progress.finish(task.id)
            self.state.state = "idle" if self._model is not None else self.state.state

    def _generate(self, job: JobRecord, task: TaskRecord) -> None:
        if self.progress.cancel_requested(task.id):
            raise Cancelled
        task = self.store.tasks.set_status(
            task.id,
            TaskStatus.GENERATING,
            expected=[TaskStatus.QUEUED, TaskStatus.GENERATING],
        )
        model = self._ensure_model()
        seed = task.seed
        if seed is None:
            seed = random.SystemRandom().randint(0, MAX_SEED)
            task = self.store.tasks.set_seed(task.id, seed)
        todo = self._missing_indexes(job, task.id)
        prompt = str(job.payload.get("prompt") or task.prompt)
        prepared = self._prepare(model, task, recipe_for(task, job.payload), prompt)
        batch_size = self.config.generation.batch_size
        batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        for number, batch in enumerate(batches):
            self._run_batch(
                model, task, prompt, prepared, seed, batch, number, len(batches), len(todo)
            )
        # One commit: a reader never sees the task in review with its job still running.
        with self.store.transaction():
            self.store.tasks.set_status(task.id, TaskStatus.REVIEW, expected=TaskStatus.GENERATING)
            self.store.jobs.complete(job.id)
        log.info("task %s: %d variation(s) ready for review", task.id, len(todo))

    def _prepare(
        self, model: LoadedModel, task: TaskRecord, recipe: Recipe, prompt: str
    ) -> Prepared:
        """Sampler, LoRAs and prompt embeddings for the job; warnings go on the task."""
        gen = self.config.generation
        prepared = model.conditioner.prepare(
            recipe,
            prompt,
            task.negative_prompt,
            lora_dir=gen.lora_dir,
            max_prompt_tokens=gen.max_prompt_tokens,
        )
        for warning in prepared.warnings:
            log.warning("task %s: %s", task.id, warning)
        if prepared.warnings != task.warnings:
            self.store.tasks.set_warnings(task.id, prepared.warnings)
        return prepared

    def _missing_indexes(self, job: JobRecord, task_id: str) -> list[int]:
        first = int(job.payload.get("first_index", 1))
        count = int(job.payload.get("count", 0))
        existing = {v.idx for v in self.store.variations.list(task_id, include_removed=True)}
        todo = [n for n in range(first, first + count) if n not in existing]
        for n in todo:  # a file written just before a crash, whose row never committed
            for orphan in self.config.preview_dir.glob(f"sdxl-{task_id}-variation-{n}-*.png"):
                orphan.unlink(missing_ok=True)
        return todo

    def _run_batch(
        self,
        model: LoadedModel,
        task: TaskRecord,
        prompt: str,
        prepared: Prepared,
        seed: int,
        indexes: Sequence[int],
        batch_number: int,
        batch_count: int,
        images_total: int,
    ) -> None:
        import torch  # here, not at module level: the daemon starts without torch

        recipe = prepared.recipe
        done_before = batch_number * self.config.generation.batch_size
        generators = [
            torch.Generator(device="cpu").manual_seed(recipe.seed_for(n, seed)) for n in indexes
        ]

        with self.previews.batch(task.id, indexes) as previews:

            def on_step_end(
                pipeline: Any, step: int, _timestep: Any, kwargs: dict[str, Any]
            ) -> Any:
                if self.progress.cancel_requested(task.id) or self._stop.is_set():
                    pipeline._interrupt = True  # diffusers' own flag: skip the remaining steps
                # Model calls, not steps asked for: Heun and DPM2 make two a step.
                steps = pipeline.num_timesteps
                self.progress.update(
                    Progress(
                        task_id=task.id,
                        step=batch_number * steps + step + 1,
                        steps=batch_count * steps,
                        images_done=done_before,
                        images_total=images_total,
                    )
                )
                previews.offer(step + 1, steps, kwargs.get("latents"), pipeline.scheduler)
                return kwargs

            result = model.pipeline(
                **prepared.call_arguments(len(indexes)),
                num_inference_steps=recipe.steps,
                guidance_scale=recipe.guidance_scale,
                width=task.width,
                height=task.height,
                generator=generators,
                callback_on_step_end=on_step_end,
            )
            self._keep_batch(model, task, prompt, prepared, seed, indexes, result.images)

    def _keep_batch(
        self,
        model: LoadedModel,
        task: TaskRecord,
        prompt: str,
        prepared: Prepared,
        seed: int,
        indexes: Sequence[int],
        images: Sequence[Any],
    ) -> None:
        """Save a finished batch's images and rows; the previews stay until they are stored."""
        recipe = prepared.recipe
        # The images of an interrupted run are half-denoised: never keep them.
        if self._stop.is_set():
            raise Stopping
        if self.progress.cancel_requested(task.id):
            raise Cancelled
        # PNG encoding releases the GIL: the images of a batch are written in parallel.
        with ThreadPoolExecutor(max_workers=len(indexes), thread_name_prefix="png") as pool:
            rows = list(
                pool.map(
                    lambda n, image: self._save_variation(
                        model, task, prompt, prepared, recipe.seed_for(n, seed), n, image
                    ),
                    indexes,
                    images,
                )
            )
        with self.store.transaction():  # one commit per batch, not per image
            for row in rows:
                self.store.variations.add(row)
                self.store.events.add(VARIATION_ADDED, task.id, detail={"index": row.idx})
        self.state.images_generated += len(rows)

    def _save_variation(
        self,
        model: LoadedModel,
        task: TaskRecord,
        prompt: str,
        prepared: Prepared,
        seed: int,
        n: int,
        image: Any,
    ) -> NewVariation:
        """Write the PNG and its thumbnail; the row is stored by the caller, per batch."""
        recipe = prepared.recipe
        when = self.store.now()  # the store's clock, so file names and rows agree
        path = self.config.preview_dir / variation_filename(task.id, n, when)
        path.parent.mkdir(parents=True, exist_ok=True)
        parameters = a1111_parameters(
            prompt=prompt,
            negative_prompt=task.negative_prompt,
            steps=recipe.steps,
            sampler=prepared.sampler.label,
            schedule_type=prepared.sampler.schedule,
            cfg_scale=recipe.guidance_scale,
            seed=seed,
            width=task.width,
            height=task.height,
            model=model.name,
            vae=model.vae,
            loras=prepared.loras,
        )
        with naming(path):
            write_png_atomically(image, path, parameters=parameters)
        thumbnail = thumbnail_path(self.config.thumbnail_dir, task.id, n)
        with naming(thumbnail):
            thumbnail_of(image, thumbnail)
        return NewVariation(
            task_id=task.id,
            idx=n,
            path=str(path),
            thumbnail=str(thumbnail),
            seed=seed,
            prompt=prompt,
            negative_prompt=task.negative_prompt,
            width=task.width,
            height=task.height,
            steps=recipe.steps,
            guidance_scale=recipe.guidance_scale,
            model=model.name,
            scheduler=recipe.scheduler,
            sampler=prepared.sampler.full,
            loras=dict(recipe.loras),
            preset=recipe.preset,
            from_variation=recipe.from_variation,
        )

    # -- endings other than success -----------------------------------------------------

    def _hand_back(self, job: JobRecord, task_id: str) -> None:
        # Variations already stored stay; the next start makes only the missing ones.
        with self.store.transaction():
            released = self.store.jobs.release(job.id)
            # A reviewer may have cancelled or rejected it meanwhile: their word stands.
            with contextlib.suppress(StatusConflictError):
                if released.status is JobStatus.PENDING:
                    self.store.tasks.set_status(
                        task_id, TaskStatus.QUEUED, expected=TaskStatus.GENERATING
                    )
        log.info("task %s: stopping mid-generation; queued again for the next start", task_id)

    def _after_cancel(self, job: JobRecord, task_id: str) -> None:
        self.store.jobs.cancel_for_task(task_id, GENERATE)
        has_variations = bool(self.store.variations.list(task_id))
        new = TaskStatus.REVIEW if has_variations else TaskStatus.FAILED
        error = None if has_variations else "generation cancelled; ask for new variations to retry"
        self.store.tasks.set_status(task_id, new, error=error)
        log.info("task %s: generation cancelled (job %d)", task_id, job.id)

    def _after_failure(self, job: JobRecord, task_id: str, exc: Exception) -> None:
        message = describe(exc)
        permanent = isinstance(exc, ValueError | TypeError)  # bad parameters: retrying won't help
        retry_at = None if permanent else self._retry_at(job)
        failed = self.store.jobs.fail(job.id, message, retry_at=retry_at)
        if failed.status is JobStatus.FAILED:
            self.store.tasks.set_status(task_id, TaskStatus.FAILED, error=message)
            log.error("task %s failed after %d attempt(s): %s", task_id, job.attempts, message)
        else:
            note = f"attempt {job.attempts} of {job.max_attempts} failed, retrying: {message}"
            self.store.tasks.set_status(task_id, TaskStatus.QUEUED, error=note)
            log.warning("task %s: %s", task_id, note)

    def _retry_at(self, job: JobRecord) -> datetime:
        # Jittered exponential backoff: a transient fault (disk full, GPU memory)
        # gets time to clear, and many failing jobs do not retry in lockstep.
        delay = self._retry_base_seconds * 2 ** (job.attempts - 1) * random.uniform(0.5, 1.5)
        return self.store.now() + timedelta(seconds=delay)


def thumbnail_path(thumbnail_dir: Path, task_id: str, index: int) -> Path:
    return thumbnail_dir / f"{task_id}-{index}.png"
