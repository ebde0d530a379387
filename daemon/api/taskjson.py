"""The store's records as the JSON shapes of gladtui/shapes.py: what the API sends.

`TaskViews` assembles tasks for the API: a page of summaries takes a fixed
number of queries (the tasks with their variation counts, their posts)
whatever its size, so listing 10,000 tasks does not run 10,000 queries.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daemon.generation.progress import PreviewMark, Progress, ProgressBoard
from daemon.publishing.missingfiles import is_missing
from daemon.publishing.slugs import SlugPreview, SlugPreviewer, base_slug
from daemon.review.rules import allowed_actions
from daemon.store import EventRecord, PostRecord, Store, TaskSummaryRecord, VariationRecord
from daemon.store.jobkinds import GENERATE, round_of, round_starts
from gladtui.alttext import image_alt
from gladtui.shapes import (
    AdditionsJSON,
    EventJSON,
    PostJSON,
    PreviewStepJSON,
    ProgressEventJSON,
    ProgressJSON,
    SlugOutcome,
    TaskJSON,
    TaskPageJSON,
    TaskStatus,
    TaskSummaryJSON,
    VariationJSON,
)


def iso(moment: datetime) -> str:
    """A stored time (naive UTC) as ISO 8601 with a `Z`, to the millisecond."""
    return moment.isoformat(timespec="milliseconds") + "Z"


def iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def post_json(post: PostRecord) -> PostJSON:
    return {
        "id": post.id,
        "task_id": post.task_id,
        "title": post.title,
        "slug": post.slug,
        "featured_image_url": post.featured_image_url,
        "created_at": iso(post.created_at),
        "updated_at": iso(post.updated_at),
        "destination": post.destination,
        "location": post.location,
    }


def variation_json(variation: VariationRecord, round_starts: Sequence[int]) -> VariationJSON:
    """`round_starts`: the first index of each round of the task's variations."""
    return {
        "index": variation.idx,
        "round": round_of(variation.idx, round_starts),
        "path": variation.path,
        "thumbnail": variation.thumbnail,
        "seed": variation.seed,
        "prompt": variation.prompt,
        "negative_prompt": variation.negative_prompt,
        "width": variation.width,
        "height": variation.height,
        "steps": variation.steps,
        "guidance_scale": variation.guidance_scale,
        "model": variation.model,
        "selected": variation.selected,
        "removed_at": iso_or_none(variation.removed_at),
        "created_at": iso(variation.created_at),
        "scheduler": variation.scheduler,
        "sampler": variation.sampler,
        "loras": variation.loras,
        "preset": variation.preset,
        "from_variation": variation.from_variation,
        "missing": is_missing(variation),  # one stat: only a task read in full says it
        "additions": additions_json(variation.additions),
    }


def additions_json(raw: Mapping[str, Any] | None) -> AdditionsJSON | None:
    if not raw:
        return None
    return {
        "reasons": [str(name) for name in raw.get("reasons", [])],
        "prompt": str(raw.get("prompt", "")),
        "negative_prompt": str(raw.get("negative_prompt", "")),
    }


def progress_json(progress: Progress | None) -> ProgressJSON | None:
    if progress is None:
        return None
    return {
        "step": progress.step,
        "steps": progress.steps,
        "images_done": progress.images_done,
        "images_total": progress.images_total,
        "preview": preview_step_json(progress.preview),
    }


def preview_step_json(mark: PreviewMark | None) -> PreviewStepJSON | None:
    if mark is None:
        return None
    return {"step": mark.step, "steps": mark.steps, "variations": list(mark.indexes)}


def progress_event_json(progress: Progress) -> ProgressEventJSON:
    body = progress_json(progress)
    assert body is not None
    return {"task_id": progress.task_id, **body}


