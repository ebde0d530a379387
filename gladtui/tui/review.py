"""The review screen: filters, the task list, the gallery and the detail pane.

Every blocking call to the daemon runs in a thread worker; what the daemon
did in answer arrives as an event and updates the screen in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input
from textual.worker import get_current_worker

from gladtui.client import Client, ClientError, StreamEvent
from gladtui.shapes import StatusJSON, TaskJSON, TaskSummaryJSON
from gladtui.tui.detail import TaskDetail
from gladtui.tui.filters import FILTERS, FilterBar
from gladtui.tui.gallery import Gallery, picture
from gladtui.tui.modals import (
    ApproveScreen,
    GenerateChoice,
    GenerateScreen,
    RejectChoice,
    RejectScreen,
)
from gladtui.tui.screens import ImageScreen
from gladtui.tui.tasklist import Clock, TaskList

DETAIL_DELAY = 0.06  # s: while the cursor races down the list, fetch only where it stops
COUNTS_DELAY = 0.3  # s: recount at most this often while events pour in
SEARCH_DELAY = 0.15  # s: search once typing pauses

NO_IMAGES = {
    "invalid": "No images: the task file was refused (below).",
    "failed": "No images: generation failed (below).",
    "queued": "Waiting for the generator.",
    "generating": "Generating…",
}
REVIEWABLE = ("review", "failed", "rejected")  # where reject and generate apply
CANCELLABLE = ("queued", "generating")


class ReviewScreen(Screen[None]):
    BINDINGS = [
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("g", "generate", "More"),
        Binding("c", "cancel", "Cancel"),
        Binding("f", "filter(1)", "Filter"),
        Binding("F", "filter(-1)", "Filter back", show=False),
        # priority, like enter below: "/" and the text typed after it in one burst
        # (a paste, a fast typist) must reach the search box, not the list.
        Binding("slash", "search", "Search", priority=True),
        Binding("left", "variation(-1)", "Prev image", show=False),
        Binding("right", "variation(1)", "Next image", show=False),
        # priority: handled as the key arrives. Left to the search box, Enter
        # would be queued there, and a key typed right after it would land in
        # the box too instead of acting on the list.
        Binding("enter", "enter", "View", show=False, priority=True),
        *(Binding(str(n), f"pick({n})", f"Variation {n}", show=False) for n in range(1, 10)),
    ]

    def __init__(self, client: Client, clock: Clock) -> None:
        super().__init__()
        self.client = client
        self.clock = clock
        self.filter = FILTERS[0]
        self.counts: dict[str, int] | None = None
        self.destination = "the configured publisher"
        self.full: TaskJSON | None = None  # the cursor's task with its variations
        self._counts_timer: Timer | None = None
        self._search_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield FilterBar(id="filters")
        yield Input(placeholder="search titles", id="search", classes="-hidden")
        with Horizontal(id="main"):
            yield TaskList(self._load_page, clock=self.clock, statuses=self.filter.statuses)
            with Vertical(id="side"):
                yield Gallery(id="gallery")
                with VerticalScroll(id="detail-scroll"):
                    yield TaskDetail(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.tasks.empty_text = "connecting to the daemon…"
        self._show_filter()
        self.tasks.focus()

    @property
    def tasks(self) -> TaskList:
        return self.query_one(TaskList)

    @property
    def gallery(self) -> Gallery:
        return self.query_one(Gallery)

    def _load_page(self, statuses: Any, query: str, limit: int, offset: int) -> Any:
        return self.client.tasks(list(statuses) if statuses else None, query, limit, offset)

    # -- the daemon's side: connection and events ---------------------------------------

    def stream_live(self, resumed: bool) -> None:
        """The stream is up: reload unless it resumed where it stopped."""
        self.tasks.empty_text = "no tasks here"
        if not resumed:
            self.tasks.reload()
        self._fetch_status()

    def stream_event(self, event: StreamEvent) -> None:
        if event.kind == "progress":
            task_id = event.data.get("task_id")
            if isinstance(task_id, str):
                progress: Any = {
                    k: event.data[k] for k in ("step", "steps", "images_done", "images_total")
                }
                self.tasks.set_progress(task_id, progress)
                if self.full is not None and self.full["id"] == task_id:
                    self._show_detail({**self.full, "progress": progress})
            return
        task = event.data.get("task")
        if isinstance(task, dict):
            self.tasks.apply(task)  # type: ignore[arg-type]
            if self.full is not None and task["id"] == self.full["id"]:
                self._fetch_detail(task["id"], delay=0)  # new images, status or error
        self._recount_soon()

    # -- the list and the detail ---------------------------------------------------------

    @on(TaskList.Highlighted)
    def _highlighted(self, message: TaskList.Highlighted) -> None:
        task = message.task
        if task is None:
            self.full = None
            self._show_detail(None)
            self.gallery.show(None, [])
            return
        if self.full is None or self.full["id"] != task["id"]:
            self.full = None
            self._show_detail(task)
            self.gallery.hide_stale()
            self._fetch_detail(task["id"], delay=DETAIL_DELAY)
        else:
            self._show_detail({**self.full, **task})

    @on(TaskList.LoadFailed)
    def _load_failed(self, message: TaskList.LoadFailed) -> None:
        self.notify(message.error, title="Could not read the task list", severity="error")

    @work(thread=True, exclusive=True, group="detail")
    def _fetch_detail(self, task_id: str, delay: float) -> None:
        if delay:
            time.sleep(delay)
        if get_current_worker().is_cancelled:
            return
        try:
            task = self.client.task(task_id)
        except ClientError:
            return  # gone, or the daemon is: the list and the stream say so
        self.app.call_from_thread(self._detail_arrived, task)

    def _detail_arrived(self, task: TaskJSON) -> None:
        current = self.tasks.current
        if current is None or current["id"] != task["id"]:
            return  # the cursor moved on
        self.full = task
        self._show_detail(task)
        self.gallery.show(task["id"], task["variations"], note=NO_IMAGES.get(task["status"], ""))

    def _show_detail(self, task: TaskSummaryJSON | TaskJSON | None) -> None:
        self.query_one(TaskDetail).show(task)

    # -- filters, search and counts -------------------------------------------------------

    def action_filter(self, step: int) -> None:
        at = FILTERS.index(self.filter)
        self.filter = FILTERS[(at + step) % len(FILTERS)]
        self._apply_filter()

    def _apply_filter(self) -> None:
        self.tasks.set_filter(self.filter.statuses, self._query())
        self._show_filter()

    def _show_filter(self) -> None:
        self.query_one(FilterBar).show(self.filter, self.counts, self._query())

    def _query(self) -> str:
        return self.query_one("#search", Input).value.strip()

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_focus:  # a "/" typed in the search is text (the binding took it)
            search.insert_text_at_cursor("/")
            return
        search.remove_class("-hidden")
        # set_focus, not focus(): focus() waits for the message queue, and keys
        # typed in the same burst as "/" would still reach the list's bindings.
        self.set_focus(search)

    @on(Input.Changed, "#search")
    def _search_changed(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self._apply_filter)

    def key_escape(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_focus:
            search.value = ""  # Esc drops the search; Enter keeps it
            self._apply_filter()
            self._leave_search()

    def _leave_search(self) -> None:
        search = self.query_one("#search", Input)
        search.set_class(not search.value, "-hidden")
        self.set_focus(self.tasks)  # at once, as in action_search

    def _recount_soon(self) -> None:
        if self._counts_timer is None:
            self._counts_timer = self.set_timer(COUNTS_DELAY, self._fetch_status)

    @work(thread=True, exclusive=True, group="status")
    def _fetch_status(self) -> None:
        try:
            status = self.client.status()
        except ClientError:
            return
        self.app.call_from_thread(self._status_arrived, status)

    def _status_arrived(self, status: StatusJSON) -> None:
        self._counts_timer = None
        self.counts = status["tasks"]
        self.destination = status["publishing"]["destination"]
        self._show_filter()

    # -- variations ------------------------------------------------------------------------

    def action_pick(self, index: int) -> None:
        if not self.gallery.select(index):
            have = ", ".join(str(v["index"]) for v in self.gallery.variations) or "none"
            self.notify(f"no variation {index} here (variations: {have})", severity="warning")

    def action_variation(self, delta: int) -> None:
        self.gallery.step(delta)

    def action_enter(self) -> None:
        """Enter keeps the search (applied now) and returns to the list, or enlarges."""
        if self.query_one("#search", Input).has_focus:
            if self._search_timer is not None:
                self._search_timer.stop()
            self._apply_filter()
            self._leave_search()
        else:
            self.action_enlarge()

    def action_enlarge(self) -> None:
        variation = self.gallery.current
        path = picture(variation, large=True) if variation else None
        if variation is None or path is None:
            self.notify("no image to show", severity="warning")
            return
        caption = f"{self.full['title'] if self.full else ''} · variation {variation['index']}"
        self.app.push_screen(ImageScreen(path, caption + "   Esc: back"))

    # -- actions -------------------------------------------------------------------------

    def action_approve(self) -> None:
        task, variation = self.tasks.current, self.gallery.selected
        if not self._allowed(task, ("review",), "only a task awaiting review can be approved"):
            return
        assert task is not None
        if variation is None:
            self.notify("no variation to approve yet", severity="warning")
            return

        def send(confirmed: bool | None) -> None:
            if confirmed:
                self._act("approve", lambda: self.client.approve(task["id"], variation))

        self.app.push_screen(ApproveScreen(task, variation, self.destination), send)

    def action_reject(self) -> None:
        task = self.tasks.current
        if not self._allowed(
            task, REVIEWABLE, "only a task in review, failed or rejected can be rejected"
        ):
            return
        assert task is not None

        def send(choice: RejectChoice | None) -> None:
            if choice is not None:
                call = lambda: self.client.reject(task["id"], choice.prompt, choice.keep_files)  # noqa: E731
                self._act("reject", call)

        self.app.push_screen(RejectScreen(task), send)

    def action_generate(self) -> None:
        task = self.tasks.current
        if not self._allowed(
            task, REVIEWABLE, "more variations are for tasks in review, failed or rejected"
        ):
            return
        assert task is not None

        def send(choice: GenerateChoice | None) -> None:
            if choice is not None:
                self._act(
                    "generate",
                    lambda: self.client.generate(task["id"], choice.count, choice.prompt),
                )

        self.app.push_screen(GenerateScreen(task), send)

    def action_cancel(self) -> None:
        task = self.tasks.current
        if self._allowed(task, CANCELLABLE, "only a queued or generating task can be cancelled"):
            assert task is not None
            self._act("cancel", lambda: self.client.cancel(task["id"]))

    def _allowed(self, task: TaskSummaryJSON | None, statuses: tuple[str, ...], rule: str) -> bool:
        """Say why not, before asking anything, when the action cannot apply."""
        if task is None:
            self.notify("no task under the cursor", severity="warning")
            return False
        if task["status"] not in statuses:
            self.notify(f"{rule}; this one is {task['status']}", severity="warning")
            return False
        return True

    @work(thread=True, group="actions")
    def _act(self, verb: str, call: Callable[[], Any]) -> None:
        """Send an action; its effect arrives through the event stream, not from here."""
        try:
            answer = call()
        except ClientError as exc:
            self.app.call_from_thread(
                self.notify, str(exc), title=f"{verb} refused", severity="error", timeout=10
            )
            return
        self.app.call_from_thread(self.notify, answer["message"], title=verb)
