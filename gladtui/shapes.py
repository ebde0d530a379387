"""Vocabulary shared by the daemon and its clients.

The JSON shapes exchanged over the API grow here (see DESIGN.md "JSON shapes");
the lifecycle below is what every part of gladtui agrees on.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    """Where a task is in its life. See DESIGN.md "Task lifecycle"."""

    QUEUED = "queued"
    GENERATING = "generating"
    REVIEW = "review"
    APPROVED = "approved"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    REJECTED = "rejected"
    FAILED = "failed"
    INVALID = "invalid"


# Statuses a task never leaves on its own; only a reviewer's action moves them.
FINAL_STATUSES = frozenset(
    {TaskStatus.PUBLISHED, TaskStatus.REJECTED, TaskStatus.FAILED, TaskStatus.INVALID}
)
