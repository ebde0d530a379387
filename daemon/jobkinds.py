"""The kinds of job the daemon queues, and the payloads they carry.

Jobs are rows (daemon/store/jobs.py); this module is the one place that says
what a payload holds, so the parts that queue work and the parts that do it
agree without importing each other.
"""

from __future__ import annotations

from typing import Any

GENERATE = "generate"
PUBLISH = "publish"


def generation_payload(first_index: int, count: int, prompt: str | None = None) -> dict[str, Any]:
    """A `generate` job makes variations first_index .. first_index + count - 1.

    Naming the indexes (not just a count) is what makes a retry or a resumed
    job idempotent: indexes that already have a row are not made again.
    """
    payload: dict[str, Any] = {"first_index": first_index, "count": count}
    if prompt is not None:
        payload["prompt"] = prompt
    return payload
