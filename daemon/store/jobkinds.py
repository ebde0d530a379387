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

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

GENERATE = "generate"
PUBLISH = "publish"
REJECT = "reject"
DECISIONS = (PUBLISH, REJECT)  # the kinds a reviewer can undo before they run

# A job not yet due nor claimed, as SQL over the jobs table (the ? is now): queued,
# never started (a claim counts an attempt) and its run_after still ahead. Such a job
# can still be cancelled as if it had never been queued.
UNCLAIMED_SQL = "status = 'pending' AND attempts = 0 AND run_after > ?"
# A reviewer's decision that waits out its grace period: its task can still be put
# back as it was (daemon/review/decisions.py). The kinds are this module's constants.
UNDOABLE_SQL = f"{UNCLAIMED_SQL} AND list_contains({list(DECISIONS)!r}, kind)"


@dataclass(frozen=True, slots=True)
class Undo:
    """The task as it was before a decision: what undoing it restores."""

    status: str
    error: str | None
    selected: int | None  # the variation selected before (None: none was)


@dataclass(frozen=True, slots=True)
class Rejection:
    keep_files: bool
    prompt: str | None  # the next round's prompt: a new round once it takes effect
    undo: Undo
    # the next round's negative prompt, when its reasons changed it (None: the task's)
    negative_prompt: str | None = None
    # what the reasons added ({"reasons", "prompt", "negative_prompt"}); None: no reasons
    additions: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PresetSettings:
    """A preset's settings for one `generate --preset` job, resolved when it was asked for."""

    preset: str
    steps: int
    guidance_scale: float
    scheduler: str | None  # None: the model's own
    loras: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Overrides:
    """What one `generate` job renders with instead of the task's own settings."""

    settings: PresetSettings | None = None  # None: the task's
    seed: int | None = None  # every image of the job uses it (a re-render)
    from_variation: int | None = None  # the variation whose seed that is


@dataclass(frozen=True, slots=True)
class Generation:
    """A `generate` job: variations first_index .. first_index + count - 1."""

    first_index: int
    count: int
    prompt: str | None  # None: the task's
    overrides: Overrides
    additions: Mapping[str, Any] | None = None  # what a rejection's reasons added, if any

    @property
    def indexes(self) -> range:
        return range(self.first_index, self.first_index + self.count)


def generation_payload(
    first_index: int,
    count: int,
    prompt: str | None = None,
    overrides: Overrides | None = None,
    additions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A `generate` job makes variations first_index .. first_index + count - 1.

    Naming the indexes (not just a count) is what makes a retry or a resumed
    job idempotent: indexes that already have a row are not made again.

    `overrides.settings` replace the task's for this job only (a preset asked
    for with `generate --preset`), resolved when it was asked for, so a job
    means the same after a restart with another config. `overrides.seed`
    replaces the per-index seeds (a re-render of `overrides.from_variation`).
    """
    payload: dict[str, Any] = {"first_index": first_index, "count": count}
    if prompt is not None:
        payload["prompt"] = prompt
    extra = overrides or Overrides()
    if extra.settings is not None:
        payload["settings"] = _settings_json(extra.settings)
    if extra.seed is not None:
        payload["seed"] = extra.seed
    if extra.from_variation is not None:
        payload["from_variation"] = extra.from_variation
    if additions:
        payload["additions"] = dict(additions)
    return payload


def generation_of(payload: Mapping[str, Any]) -> Generation:
    prompt = payload.get("prompt")
    seed = payload.get("seed")
    source = payload.get("from_variation")
    overrides = Overrides(
        settings=_settings_of(payload.get("settings")),
        seed=None if seed is None else int(seed),
        from_variation=None if source is None else int(source),
    )
    return Generation(
        first_index=int(payload.get("first_index", 1)),
        count=int(payload.get("count", 0)),
        prompt=str(prompt) if prompt else None,  # an empty one: the task's, as before
        overrides=overrides,
        additions=_mapping_or_none(payload.get("additions")),
    )


def _mapping_or_none(raw: object) -> Mapping[str, Any] | None:
    return dict(raw) if isinstance(raw, Mapping) and raw else None


def round_starts(payloads: Iterable[Mapping[str, Any]]) -> list[int]:
    """Where each round of a task's variations starts: the first index of each of its
    `generate` jobs (the task file's, each `g`, each reject with a new prompt), ascending.

    A job cancelled or given up before it made anything leaves its first index to
    the next job, so the two count as one round.
    """
    return sorted({generation_of(payload).first_index for payload in payloads})


def round_of(index: int, starts: Sequence[int]) -> int:
    """The round (1-based) variation `index` belongs to, by the rounds' first indexes."""
    return max(bisect_right(starts, index), 1)


def _settings_json(settings: PresetSettings) -> dict[str, Any]:
    return {
        "preset": settings.preset,
        "steps": settings.steps,
        "guidance_scale": settings.guidance_scale,
        "scheduler": settings.scheduler,
        "loras": dict(settings.loras),
    }


def _settings_of(raw: object) -> PresetSettings | None:
    """Settings are stored whole (`_settings_json`), or not at all."""
    if not isinstance(raw, Mapping) or not raw:
        return None
    scheduler = raw["scheduler"]
    return PresetSettings(
        preset=str(raw["preset"]),
        steps=int(raw["steps"]),
        guidance_scale=float(raw["guidance_scale"]),
        scheduler=None if scheduler is None else str(scheduler),
        loras={str(k): float(v) for k, v in raw["loras"].items()},
    )


def publish_payload(variation: int, undo: Undo) -> dict[str, Any]:
    return {"variation": variation, "undo": _undo_json(undo)}


def published_variation(payload: Mapping[str, Any]) -> int:
    return int(payload.get("variation", 0))


def reject_payload(rejection: Rejection) -> dict[str, Any]:
    return {
        "keep_files": rejection.keep_files,
        "prompt": rejection.prompt,
        "negative_prompt": rejection.negative_prompt,
        "additions": None if rejection.additions is None else dict(rejection.additions),
        "undo": _undo_json(rejection.undo),
    }


def rejection_of(payload: Mapping[str, Any]) -> Rejection:
    prompt, negative = payload.get("prompt"), payload.get("negative_prompt")
    return Rejection(
        keep_files=bool(payload.get("keep_files", False)),
        prompt=str(prompt) if prompt else None,
        undo=undo_of(payload),
        negative_prompt=None if negative is None else str(negative),
        additions=_mapping_or_none(payload.get("additions")),
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
