"""The kinds of job the daemon queues, and the payloads they carry.

Jobs are rows (daemon/store/jobs.py); this module is the one place that says
what a payload holds, so the parts that queue work and the parts that do it
agree without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GENERATE = "generate"
PUBLISH = "publish"


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
