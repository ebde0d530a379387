"""What a reviewer can do to a task: approve, reject, ask for more, cancel, submit.

Each action is a state change and, where work follows, a job, committed in
one transaction (the outbox: the publisher and the generator pick the jobs
up). Checking the status and changing it happen under the store's write
lock, so two reviewers acting on one task at once cannot both win: the
second sees the first one's result. Repeating an action that is already
done (approving the same variation twice) is not an error: it answers
`changed=False`.

No HTTP here: the API maps ActionError codes to status codes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from daemon.cleanup import remove_files
from daemon.ingest import Ingestor
from daemon.jobkinds import GENERATE, PUBLISH, generation_payload
from daemon.store import JobStatus, Store, TaskRecord, VariationRecord
from gladtui.config import Config
from gladtui.presets import merge_loras, missing_lora_problem
from gladtui.shapes import TaskStatus

log = logging.getLogger(__name__)

APPROVED_STATES = (TaskStatus.APPROVED, TaskStatus.PUBLISHING, TaskStatus.PUBLISHED)
# A task may be sent back for (more) variations from these; not while one runs.
REGENERATE_FROM = (TaskStatus.REVIEW, TaskStatus.FAILED, TaskStatus.REJECTED)
RUNNING = (TaskStatus.QUEUED, TaskStatus.GENERATING)


class ActionError(Exception):
    """The action was refused; `code` says why in one word, the message in words."""

    code = "refused"


class TaskNotFound(ActionError):
    code = "not_found"


class Conflict(ActionError):
    """The task is not in a state that allows the action."""

    code = "conflict"


class InvalidRequest(ActionError):
    code = "invalid"


@dataclass(frozen=True, slots=True)
class Outcome:
    task_id: str
    changed: bool
    message: str


class Actions:
    """The reviewer's actions on the store. Thread-safe; the API calls them from threads."""

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
        self.ingestor = ingestor
        self._cancel_generation = cancel_generation  # stops a running denoising loop
        self._work_queued = work_queued  # wakes the workers instead of waiting for their poll

    # -- approve ------------------------------------------------------------------------

    def approve(self, task_id: str, variation: int, *, actor: str | None = None) -> Outcome:
        """Select `variation` and queue its publication, in one transaction."""
        with self.store.transaction():
            task = self._task(task_id)
            if task.status in APPROVED_STATES:
                return self._already_approved(task, variation)
            if task.status not in (TaskStatus.REVIEW, TaskStatus.FAILED):
                raise Conflict(_cannot("approve", task))
            chosen = self._variation(task, variation)
            self.store.variations.select(task_id, chosen.idx)
            self.store.tasks.set_status(
                task_id,
                TaskStatus.APPROVED,
                actor=actor,
                detail={"variation": chosen.idx},
                expected=[TaskStatus.REVIEW, TaskStatus.FAILED],
            )
            self.store.jobs.enqueue(
                PUBLISH,
                task_id,
                {"variation": chosen.idx},
                max_attempts=self.config.publishing.max_attempts,
            )
        self._work_queued()
        log.info("task %s: variation %d approved by %s", task_id, chosen.idx, actor)
        return Outcome(task_id, True, f"approved variation {chosen.idx} of {task_id}")

    def _already_approved(self, task: TaskRecord, variation: int) -> Outcome:
        selected = next((v.idx for v in self._variations(task.id) if v.selected), None)
        if selected != variation:
            raise Conflict(
                f"task {task.id} already has variation {selected} approved (status: "
                f"{task.status}); an approved choice cannot be changed"
            )
        return Outcome(task.id, False, f"variation {variation} of {task.id} was already approved")

    # -- reject -------------------------------------------------------------------------

    def reject(
        self,
        task_id: str,
        *,
        prompt: str | None = None,
        keep_files: bool = False,
        actor: str | None = None,
    ) -> Outcome:
        """Reject the variations; with a prompt, go back to `queued` for a new round.

        The local files are deleted after the commit (unless `keep_files`): a
        crash in between leaves files of a rejected task, which retention
        removes later, never a deleted file of a task still under review.
        """
        with self.store.transaction():
            task = self._task(task_id)
            if task.status is TaskStatus.REJECTED and prompt is None:
                return Outcome(task_id, False, f"{task_id} was already rejected")
            if task.status not in REGENERATE_FROM:
                raise Conflict(_cannot("reject", task))
            variations = self._variations(task_id)
            detail = {"keep_files": keep_files, "prompt": prompt}
            if prompt is None:
                self.store.tasks.set_status(
                    task_id, TaskStatus.REJECTED, actor=actor, detail=detail, expected=task.status
                )
            else:
                self._queue_generation(task, task.variations, prompt, None, actor, detail)
        removed = [] if keep_files else remove_files(self.store, variations)
        if prompt is not None:
            self._work_queued()
        what = f"rejected {task_id}" + (f", {len(removed)} file(s) deleted" if removed else "")
        if prompt is not None:
            what += f"; {task.variations} new variation(s) queued with the new prompt"
        log.info("task %s: %s by %s", task_id, what, actor)
        return Outcome(task_id, True, what)

    # -- more variations ----------------------------------------------------------------

    def generate(
        self,
        task_id: str,
        *,
        count: int | None = None,
        prompt: str | None = None,
        steps: int | None = None,
        actor: str | None = None,
        preset: str | None = None,
        from_variation: int | None = None,
    ) -> Outcome:
        """Queue `count` more variations (default: as many as the task asked for).

        With `preset`, they are rendered with that preset's settings (not the
        task's); with `from_variation`, one variation re-renders that one's seed:
        draft with a fast preset, then render the chosen draft in full.
        """
        limits = self.config.limits
        if count is not None and not 1 <= count <= limits.max_variations:
            raise InvalidRequest(f"count must be between 1 and {limits.max_variations}")
        if steps is not None and not 1 <= steps <= limits.max_steps:
            raise InvalidRequest(f"steps must be between 1 and {limits.max_steps}")
        if from_variation is not None and (count or 1) != 1:
            raise InvalidRequest("from_variation re-renders one variation: leave count out")
        with self.store.transaction():
            task = self._task(task_id)
            settings = self._preset_settings(preset, steps, task)
            if task.status not in REGENERATE_FROM:
                raise Conflict(_cannot("generate more variations for", task))
            wanted = 1 if from_variation is not None else count or task.variations
            seed = None if from_variation is None else self._source_seed(task, from_variation)
            detail = {"count": wanted, "prompt": prompt, "steps": steps}
            if preset is not None or from_variation is not None:
                detail.update(preset=preset, from_variation=from_variation)
            first = self._queue_generation(
                task,
                wanted,
                prompt,
                None if settings else steps,
                actor,
                detail,
                extra={"settings": settings, "seed": seed, "from_variation": from_variation},
            )
        self._work_queued()
        indexes = f"{first}" if wanted == 1 else f"{first}-{first + wanted - 1}"
        log.info("task %s: %d more variation(s) queued by %s", task_id, wanted, actor)
        return Outcome(task_id, True, f"queued variation(s) {indexes} of {task_id}")

    def _queue_generation(
        self,
        task: TaskRecord,
        count: int,
        prompt: str | None,
        steps: int | None,
        actor: str | None,
        detail: Mapping[str, object],
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        """Back to `queued` with a job for the next `count` indexes; returns the first.

        `extra`: the job's own settings, seed and source variation (generation_payload).
        """
        if prompt is not None or steps is not None:
            self.store.tasks.set_generation(task.id, prompt=prompt, steps=steps)
        first = self.store.variations.next_index(task.id)
        self.store.tasks.set_status(
            task.id, TaskStatus.QUEUED, actor=actor, detail=detail, expected=task.status
        )
        self.store.jobs.enqueue(
            GENERATE,
            task.id,
            generation_payload(first, count, prompt, **(extra or {})),
            max_attempts=self.config.generation.max_attempts,
        )
        return first

    def _preset_settings(
        self, preset: str | None, steps: int | None, task: TaskRecord
    ) -> dict[str, Any]:
        """A preset's settings over the config's defaults, resolved now, for one job.

        The preset wins over the task's own settings (the task may have been drafted
        with another preset), except that the LoRAs its file named stay (a house
        style is part of the image, not of the speed). An explicit `steps` wins.
        """
        if preset is None:
            return {}
        gen = self.config.generation
        found = gen.presets.get(preset)
        if found is None:
            known = ", ".join(sorted(gen.presets)) or "none (add them under generation.presets)"
            raise InvalidRequest(f"preset: unknown preset {preset!r}; the config has: {known}")
        loras = merge_loras(gen.loras, found.loras, task.file_loras)
        for name in loras:
            problem = missing_lora_problem(gen.lora_dir, name)
            if problem:
                raise InvalidRequest(f"preset {preset}: {problem}")
        return {
            "preset": preset,
            "steps": steps or found.steps or gen.steps,
            "guidance_scale": gen.guidance_scale
            if found.guidance_scale is None
            else found.guidance_scale,
            "scheduler": found.scheduler or gen.scheduler,
            "loras": loras,
        }

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
            task = self._task(task_id)
            if task.status not in RUNNING:
                raise Conflict(_cannot("cancel", task))
            jobs = self.store.jobs.pending_for_task(task_id, GENERATE)
            running = any(job.status is JobStatus.RUNNING for job in jobs)
            self.store.jobs.cancel_for_task(task_id, GENERATE)
            if not running:  # nobody is working on it: settle the status here
                has_variations = bool(self._variations(task_id))
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

    # -- helpers ------------------------------------------------------------------------

    def _task(self, task_id: str) -> TaskRecord:
        task = self.store.tasks.get(task_id)
        if task is None:
            raise TaskNotFound(f"no task {task_id!r}")
        return task

    def _variations(self, task_id: str) -> list[VariationRecord]:
        return self.store.variations.list(task_id)

    def _variation(self, task: TaskRecord, index: int) -> VariationRecord:
        present = self._variations(task.id)
        for variation in present:
            if variation.idx == index:
                return variation
        have = ", ".join(str(v.idx) for v in present) or "none"
        raise TaskNotFound(f"task {task.id} has no variation {index} (it has: {have})")


def _cannot(action: str, task: TaskRecord) -> str:
    hints = {
        TaskStatus.QUEUED: "wait for its variations or cancel it first",
        TaskStatus.GENERATING: "wait for its variations or cancel it first",
        TaskStatus.INVALID: "fix the task file and submit it again",
        TaskStatus.REJECTED: "ask for new variations first",
    }
    hint = hints.get(task.status, "")
    return f"cannot {action} task {task.id} (status: {task.status})" + (f"; {hint}" if hint else "")


__all__ = [
    "ActionError",
    "Actions",
    "Conflict",
    "InvalidRequest",
    "Outcome",
    "TaskNotFound",
]
