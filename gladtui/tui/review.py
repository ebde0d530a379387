"""The review screen: filters, the task list, the gallery and the detail pane.

Every blocking call to the daemon runs in a thread worker; what the daemon
did in answer arrives as an event and updates the screen in place. The
keys that act on tasks are in decide.py, those that open the large view
(Enter, z, p) in viewkeys.py; what the screen fetches (the full task, its
pictures, the next tasks ahead) is in fetching.py.
"""

from __future__ import annotations

from dataclasses import replace

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input

from gladtui.client import Client, ClientError
from gladtui.eventstream import ProgressEvent, StoredEvent, StreamEvent
from gladtui.shapes import (
    ProgressEventJSON,
    ProgressJSON,
    StatusJSON,
    TaskJSON,
    TaskStatus,
    TaskSummaryJSON,
    images_to,
)
from gladtui.tui.bindings import bindings
from gladtui.tui.decide import DecisionKeys
from gladtui.tui.detail import TaskDetail
from gladtui.tui.fetching import FetchWorkers
from gladtui.tui.figuresscreen import FiguresScreen
from gladtui.tui.filters import FILTERS, Counts, FilterBar, counts_of, empty_words
from gladtui.tui.gallery import Gallery
from gladtui.tui.keybar import KeyBar
from gladtui.tui.livepreviews import PreviewTracker
from gladtui.tui.lookahead import Lookahead
from gladtui.tui.pictures import Pictures
from gladtui.tui.screens import HelpScreen, help_rows
from gladtui.tui.tasklist import Clock, TaskList, TaskListHeader
from gladtui.tui.viewkeys import ViewKeys

DETAIL_DELAY = 0.06  # s: while the cursor races down the list, fetch only where it stops
COUNTS_DELAY = 0.3  # s: recount at most this often while events pour in
SEARCH_DELAY = 0.15  # s: search once typing pauses


