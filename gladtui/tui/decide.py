"""The keys that act on tasks: approve, reject, more, cancel, undo. A mixin of ReviewScreen.

What a task allows comes from the daemon (`actions` in its JSON): a key the
task does not allow says so, and which keys it does allow, without asking
the daemon or restating its rules. After a decision the cursor moves on to
the next task awaiting review at once, like a culling tool; `u` takes the
decision back during `publishing.grace_seconds`, and the cursor goes back to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import work

from gladtui.client import ClientError
from gladtui.config import defaults
from gladtui.shapes import GenerateRequest, TaskStatus, TaskSummaryJSON
from gladtui.tui.bindings import bindings
from gladtui.tui.modals import (
    ApproveScreen,
    GenerateChoice,
    GenerateScreen,
    RejectChoice,
    RejectScreen,
)
from gladtui.tui.tasklist import TaskList

if TYPE_CHECKING:
    from textual.screen import Screen

    from gladtui.client import Client
    from gladtui.shapes import StatusJSON
    from gladtui.tui.gallery import Gallery
    from gladtui.tui.pictures import Pictures

    _Base = Screen[None]
else:
    _Base = object

DEFAULT_MAX_MORE = defaults.MAX_VARIATIONS  # until the daemon's status says its own


def refusal(action: str, task: TaskSummaryJSON, drop_dir: str | None) -> str:
    """Why `action` cannot be done on the task now, and what can be done instead."""
    if task["status"] == TaskStatus.INVALID:  # nothing to act on: the file is what needs the work
        name = task["source_file"] or "the task file"
        where = drop_dir or "the drop folder"
        return (
            f"cannot {action} {task['id']}: its task file was refused (the details say why). "
            f"Fix {name} (moved to failed/ in the drop folder) and drop it into {where} again, "
            "or run: gladtui submit FILE.yaml"
        )
    allowed = ", ".join(task["actions"])
    then = f"it allows: {allowed}" if allowed else "nothing can be done to it now"
    return f"cannot {action} {task['id']} now (it is {task['status']}); {then}"


class DecisionKeys(_Base):
    """Needs, from the screen: client, tasks, gallery, pictures, status, confirm, and the
    record of this session's decisions (decided, chosen, reselect)."""

    if TYPE_CHECKING:
        client: Client
        confirm: bool
        decided: list[str]
        chosen: dict[str, int]
        reselect: tuple[str, int] | None
        publish_to: str  # where the image and the post go, in words, one line each
        pictures: Pictures
        status: StatusJSON | None
        tasks: TaskList
        gallery: Gallery

        def _highlighted(self, message: TaskList.Highlighted) -> None: ...  # review.py
        def approve_note(self, index: int) -> str: ...  # viewkeys.py: which one, in a compare
        def close_large_view(self) -> None: ...

    DECISION_BINDINGS = bindings("decide")

    # -- approve ------------------------------------------------------------------------

    def action_approve(self, dialog: bool = False) -> None:
        task = self._allowing("approve")
        if task is None:
            return
        variation = self.gallery.current
        if variation is None or self.gallery.task_id != task["id"]:
            self.notify("its variations are not shown yet", severity="warning")
            return
        index = variation["index"]

        def send(confirmed: bool | None = True) -> None:
            if confirmed:
                self.close_large_view()  # approved from there: on to the next task
                self.chosen[task["id"]] = index  # an undo shows this variation again
                self._decide(task["id"], f"approve variation {index}", self.client.approve, index)

        # A missing file gets the dialog in any case: it says why it cannot be approved.
        if self.confirm or dialog or variation.get("missing"):
            picture = self.pictures.get(task["id"], variation)
            note = self.approve_note(index)
            screen = ApproveScreen(task, variation, picture, self.publish_to, note=note)
            self.app.push_screen(screen, send)
        else:
            send()

    # -- reject -------------------------------------------------------------------------

    def action_reject(self, dialog: bool = False) -> None:
        task = self._allowing("reject")
        if task is None:
            return

        def send(choice: RejectChoice | None) -> None:
            if choice is None:
                return
            call: Callable[[str], Any] = lambda task_id: self.client.reject(  # noqa: E731
                task_id,
                choice.prompt,
                choice.keep_files,
                again=choice.again,
                reasons=choice.reasons,
            )
            self._decide(task["id"], "reject", call)

        if self.confirm or dialog:
            reasons = self.status.get("reject_reasons", []) if self.status else []
            self.app.push_screen(RejectScreen(task, reasons), send)
        else:
            send(RejectChoice(keep_files=False, prompt=None))

    # -- undo ---------------------------------------------------------------------------

    def action_undo(self) -> None:
        """The cursor's task if it can be undone, else the last decision made here."""
        current = self.tasks.current
        if current is not None and "undo" in current["actions"]:
            target = current["id"]
        elif self.decided:
            target = self.decided[-1]
        else:
            self.notify("nothing to undo", severity="warning")
            return
        self._undo(target)

    @work(thread=True, group="actions")
    def _undo(self, task_id: str) -> None:
        try:
            answer = self.client.undo(task_id)
        except ClientError as exc:
            self.app.call_from_thread(self._refused, "undo", str(exc))
            return
        self.app.call_from_thread(self._undone, task_id, answer["message"])

    def _undone(self, task_id: str, message: str) -> None:
        if task_id in self.decided:
            self.decided.remove(task_id)
        if task_id in self.chosen:  # back on the variation the reviewer had approved
            self.reselect = (task_id, self.chosen.pop(task_id))
        position = self.tasks.window.position_of(task_id)
        if position is not None:
            self.tasks.cursor = position
        self.notify(message, title="undo")

    # -- more variations, cancel --------------------------------------------------------

    def action_generate(self) -> None:
        task = self._allowing("generate")
        if task is None:
            return

        def send(choice: GenerateChoice | None) -> None:
            if choice is not None:
                asked = GenerateRequest(count=choice.count, prompt=choice.prompt)
                self._act("generate", lambda: self.client.generate(task["id"], asked))

        limit = self.status["limits"]["max_variations"] if self.status else DEFAULT_MAX_MORE
        self.app.push_screen(GenerateScreen(task, limit), send)

    def action_cancel(self) -> None:
        task = self._allowing("cancel")
        if task is not None:
            self._act("cancel", lambda: self.client.cancel(task["id"]))

    # -- shared -------------------------------------------------------------------------

    def _allowing(self, action: str) -> TaskSummaryJSON | None:
        """The cursor's task if the daemon allows `action` on it now; else say why not."""
        task = self.tasks.current
        if task is None:
            self.notify("no task under the cursor", severity="warning")
            return None
        if action not in task["actions"]:
            drop_dir = self.status["drop_dir"] if self.status else None
            self.notify(refusal(action, task, drop_dir), severity="warning", timeout=10)
            return None
        return task

    def _decide(self, task_id: str, verb: str, call: Callable[..., Any], *args: Any) -> None:
        """Send a decision and move on to the next task awaiting review at once."""
        self.decided.append(task_id)
        self._advance_from(task_id)
        # The next task's details and pictures now, in the frame that moves the cursor:
        # the list's own message would come after a frame of the cursor alone (its
        # second announcement then finds them shown already).
        self._highlighted(TaskList.Highlighted(self.tasks.current))
        # Sent once the next task is painted: the request's thread would compete
        # with that frame for the interpreter, and a few ms later change nothing.
        self.call_after_refresh(self._send_decision, task_id, verb, lambda: call(task_id, *args))

    @work(thread=True, group="actions")
    def _send_decision(self, task_id: str, verb: str, call: Callable[[], Any]) -> None:
        """No note when it succeeds: the row's countdown says so, and the reviewer is
        already on the next task (a toast costs a layout of the screen)."""
        try:
            call()
        except ClientError as exc:
            self.app.call_from_thread(self._not_decided, task_id, verb, str(exc))

    def _not_decided(self, task_id: str, verb: str, message: str) -> None:
        if task_id in self.decided:
            self.decided.remove(task_id)
        self._refused(verb, message)

    def _advance_from(self, task_id: str) -> None:
        """The cursor to the next task awaiting review after `task_id` (else before it)."""
        window = self.tasks.window
        start = window.position_of(task_id)
        if start is None:
            return
        after = range(start + 1, len(window))
        before = range(start - 1, -1, -1)
        for position in (*after, *before):
            row = window.get(position)
            if row is not None and row["status"] == TaskStatus.REVIEW and row["id"] != task_id:
                self.tasks.cursor = position
                return

    @work(thread=True, group="actions")
    def _act(self, verb: str, call: Callable[[], Any]) -> None:
        """Send an action; its effect arrives through the event stream, not from here."""
        try:
            answer = call()
        except ClientError as exc:
            self.app.call_from_thread(self._refused, verb, str(exc))
            return
        self.app.call_from_thread(self.notify, answer["message"], title=verb)

    def _refused(self, verb: str, message: str) -> None:
        self.notify(message, title=f"{verb} refused", severity="error", timeout=10)
