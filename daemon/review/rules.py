"""Which actions a task allows now: the daemon's rules, in one place.

The actions refuse what these rules do not allow, and every task the API
sends lists `actions`, so clients (the TUI, the CLI, scripts) never restate
the rules: they offer what the list holds.
"""

from __future__ import annotations

from gladtui.shapes import IN_GENERATION, TaskStatus

APPROVE = "approve"
REJECT = "reject"
GENERATE = "generate"
CANCEL = "cancel"
UNDO = "undo"

# A task may be sent back for (more) variations, or rejected, from these.
REGENERATE_FROM = (TaskStatus.REVIEW, TaskStatus.FAILED, TaskStatus.REJECTED)
# Approval needs a variation to publish: awaiting review, or failed (a publish that
# failed can be approved again; a generation that failed part-way has some images).
APPROVE_FROM = (TaskStatus.REVIEW, TaskStatus.FAILED)
APPROVED_STATES = (TaskStatus.APPROVED, TaskStatus.PUBLISHING, TaskStatus.PUBLISHED)


def allowed_actions(status: TaskStatus, *, variations: int, undoable: bool) -> list[str]:
    """The actions the daemon accepts for a task now, in the order a reviewer meets them.

    `variations`: images still on disk; `undoable`: a decision waits out its grace
    period (then undo is all there is to do: the decision is already taken).
    """
    if undoable:
        return [UNDO]
    actions: list[str] = []
    if status in APPROVE_FROM and variations:
        actions.append(APPROVE)
    if status in REGENERATE_FROM:
        actions += [REJECT, GENERATE]
    if status in IN_GENERATION:
        actions.append(CANCEL)
    return actions