class ReviewScreen(DecisionKeys, ViewKeys, FetchWorkers, Screen[None]):
    BINDINGS = [
        *DecisionKeys.DECISION_BINDINGS,
        *ViewKeys.VIEW_BINDINGS,
        *bindings("review"),
    ]

    def __init__(
        self,
        client: Client,
        clock: Clock,
        *,
        confirm: bool = True,
        quit_note: str = "",
        pictures: Pictures | None = None,
    ) -> None:
        """`pictures`: where thumbnails come from (default: the API, no disk cache)."""
        super().__init__()
        self.client = client
        self.clock = clock
        self.confirm = confirm  # tui.confirm_decisions: a dialog before approve and reject
        self.quit_note = quit_note  # what q does, when it does more than quit (the demo)
        self.filter = FILTERS[0]
        self.counts: Counts | None = None
        self.status: StatusJSON | None = None
        self.publish_to = "image: the configured publisher"  # until the status arrives
        self.full: TaskJSON | None = None  # the cursor's task with its variations
        self.pictures = pictures or Pictures(client)
        self.ahead = Lookahead()
        self.preview_tracker = PreviewTracker()
        self.decided: list[str] = []  # tasks decided here, newest last: what `u` undoes
        self.chosen: dict[str, int] = {}  # the variation approved here, by task
        self.reselect: tuple[str, int] | None = None  # after an undo: select it again
        self.empty_note = ""  # what the gallery says while no task is under the cursor
        self._counts_timer: Timer | None = None
        self._search_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        # The parts are kept as attributes: a worker's answer or a timer may come while
        # the app closes, when a query would find nothing.
        self.filter_bar = FilterBar(id="filters")
        self.search = Input(placeholder="search titles", id="search", classes="-hidden")
        self.tasks = TaskList(
            self._load_page,
            clock=self.clock,
            statuses=self.filter.statuses,
            undoable=self.filter.undoable,
        )
        self.gallery = Gallery(id="gallery")
        self.detail = TaskDetail(id="detail")
        self.detail_scroll = VerticalScroll(self.detail, id="detail-scroll", can_focus=False)
        yield self.filter_bar
        yield self.search
        with Horizontal(id="main"):
            with Vertical(id="list-pane"):
                yield TaskListHeader()
                yield self.tasks
            with Vertical(id="side"):
                yield self.gallery
                yield self.detail_scroll
        yield KeyBar([*map(_binding, self.BINDINGS), *map(_binding, self.app.BINDINGS)])

    def on_mount(self) -> None:
        self.tasks.empty_text = "connecting to the daemon…"
        self._show_filter()
        self.tasks.focus()
        self.set_interval(1.0, self._tick)

    # -- the daemon's side: connection and events ---------------------------------------

    def stream_live(self, resumed: bool) -> None:
        """The stream is up: reload unless it resumed where it stopped."""
        self._show_empty_text()
        if not resumed:
            self.ahead.clear()
            self.tasks.reload()
        self._fetch_status()

    def stream_event(self, event: StreamEvent) -> None:
        if isinstance(event, ProgressEvent):
            self._progressed(event.data)
            return
        # .get: an event of a kind this client does not know may carry no task
        task = event.data.get("task") if isinstance(event, StoredEvent) else None
        if task is not None:
            self.ahead.forget(task["id"])  # what was fetched ahead is stale now
            self.tasks.apply(task)
            if self.full is not None and task["id"] == self.full["id"]:
                self._fetch_detail(task["id"], delay=0)  # new images, status or error
            elif self.full is not None and task["status"] == TaskStatus.PUBLISHED:
                # Another post now holds a slug: the slug this task would get may be
                # another one (-2). Read it again, and what was fetched ahead too.
                self.ahead.clear()
                self._fetch_detail(self.full["id"], delay=0)
        self._recount_soon()

    def _progressed(self, data: ProgressEventJSON) -> None:
        task_id = data["task_id"]
        progress: ProgressJSON = {
            "step": data["step"],
            "steps": data["steps"],
            "images_done": data["images_done"],
            "images_total": data["images_total"],
        }
        self.tasks.set_progress(task_id, progress)
        if task_id == self.gallery.task_id:
            wanted = self.preview_tracker.wanted(task_id, data)
            if wanted:
                self._fetch_previews(task_id, wanted)
        if self.full is not None and self.full["id"] == task_id:
            shown = self.full.copy()
            shown["progress"] = progress
            self._show_detail(shown)

    # -- the list and the detail ---------------------------------------------------------

    @on(TaskList.Highlighted)
    def _highlighted(self, message: TaskList.Highlighted) -> None:
        task = message.task
        if task is None:
            self.full = None
            self._show_detail(None)
            self.gallery.show(None, [], {}, self.empty_note)
            return
        if self.full is not None and self.full["id"] == task["id"]:
            self._show_detail({**self.full, **task})
            return
        fetched = self.ahead.get(task["id"])
        if fetched is not None:  # looked ahead: no wait at all
            self._detail_arrived(fetched)
            return
        self.full = None
        self._show_detail(task)
        self.gallery.hide_stale()
        self._fetch_detail(task["id"], delay=DETAIL_DELAY)

    @on(TaskList.LoadFailed)
    def _load_failed(self, message: TaskList.LoadFailed) -> None:
        self.notify(message.error, title="Could not read the task list", severity="error")

    @on(TaskList.Loaded)
    def _loaded(self) -> None:
        self._look_ahead()

    def _show_detail(self, task: TaskSummaryJSON | TaskJSON | None) -> None:
        self.detail.show(task, self.clock())

    def _tick(self) -> None:
        """Once a second: the detail's undo countdown moves."""
        if self.full is not None and self.full.get("undo_until"):
            current = self.tasks.current
            self._show_detail({**self.full, **current} if current else self.full)

    # -- filters, search and counts -------------------------------------------------------

    def action_filter(self, step: int) -> None:
        at = FILTERS.index(self.filter)
        self.filter = FILTERS[(at + step) % len(FILTERS)]
        self._apply_filter()

    def _apply_filter(self) -> None:
        query = self._query()
        self.tasks.set_filter(self.filter.statuses, query, undoable=self.filter.undoable)
        self._show_filter()
        self._show_empty_text()

    def _show_filter(self) -> None:
        self.filter_bar.show(self.filter, self.counts, self._query())

    def _show_empty_text(self) -> None:
        """An empty list says why, and the gallery beside it what to do (filters.py)."""
        drop_dir = self.status["drop_dir"] if self.status else None
        words = empty_words(self.filter, self.counts, self._query(), drop_dir)
        self.tasks.empty_text, self.empty_note = words.line, words.note
        if self.tasks.current is None:
            self.gallery.show(None, [], {}, self.empty_note)
        self.tasks.refresh()

    def _query(self) -> str:
        return self.search.value.strip()

    def action_search(self) -> None:
        search = self.search
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

    def action_escape(self) -> None:
        """Esc leaves the search or the details; in the list it drops a kept search."""
        search = self.search
        if search.has_focus or (self.tasks.has_focus and search.value):
            search.value = ""
            if self._search_timer is not None:
                self._search_timer.stop()
            self._apply_filter()
            self._leave_search()
        elif not self.tasks.has_focus:
            self._back_to_list()

    def _leave_search(self) -> None:
        search = self.search
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
        if not self._showing():
            return
        self.status = status
        self.counts = counts_of(status)
        publishing = status["publishing"]
        # `destination` is the image's publisher in words (a field named before the word
        # came to mean where posts go; fields are never renamed)
        self.publish_to = (
            f"image: {images_to(publishing)}\npost:  {publishing['posts_destination']}"
        )
        self._show_filter()
        self._show_empty_text()

    # -- variations and the details ------------------------------------------------------

    def action_pick(self, index: int) -> None:
        if not self.gallery.select(index):
            have = ", ".join(str(v["index"]) for v in self.gallery.variations) or "none"
            self.notify(f"no variation {index} here (variations: {have})", severity="warning")

    def action_variation(self, delta: int) -> None:
        self.gallery.step(delta)

    def action_enter(self) -> None:
        """Enter keeps the search (applied now) and returns to the list, or enlarges."""
        if self.search.has_focus:
            if self._search_timer is not None:
                self._search_timer.stop()
            self._apply_filter()
            self._leave_search()
        else:
            self.action_enlarge()

    def action_details(self) -> None:
        """Tab: the details take ↑ ↓; Tab again (or Esc) gives them back to the list."""
        scroll = self.detail_scroll
        if scroll.has_focus:
            self._back_to_list()
            return
        scroll.can_focus = True
        self.set_focus(scroll)
        scroll.border_title = "↑ ↓ scroll · Tab or Esc: back to the list"  # whole at 80x24

    def _back_to_list(self) -> None:
        scroll = self.detail_scroll
        scroll.can_focus = False
        scroll.border_title = None
        self._leave_search()

    def action_scroll_details(self, direction: int) -> None:
        scroll = self.detail_scroll
        scroll.scroll_relative(y=direction * max(scroll.size.height - 1, 1), animate=False)

    def action_figures(self) -> None:
        self.app.push_screen(FiguresScreen(self.client))

    def action_help(self) -> None:
        """The help, from the bindings in force (and what q does here)."""
        app_keys = [
            replace(b, tooltip=self.quit_note) if b.action == "quit" and self.quit_note else b
            for b in map(_binding, self.app.BINDINGS)
        ]
        own = [*map(_binding, TaskList.BINDINGS), *map(_binding, self.BINDINGS)]
        keys = help_rows([*own, *app_keys])
        self.app.push_screen(HelpScreen(keys))


def _binding(binding: object) -> Binding:
    assert isinstance(binding, Binding)  # every binding here is written as a Binding
    return binding