def summary_json(
    task: TaskSummaryRecord,
    *,
    post: PostRecord | None,
    progress: Progress | None,
    slug: SlugPreview | None,
) -> TaskSummaryJSON:
    if post is not None:
        holder = None if post.task_id == task.id else post.task_id
        slug = SlugPreview(post.slug, SlugOutcome.PUBLISHED, holder)
    elif task.status is TaskStatus.INVALID:  # a refused file is never published
        slug = SlugPreview(base_slug(task.title), SlugOutcome.NONE, None)
    elif slug is None:  # not asked for: the base slug, as if free
        slug = SlugPreview(base_slug(task.title), SlugOutcome.FREE, None)
    return {
        "id": task.id,
        "title": task.title,
        "status": task.status,
        "prompt": task.prompt,
        "negative_prompt": task.negative_prompt,
        "slug": slug.slug,
        "slug_outcome": slug.outcome,
        "slug_taken_by": slug.taken_by,
        "error": task.error,
        "source_file": task.source_file,
        "variations_requested": task.variations,
        "steps": task.steps,
        "guidance_scale": task.guidance_scale,
        "width": task.width,
        "height": task.height,
        "seed": task.seed,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "variation_count": task.variation_count,
        "selected_variation": task.selected_variation,
        "post": None if post is None else post_json(post),
        "progress": progress_json(progress),
        "actions": allowed_actions(
            task.status, variations=task.variation_count, undoable=task.undo_until is not None
        ),
        "undo_until": task.undo_until,
        "scheduler": task.scheduler,
        "loras": task.loras,
        "preset": task.preset,
        "warnings": task.warnings,
    }


@dataclass(frozen=True, slots=True)
class Widening:
    """Tasks a list shows beyond its filter (GET /api/tasks `undoable` and `keep`)."""

    undoable: bool = False  # tasks whose decision can still be undone
    keep: str | None = None  # this task whatever the filter: the one a reviewer looks at


class TaskViews:
    """Tasks as the API shows them, read from the store and the live progress board."""

    def __init__(self, store: Store, progress: ProgressBoard, slugs: SlugPreviewer) -> None:
        self.store = store
        self.progress = progress
        self.slugs = slugs

    def task(self, task_id: str) -> TaskJSON | None:
        found = self.summaries(self.store.tasks.summaries(ids=[task_id]))
        record = self.store.tasks.get(task_id)
        if not found or record is None:
            return None
        variations = self.store.variations.list(task_id, include_removed=True)
        starts = round_starts(self.store.jobs.payloads(task_id, GENERATE))
        return {
            **found[0],
            "content": record.content,
            "alt": image_alt(record.alt, record.title, record.prompt),
            "alt_from_task": bool(record.alt),
            "caption": record.caption,
            "focus": None if record.focus is None else list(record.focus),
            "variations": [variation_json(v, starts) for v in variations],
        }

    def summaries(self, records: Iterable[TaskSummaryRecord]) -> list[TaskSummaryJSON]:
        """Summaries of `records`, in their order, with their posts and slug previews."""
        tasks = list(records)
        posts = self.store.posts.by_ids([t.post_id for t in tasks if t.post_id is not None])
        slugs = self.slugs.preview(tasks)
        return [
            summary_json(
                task,
                post=posts.get(task.post_id) if task.post_id is not None else None,
                progress=self.progress.get(task.id),
                slug=slugs.get(task.id),
            )
            for task in tasks
        ]

    def page(
        self,
        status: Collection[TaskStatus] | None,
        title_contains: str | None,
        limit: int,
        offset: int,
        widen: Widening | None = None,
    ) -> TaskPageJSON:
        tasks, widen = self.store.tasks, widen or Widening()
        records = tasks.summaries(
            status,
            limit,
            offset,
            title_contains=title_contains,
            undoable=widen.undoable,
            keep=widen.keep,
        )
        count = tasks.count(
            status, title_contains=title_contains, undoable=widen.undoable, keep=widen.keep
        )
        return {
            "tasks": self.summaries(records),
            "total": count,
            "offset": offset,
            "limit": limit,
        }

    def events(self, records: list[EventRecord]) -> list[EventJSON]:
        """Events as the stream sends them, each with its task as it is now."""
        task_ids = {event.task_id for event in records if event.task_id is not None}
        found = self.store.tasks.summaries(ids=task_ids) if task_ids else []
        summaries = {s["id"]: s for s in self.summaries(found)}
        return [
            {
                "id": event.id,
                "kind": event.kind,
                "task_id": event.task_id,
                "from_status": event.from_status,
                "to_status": event.to_status,
                "actor": event.actor,
                "detail": event.detail,
                "at": iso(event.at),
                "task": summaries.get(event.task_id) if event.task_id else None,
            }
            for event in records
        ]
