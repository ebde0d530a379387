"""The kinds of job the daemon queues, and the payloads they carry.

Jobs are rows (daemon/store/jobs.py); this module is the one place that says
what a payload holds, so the parts that queue work and the parts that do it
agree without importing each other. Payloads are built and read only here.

A reviewer's decision (approve: `publish`; reject: `reject`) is a job that
runs once `publishing.grace_seconds` have passed. Until it is claimed it can
be undone; its payload keeps what the decision replaced (`Undo`), so undoing
puts the task back exactly as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GENERATE = "generate"
PUBLISH = "publish"
REJECT = "reject"
DECISIONS = (PUBLISH, REJECT)  # the kinds a reviewer can undo before they run


@dataclass(frozen=True, slots=True)
class Undo:
    """The task as it was before a decision: what undoing it restores."""

    status: str
    error: str | None
    selected: int | None  # the variation selected before (None: none was)


@dataclass(frozen=True, slots=True)
class Rejection:
    keep_files: bool
    prompt: str | None  # a new prompt: a new round of variations once it takes effect
    undo: Undo


def generation_payload(
    first_index: int,
    count: int,
    prompt: str | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    seed: int | None = None,
    from_variation: int | None = None,
) -> dict[str, Any]:
    """A `generate` job makes variations first_index .. first_index + count - 1.

    Naming the indexes (not just a count) is what makes a retry or a resumed
    job idempotent: indexes that already have a row are not made again.

    `settings` overrides the task's own for this job only (a preset asked for
    with `generate --preset`: preset, steps, guidance_scale, scheduler, loras),
    resolved when it was asked for, so a job means the same after a restart
    with another config. `seed` replaces the per-index seeds (a re-render of
    variation `from_variation`).
    """
    payload: dict[str, Any] = {"first_index": first_index, "count": count}
    if prompt is not None:
        payload["prompt"] = prompt
    if settings:
        payload["settings"] = dict(settings)
    if seed is not None:
        payload["seed"] = seed
    if from_variation is not None:
        payload["from_variation"] = from_variation
    return payload


def publish_payload(variation: int, undo: Undo) -> dict[str, Any]:
    return {"variation": variation, "undo": _undo_json(undo)}


def published_variation(payload: Mapping[str, Any]) -> int:
    return int(payload.get("variation", 0))


def reject_payload(rejection: Rejection) -> dict[str, Any]:
    return {
        "keep_files": rejection.keep_files,
        "prompt": rejection.prompt,
        "undo": _undo_json(rejection.undo),
    }


def rejection_of(payload: Mapping[str, Any]) -> Rejection:
    prompt = payload.get("prompt")
    return Rejection(
        keep_files=bool(payload.get("keep_files", False)),
        prompt=str(prompt) if prompt else None,
        undo=undo_of(payload),
    )


def undo_of(payload: Mapping[str, Any]) -> Undo:
    """What a decision job replaced. Jobs queued before undo existed restore `review`."""
    raw = payload.get("undo")
    saved: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    selected = saved.get("selected")
    error = saved.get("error")
    return Undo(
        status=str(saved.get("status", "review")),
        error=str(error) if error is not None else None,
        selected=int(selected) if selected is not None else None,
    )


def _undo_json(undo: Undo) -> dict[str, Any]:
    return {"status": undo.status, "error": undo.error, "selected": undo.selected}
