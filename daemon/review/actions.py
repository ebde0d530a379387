"""What a reviewer can do to a task: decide (review/decisions.py), ask for more, cancel, submit.

Each action is a state change and, where work follows, a job, committed in
one transaction (the outbox: the publisher and the generator pick the jobs
up). Checking the status and changing it happen under the store's write
lock, so two reviewers acting on one task at once cannot both win: the
second sees the first one's result. Repeating an action that is already
done (approving the same variation twice) is not an error: it answers
`changed=False`. What a task allows now is decided by daemon/review/rules.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from daemon.intake.ingest import Ingestor
from daemon.review.decisions import Decisions
from daemon.review.outcomes import (
    ActionError,
    Conflict,
    InvalidRequest,
    Outcome,
    TaskNotFound,
    cannot,
)
from daemon.store import JobStatus, Store, TaskRecord
from daemon.store.jobkinds import GENERATE, Overrides, PresetSettings
from gladtui.config import Config
from gladtui.config.presets import merge_loras, missing_lora_problem, over_defaults
from gladtui.shapes import GenerateRequest, RejectRequest, TaskStatus

log = logging.getLogger(__name__)


class Actions:
    """Every action on the store. The decisions (approve, reject, undo) are its
    `decisions`' (daemon/review/decisions.py); more variations, cancel and submit
    are here."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        ingestor: Ingestor,
        cancel_generation: Callable[[str], None],
        work_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.config = config
        self.decisions = Decisions(store, config, work_queued=work_queued)
        self.ingestor = ingestor
        self._cancel_generation = cancel_generation  # stops a running denoising loop
        self._work_queued = work_queued  # wakes the workers instead of waiting for their poll

    # -- decisions ----------------------------------------------------------------------

    def approve(self, task_id: str, variation: int, *, actor: str | None = None) -> Outcome:
        return self.decisions.approve(task_id, variation, actor=actor)

    def reject(
        self,
        task_id: str,
        *,
        prompt: str | None = None,
        keep_files: bool = False,
        actor: str | None = None,
    ) -> Outcome:
        request = RejectRequest(prompt=prompt, keep_files=keep_files)
        return self.decisions.reject(task_id, request, actor=actor)

    def reject_with(
        self, task_id: str, request: RejectRequest, *, actor: str | None = None
    ) -> Outcome:
        """Reject as the API asks: a new round (`prompt` or `again`), reasons."""
        return self.decisions.reject(task_id, request, actor=actor)

    def undo(self, task_id: str, *, actor: str | None = None) -> Outcome:
        return self.decisions.undo(task_id, actor=actor)

    # -- more variations ----------------------------------------------------------------

    def generate(
        self, task_id: str, request: GenerateRequest, *, actor: str | None = None
    ) -> Outcome:
        """Queue `count` more variations (default: as many as the task asked for).

        With `preset`, they are rendered with that preset's settings (not the
        task's); with `from_variation`, one variation re-renders that one's seed:
        draft with a fast preset, then render the chosen draft in full.
        """
        count, prompt, steps = request.count, request.prompt, request.steps
        preset, from_variation = request.preset, request.from_variation
        limits = self.config.limits
        if count is not None and not 1 <= count <= limits.max_variations:
            raise InvalidRequest(f"count must be between 1 and {limits.max_variations}")
        if steps is not None and not 1 <= steps <= limits.max_steps:
            raise InvalidRequest(f"steps must be between 1 and {limits.max_steps}")
        if from_variation is not None and (count or 1) != 1:
            raise InvalidRequest("from_variation re-renders one variation: leave count out")
        with self.store.transaction():
            task = self.decisions.task(task_id)
            settings = self._preset_settings(preset, steps, task)
            self.decisions.check(task, "generate", "generate more variations for")
            wanted = 1 if from_variation is not None else count or task.variations
            seed = None if from_variation is None else self._source_seed(task, from_variation)
            detail: dict[str, object] = {"count": wanted, "prompt": prompt, "steps": steps}
            if preset is not None or from_variation is not None:
                detail.update(preset=preset, from_variation=from_variation)
            first = self.decisions.queue_generation(
                task,
                wanted,
                prompt,
                steps if settings is None else None,  # with a preset: this job's only
                actor,
                detail,
                Overrides(settings, seed, from_variation),
            )
        self._work_queued()
        indexes = f"{first}" if wanted == 1 else f"{first}-{first + wanted - 1}"
        log.info("task %s: %d more variation(s) queued by %s", task_id, wanted, actor)
        return Outcome(task_id, True, f"queued variation(s) {indexes} of {task_id}")

    def _preset_settings(
        self, preset: str | None, steps: int | None, task: TaskRecord
    ) -> PresetSettings | None:
        """A preset's settings over the config's defaults, resolved now, for one job.

        The preset wins over the task's own settings (the task may have been drafted
        with another preset), except that the LoRAs its file named stay (a house
        style is part of the image, not of the speed). An explicit `steps` wins.
        None: no preset, the task's own settings.
        """
        if preset is None:
            return None
        gen = self.config.generation
        found = gen.presets.get(preset)
        if found is None:
            known = ", ".join(sorted(gen.presets)) or "none (add them under generation.presets)"
            raise InvalidRequest(f"preset: unknown preset {preset!r}; the config has: {known}")
        settings = over_defaults(found.preset(), gen)
        loras = merge_loras(settings.loras, task.file_loras)
        for name in loras:
            problem = missing_lora_problem(gen.lora_dir, name)
            if problem:
                raise InvalidRequest(f"preset {preset}: {problem}")
        return PresetSettings(
            preset=preset,
            steps=steps or settings.steps,
            guidance_scale=settings.guidance_scale,
            scheduler=settings.scheduler,
            loras=loras,
        )

    def _source_seed(self, task: TaskRecord, index: int) -> int:
        """The seed of variation `index` (its file may be gone: the seed is in the row)."""
        source = self.store.variations.get(task.id, index)
        if source is None:
            raise TaskNotFound(f"task {task.id} has no variation {index} to re-render")
        return source.seed

    # -- cancel -------------------------------------------------------------------------

    def cancel(self, task_id: str, *, actor: str | None = None) -> Outcome:
        """Stop a queued or running generation; the variations made so far stay."""
        with self.store.transaction():
            task = self.decisions.task(task_id)
            self.decisions.check(task, "cancel")
            jobs = self.store.jobs.pending_for_task(task_id, GENERATE)
            running = any(job.status is JobStatus.RUNNING for job in jobs)
            self.store.jobs.cancel_for_task(task_id, GENERATE)
            if not running:  # nobody is working on it: settle the status here
                has_variations = bool(self.store.variations.list(task_id))
                self.store.tasks.set_status(
                    task_id,
                    TaskStatus.REVIEW if has_variations else TaskStatus.FAILED,
                    error=None if has_variations else "generation cancelled before it started",
                    actor=actor,
                    detail={"cancelled": True},
                    expected=task.status,
                )
        if running:  # the generator stops at its next step and settles the status
            self._cancel_generation(task_id)
        log.info("task %s: generation cancelled by %s", task_id, actor)
        return Outcome(task_id, True, f"cancelled the generation of {task_id}")

    # -- submit -------------------------------------------------------------------------

    def submit(self, data: bytes, file_name: str, *, actor: str | None = None) -> Outcome:
        """A task file's bytes (TaskFileError if they do not parse)."""
        submission = self.ingestor.submit(data, file_name, actor=actor)
        task_id = submission.task.id
        if submission.created:
            return Outcome(task_id, True, f"created task {task_id}")
        return Outcome(task_id, False, f"the same task file already made task {task_id}")


__all__ = [
    "ActionError",
    "Actions",
    "Conflict",
    "InvalidRequest",
    "Outcome",
    "TaskNotFound",
    "cannot",
]
