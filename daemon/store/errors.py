"""What the store raises. Callers catch these, never DuckDB's own exception types.

DuckDB reports a broken uniqueness rule as a generic `ConstraintException`
whose message names the column; the repositories translate it into the typed
errors below so that, for example, the publisher can tell "this slug is taken"
(pick another) from "this task already has a post" (return that post).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "DuplicatePostError",
    "DuplicateTaskError",
    "DuplicateVariationError",
    "NotFoundError",
    "SlugTakenError",
    "StatusConflictError",
    "StoreError",
    "duplicate_key_column",
]


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class NotFoundError(StoreError):
    """The task, variation, job or post named does not exist."""


class DuplicateTaskError(StoreError):
    """A task with this id already exists."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"task {task_id!r} already exists")


class DuplicateVariationError(StoreError):
    """This task already has a variation with this index."""

    def __init__(self, task_id: str, idx: int) -> None:
        self.task_id = task_id
        self.idx = idx
        super().__init__(f"task {task_id!r} already has variation {idx}")


class DuplicatePostError(StoreError):
    """This task already has a post (publishing is idempotent per task)."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"task {task_id!r} already has a post")


class SlugTakenError(StoreError):
    """Another post already uses this slug (the UNIQUE constraint, the last line of defence)."""

    def __init__(self, slug: str) -> None:
        self.slug = slug
        super().__init__(f"slug {slug!r} is already taken by another post")


class StatusConflictError(StoreError):
    """The task was not in a status the caller expected, so nothing was changed.

    Two actors (a reviewer and the generator, two reviewers) can race on one
    task; the loser gets this error rather than silently overwriting the winner.
    """

    def __init__(self, task_id: str, current: str, expected: Iterable[str], wanted: str) -> None:
        self.task_id = task_id
        self.current = current
        self.expected = frozenset(expected)
        self.wanted = wanted
        allowed = ", ".join(sorted(self.expected)) or "(nothing)"
        super().__init__(
            f"task {task_id!r} is {current!r}, expected {allowed} to move it to {wanted!r}"
        )


# DuckDB words a broken PRIMARY KEY / UNIQUE rule as
#   Constraint Error: Duplicate key "slug: muffins" violates unique constraint.
# (several "column: value" pairs for a composite key). The first column name is
# all we need to tell one uniqueness rule from another.
_DUPLICATE_KEY = re.compile(r'Duplicate key "(?P<column>[^":,]+):')


def duplicate_key_column(message: str) -> str | None:
    """The first column named by a DuckDB duplicate-key message, or None if not one."""
    match = _DUPLICATE_KEY.search(message)
    return match.group("column").strip() if match else None
