"""A reviewer's decisions: approve, reject, and undo while the grace period runs.

A decision is recorded at once (the task becomes `approved` or `rejected`)
and takes effect `publishing.grace_seconds` later, as a job: `publish` uploads
and creates the post (daemon/publishing/publish.py), `reject` deletes the files and,
with a new prompt, queues a new round (`carry_out_rejection`). Until a worker
claims that job, `undo` cancels it and puts the task back exactly as it was:
its status, its error and its selected variation, with nothing uploaded and
no file deleted. Undo and the claim are write transactions, serialized by the
store, so an undo that races the start of publishing either wins (the job is
cancelled before anyone claimed it) or is refused because publishing started
or its grace ended: undo goes by what the cancel did, not by the look before it.

With `grace_seconds: 0` an approval's job is runnable at once and a rejection
takes effect in the request itself, as before undo existed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from daemon.publishing.cleanup import finish_removals, request_removal
from daemon.publishing.missingfiles import cannot_approve, is_missing
from daemon.review.outcomes import (
    Conflict,
    InvalidRequest,
    Outcome,
    TaskNotFound,
    cannot,
    decision_pending,
)
from daemon.review.rules import APPROVED_STATES, UNDO, allowed_actions
from daemon.store import JobRecord, Store, TaskRecord, VariationRecord
from daemon.store.jobkinds import (
    DECISIONS,
    GENERATE,
    PUBLISH,
    REJECT,
    Overrides,
    Rejection,
    Undo,
    generation_payload,
    publish_payload,
    reject_payload,
    rejection_of,
    undo_of,
)
from gladtui.config import Config
from gladtui.config.review import apply_additions
from gladtui.shapes import RejectRequest, TaskStatus

log = logging.getLogger(__name__)


class Decisions:
    """Approve, reject, undo; thread-safe (the API calls them from threads)."""

    def __init__(
        self, store: Store, config: Config, *, work_queued: Callable[[], None] = lambda: None
    ) -> None:
        self.store = store
        self.config = config
        self._work_queued = work_queued  # wakes the workers instead of waiting for their poll

    @property
    def grace_seconds(self) -> float:
        return self.config.publishing.grace_seconds

    # -- approve ------------------------------------------------------------------------

    def approve(self, task_id: str, variation: int, *, actor: str | None = None) -> Outcome:
        """Select `variation`; its publication is queued to run once the grace has passed."""
        with self.store.transaction():
            task = self.task(task_id)
            if task.status in APPROVED_STATES:
                return self._already_approved(task, variation)
            self.check(task, "approve")
            chosen = self._variation(task, variation)
            if is_missing(chosen):  # nothing to upload: refused now, not failed later
                raise Conflict(cannot_approve(task_id, chosen))
            undo = self._undo_state(task)
            self.store.variations.select(task_id, chosen.idx)
            self.store.tasks.set_status(
                task_id,
                TaskStatus.APPROVED,
                actor=actor,
                detail={"variation": chosen.idx, "grace_seconds": self.grace_seconds},
                expected=task.status,
            )
            self.store.jobs.enqueue(
                PUBLISH,
                task_id,
                publish_payload(chosen.idx, undo),
                max_attempts=self.config.publishing.max_attempts,
                run_after=self._takes_effect_at(),
            )
        self._work_queued()
        log.info("task %s: variation %d approved by %s", task_id, chosen.idx, actor)
        when = f"; publishing in {self.grace_seconds:g} s" if self.grace_seconds else ""
        return Outcome(task_id, True, f"approved variation {chosen.idx} of {task_id}{when}")

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
        request: RejectRequest | None = None,
        *,
        prompt: str | None = None,
        keep_files: bool = False,
        actor: str | None = None,
    ) -> Outcome:
        """Reject the variations; with a prompt (or `again`), a new round follows once it
        takes effect, with what the request's reasons add to its prompts. Without a
        `request`, `prompt` and `keep_files` make one (no reasons)."""
        request = request or RejectRequest(prompt=prompt, keep_files=keep_files)
        reasons = self._reasons(request.reasons)
        with self.store.transaction():
            task = self.task(task_id)
            repeated = task.status is TaskStatus.REJECTED and not request.new_round
            if repeated and not self._pending(task):
                return Outcome(task_id, False, f"{task_id} was already rejected")
            self.check(task, "reject")
            rejection = self._rejection(task, request, reasons)
            prompt = rejection.prompt
            self.store.tasks.set_status(
                task_id,
                TaskStatus.REJECTED,
                actor=actor,
                detail={
                    "keep_files": request.keep_files,
                    "prompt": request.prompt,
                    "again": request.again,
                    "reasons": reasons,
                    "additions": rejection.additions,
                    "grace_seconds": self.grace_seconds,
                },
                expected=task.status,
            )
            if self.grace_seconds:
                self.store.jobs.enqueue(
                    REJECT,
                    task_id,
                    reject_payload(rejection),
                    max_attempts=self.config.publishing.max_attempts,
                    run_after=self._takes_effect_at(),
                )
            else:  # takes effect now, in this same commit
                self._take_effect(task_id, rejection, actor)
        log.info("task %s: rejected by %s", task_id, actor)
        if self.grace_seconds:
            self._work_queued()
            then = "new variations" if prompt is not None else "the files are deleted"
            return Outcome(task_id, True, f"rejected {task_id}; {then} in {self.grace_seconds:g} s")
        return Outcome(task_id, True, self._after_effect(task_id, rejection))

    def _reasons(self, names: Sequence[str]) -> list[str]:
        try:
            return self.config.review.chosen(names)
        except ValueError as exc:
            raise InvalidRequest(f"reasons: {exc}") from None

    def _rejection(self, task: TaskRecord, request: RejectRequest, reasons: list[str]) -> Rejection:
        """What the rejection will do: the next round's prompts made now, from the task's."""
        undo = self._undo_state(task)
        if not request.new_round:  # nothing to add to: the reasons are only recorded
            return Rejection(request.keep_files, None, undo)
        base = task.prompt if request.prompt is None else request.prompt
        if not reasons:
            return Rejection(request.keep_files, base, undo)
        after = apply_additions(
            self.config.review.reject_reasons, reasons, base, task.negative_prompt
        )
        negative = None if after.negative_prompt == task.negative_prompt else after.negative_prompt
        additions = after.additions.as_json()
        return Rejection(request.keep_files, after.prompt, undo, negative, additions)

    def carry_out_rejection(
        self,
        task_id: str,
        rejection: Rejection,
        *,
        job: JobRecord | None = None,
        actor: str | None = None,
    ) -> str:
        """The rejection takes effect: a new round queued (with a prompt), then the files go.

        What is to be deleted is recorded in the commit that completes the job,
        and the files are deleted after it: a stop in between leaves the
        deletion recorded, and the next start finishes it (daemon/publishing/cleanup.py);
        a stop before it leaves the job, which runs again. Never a deleted file
        of a task still under review. Returns what was done, in words.
        """
        with self.store.transaction():
            self._take_effect(task_id, rejection, actor)
            if job is not None:
                self.store.jobs.complete(job.id)
        return self._after_effect(task_id, rejection)

    def _take_effect(self, task_id: str, rejection: Rejection, actor: str | None) -> None:
        """Inside the caller's transaction: the new round queued, the files' removal recorded."""
        task = self.task(task_id)
        if not rejection.keep_files:
            request_removal(self.store, self._variations(task_id))
        if rejection.prompt is not None and task.status is TaskStatus.REJECTED:
            detail = {"count": task.variations, "prompt": rejection.prompt}
            if rejection.additions:
                detail["additions"] = rejection.additions
            if rejection.negative_prompt is not None:
                self.store.tasks.set_generation(task_id, negative_prompt=rejection.negative_prompt)
            self.queue_generation(
                task,
                task.variations,
                rejection.prompt,
                None,
                actor,
                detail,
                additions=rejection.additions,
            )

    def _after_effect(self, task_id: str, rejection: Rejection) -> str:
        """After the commit: the recorded deletions done, the generator woken; in words."""
        removed = finish_removals(self.store, self.store.variations.awaiting_removal(task_id))
        what = f"rejected {task_id}" + (f", {len(removed)} file(s) deleted" if removed else "")
        if rejection.prompt is not None:
            self._work_queued()
            count = self.task(task_id).variations
            what += f"; {count} new variation(s) queued with the new prompt"
        log.info("task %s: %s", task_id, what)
        return what

    def carry_out_rejection_job(self, job: JobRecord) -> None:
        """A `reject` job whose grace has passed (daemon/review/decisionworker.py runs it)."""
        task = self.store.tasks.get(job.task_id or "")
        if task is None or task.status is not TaskStatus.REJECTED:
            self.store.jobs.complete(job.id)  # undone meanwhile: nothing left to do
            return
        self.carry_out_rejection(task.id, rejection_of(job.payload), job=job)

    # -- undo ---------------------------------------------------------------------------

    def undo(self, task_id: str, *, actor: str | None = None) -> Outcome:
        """Cancel a decision still waiting out its grace: the task is back as it was."""
        with self.store.transaction():
            task = self.task(task_id)
            job = self.store.jobs.unclaimed(task_id, DECISIONS)
            if job is None or task.status not in (TaskStatus.APPROVED, TaskStatus.REJECTED):
                raise Conflict(self._too_late(task))
            # The cancel has the last word: the grace may have ended since the look
            # (the clock moved on); the job, due now, is left to take effect.
            if not self.store.jobs.cancel_unclaimed(job.id):
                raise Conflict(self._too_late(task))
            undo = undo_of(job.payload)
            self.store.variations.restore_selection(task_id, undo.selected)
            self.store.tasks.set_status(
                task_id,
                TaskStatus(undo.status),
                error=undo.error,
                actor=actor,
                detail={"undo": job.kind},
                expected=task.status,
            )
        decision = "approval" if job.kind == PUBLISH else "rejection"
        log.info("task %s: %s undone by %s", task_id, decision, actor)
        return Outcome(task_id, True, f"undid the {decision} of {task_id}; back to {undo.status}")

    def _too_late(self, task: TaskRecord) -> str:
        if task.status in (TaskStatus.PUBLISHING, TaskStatus.PUBLISHED):
            return f"too late to undo: task {task.id} is {task.status}"
        if task.status is TaskStatus.APPROVED:
            return f"too late to undo: the approval of task {task.id} has taken effect"
        if task.status is TaskStatus.REJECTED:
            return f"too late to undo: the rejection of task {task.id} has taken effect"
        return f"nothing to undo: task {task.id} has no decision waiting (status: {task.status})"

    # -- shared with the other actions ---------------------------------------------------

    def task(self, task_id: str) -> TaskRecord:
        task = self.store.tasks.get(task_id)
        if task is None:
            raise TaskNotFound(f"no task {task_id!r}")
        return task

    def check(self, task: TaskRecord, action: str, verb: str | None = None) -> None:
        """Refuse `action` unless the rules allow it for `task` now (daemon/review/rules.py)."""
        pending = self._pending(task)
        allowed = allowed_actions(
            task.status, variations=len(self._variations(task.id)), undoable=pending
        )
        if action in allowed:
            return
        if pending and UNDO in allowed:
            raise Conflict(decision_pending(task, verb or action))
        raise Conflict(cannot(verb or action, task))

    def queue_generation(
        self,
        task: TaskRecord,
        count: int,
        prompt: str | None,
        steps: int | None,
        actor: str | None,
        detail: Mapping[str, object],
        overrides: Overrides | None = None,
        additions: Mapping[str, object] | None = None,
    ) -> int:
        """Back to `queued` with a job for the next `count` indexes; returns the first.

        `overrides`: the job's own settings, seed and source variation, if any.
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
            generation_payload(first, count, prompt, overrides, additions),
            max_attempts=self.config.generation.max_attempts,
        )
        return first

    def _pending(self, task: TaskRecord) -> bool:
        if task.status not in (TaskStatus.APPROVED, TaskStatus.REJECTED):
            return False
        return self.store.jobs.unclaimed(task.id, DECISIONS) is not None

    def _undo_state(self, task: TaskRecord) -> Undo:
        selected = next((v.idx for v in self._variations(task.id) if v.selected), None)
        return Undo(status=str(task.status), error=task.error, selected=selected)

    def _takes_effect_at(self) -> datetime:
        return self.store.now() + timedelta(seconds=self.grace_seconds)

    def _variations(self, task_id: str) -> list[VariationRecord]:
        return self.store.variations.list(task_id)

    def _variation(self, task: TaskRecord, index: int) -> VariationRecord:
        present = self._variations(task.id)
        for variation in present:
            if variation.idx == index:
                return variation
        have = ", ".join(str(v.idx) for v in present) or "none"
        raise TaskNotFound(f"task {task.id} has no variation {index} (it has: {have})")
