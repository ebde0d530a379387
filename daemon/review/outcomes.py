"""What an action answers: an Outcome, or an ActionError that says why not.

No HTTP here: the API maps ActionError codes to status codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.store import TaskRecord
from gladtui.shapes import ErrorCode, TaskStatus


class ActionError(Exception):
    """The action was refused; `code` says why in one word, the message in words."""

    code = ErrorCode.REFUSED


class TaskNotFound(ActionError):
    code = ErrorCode.NOT_FOUND


class Conflict(ActionError):
    """The task is not in a state that allows the action."""

    code = ErrorCode.CONFLICT


class InvalidRequest(ActionError):
    code = ErrorCode.INVALID


@dataclass(frozen=True, slots=True)
class Outcome:
    task_id: str
    changed: bool
    message: str


_HINTS = {
    TaskStatus.QUEUED: "wait for its variations or cancel it first",
    TaskStatus.GENERATING: "wait for its variations or cancel it first",
    TaskStatus.INVALID: "fix the task file and submit it again",
    TaskStatus.REJECTED: "ask for new variations first",
}


def cannot(action: str, task: TaskRecord) -> str:
    """`cannot approve task x (status: generating); wait for its variations …`."""
    hint = _HINTS.get(task.status, "")
    return f"cannot {action} task {task.id} (status: {task.status})" + (f"; {hint}" if hint else "")


def decision_pending(task: TaskRecord, action: str) -> str:
    """The refusal while a decision waits out its grace period."""
    decided = "approval" if task.status is TaskStatus.APPROVED else "rejection"
    return (
        f"cannot {action} task {task.id}: its {decided} takes effect shortly; "
        f"undo it first (u in the TUI, or gladtui undo {task.id})"
    )
