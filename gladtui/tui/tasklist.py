"""The task list: a virtual, keyboard-driven list over the daemon's paged API.

Only the rows on screen are drawn (Textual's line API) and only the pages
around them are fetched, so 100,000 tasks cost what 30 do. Moving the cursor
repaints two lines. Events from the daemon update rows in place (`apply`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from gladtui.client import ClientError, DaemonUnreachable
from gladtui.shapes import ProgressJSON, TaskPageJSON, TaskSummaryJSON
from gladtui.tui.bindings import bindings
from gladtui.tui.rows import header_segments, placeholder_segments, row_segments
from gladtui.tui.taskwindow import Applied, Change, ListQuery, PageRequest, TaskWindow

PageLoader = Callable[[ListQuery, int, int], TaskPageJSON]
Clock = Callable[[], datetime]

MIN_PAGE = 100
AGE_REFRESH = 10.0  # seconds between redraws of the ages
COUNTDOWN_REFRESH = 1.0  # seconds between redraws of undo countdowns on screen
SCROLLBAR = 1  # the list's vertical scrollbar, which the header does not have


@dataclass(frozen=True, slots=True)
class _PaintFacts:
    """What every line of one repaint shares."""

    top: int  # the first row on screen
    width: int
    base: Style
    cursor: Style  # the cursor row's, over `base`
    now: datetime


def aware_now() -> datetime:
    """Now, time-zone aware (UTC): the TUI compares it with the API's ISO times.
    Not the store's utc_now, which is naive UTC, the form its columns hold."""
    return datetime.now(UTC)


class TaskList(ScrollView, can_focus=True):
    """Rows of tasks; the cursor's task is announced with `TaskList.Highlighted`."""

    BINDINGS = bindings("list")
    COMPONENT_CLASSES = {"tasklist--cursor", "tasklist--empty"}

    cursor: reactive[int] = reactive(0, repaint=False, init=False)

    class Highlighted(Message):
        """The cursor is on `task` (None: the list is empty or the row not loaded yet)."""

        def __init__(self, task: TaskSummaryJSON | None) -> None:
            super().__init__()
            self.task = task

    class Loaded(Message):
        """A page arrived: `total` tasks match the filter."""

        def __init__(self, total: int) -> None:
            super().__init__()
            self.total = total

    class LoadFailed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(
        self,
        loader: PageLoader,
        *,
        clock: Clock = aware_now,
        statuses: Collection[str] | None = None,
        undoable: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.loader = loader
        self.clock = clock
        self.window = TaskWindow(statuses, undoable=undoable)
        self.empty_text = "no tasks"
        self._asked: set[tuple[int, int]] = set()  # (offset, version) in flight
        self._announced: TaskSummaryJSON | None = None
        # No page is read before the event stream is up (`reload`): a page read
        # earlier could miss a change made before the stream started.
        self.active = False
        self._painting: _PaintFacts | None = None  # during render_lines only

    def on_mount(self) -> None:
        # Ages ("5m") and undo countdowns are drawn from the clock: redraw so they move.
        self.set_interval(AGE_REFRESH, self.refresh)
        self.set_interval(COUNTDOWN_REFRESH, self._refresh_countdowns)

    def _refresh_countdowns(self) -> None:
        top = self.scroll_offset.y
        shown = (self.window.get(p) for p in range(top, top + self.size.height))
        if any(task is not None and task.get("undo_until") for task in shown):
            self.refresh()

    # -- what the screen calls --------------------------------------------------------

    @property
    def current(self) -> TaskSummaryJSON | None:
        return self.window.get(self.cursor)

    def set_filter(
        self, statuses: Collection[str] | None, query: str, *, undoable: bool = False
    ) -> None:
        """Show another filter; its rows are fetched from the top."""
        self.window.reset(statuses, query, undoable=undoable)
        self._asked.clear()
        self.set_reactive(TaskList.cursor, 0)
        self.scroll_to(y=0, animate=False)
        self._resize()
        self.load_visible()

    def reload(self) -> None:
        """Forget every row (the stream started or resynced) and fetch what is shown."""
        self.active = True
        window = self.window
        self.set_filter(window.statuses, window.query, undoable=window.undoable)

    def apply(self, task: TaskSummaryJSON) -> Applied:
        """One task as it is now (from an event): its row changes, appears or goes."""
        cursor_task = self.current
        applied = self.window.apply(task)
        if applied.change is Change.NONE:
            return applied
        if applied.change is Change.UPDATED:
            assert applied.position is not None
            self.refresh_line(applied.position)
        else:
            self._keep_cursor_on(cursor_task, applied)
            self._resize()
            self.refresh()
            self.load_visible()
        self._announce()
        return applied

    def set_progress(self, task_id: str, progress: ProgressJSON) -> None:
        position = self.window.update_progress(task_id, progress)
        if position is not None:
            self.refresh_line(position)

    # -- drawing ----------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        """One look at the styles and the geometry for every line of a repaint.

        `rich_style` walks every ancestor's background: asked once per line it was
        half of the list's repaint (bench/review.py under cProfile), and a decision
        repaints every row below the one that left.
        """
        self._painting = self._paint_facts()
        try:
            return super().render_lines(crop)
        finally:
            self._painting = None

    def _paint_facts(self) -> _PaintFacts:
        base = self.rich_style
        return _PaintFacts(
            top=self.scroll_offset.y,
            width=self.scrollable_content_region.width,
            base=base,
            cursor=base + self.get_component_rich_style("tasklist--cursor"),
            now=self.clock(),
        )

    def render_line(self, y: int) -> Strip:
        facts = self._painting or self._paint_facts()
        position, width, base = facts.top + y, facts.width, facts.base
        if position >= len(self.window):
            if position == 0 and self.window.loaded:
                style = base + self.get_component_rich_style("tasklist--empty")
                return Strip([Segment(f"  {self.empty_text}")]).apply_style(style)
            return Strip.blank(width, base)
        task = self.window.get(position)
        if position == self.cursor:
            # Under the row's own colours, so a status keeps its colour on the cursor.
            base = facts.cursor
        if task is None:
            segments = placeholder_segments(width)
        else:
            tell_apart = self.window.tell_apart(task)
            segments = row_segments(task, width, facts.now, tell_apart=tell_apart)
        return Strip(segments).apply_style(base).adjust_cell_length(width, base)

    # -- keys -------------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(self.scrollable_content_region.height - 1, 1))

    def action_jump(self, position: int) -> None:
        self._move_to(position if position >= 0 else len(self.window) - 1)

    def _move_to(self, position: int) -> None:
        if len(self.window):
            self.cursor = min(max(position, 0), len(self.window) - 1)

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh_line(old)
        self.refresh_line(new)
        self.scroll_to_region(Region(0, new, 1, 1), animate=False, immediate=True)
        self.load_visible()
        self._announce()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.load_visible()

    def on_resize(self) -> None:
        self._resize()
        self.load_visible()

    # -- pages ------------------------------------------------------------------------

    def load_visible(self) -> None:
        """Fetch the first page this screen needs and does not have (one at a time)."""
        if not self.active:
            return
        height = max(self.scrollable_content_region.height, 1)
        top = self.scroll_offset.y
        page = max(MIN_PAGE, height * 3)
        request = self.window.missing(max(top - height, 0), top + 2 * height, page)
        if request is None:
            return
        # Centre the page on what is shown, so scrolling either way finds rows.
        if self.window.loaded and request.offset > 0:
            request = PageRequest(max(request.offset - page // 3, 0), page, request.version)
        key = (request.offset, request.version)
        if key in self._asked:
            return
        self._asked.add(key)
        self._fetch(request)

    @work(thread=True, group="pages")
    def _fetch(self, request: PageRequest) -> None:
        try:
            answer = self.loader(self.window.list_query, request.limit, request.offset)
        except DaemonUnreachable:  # the no-daemon screen says so; the stream reloads later
            self.app.call_from_thread(self._failed, request, None)
            return
        except ClientError as exc:
            self.app.call_from_thread(self._failed, request, str(exc))
            return
        self.app.call_from_thread(self._arrived, request, answer)

    def _arrived(self, request: PageRequest, answer: TaskPageJSON) -> None:
        self._asked.discard((request.offset, request.version))
        looked_at = self.current
        if not self.window.fill(request, answer, keep_near=self.cursor):
            self.load_visible()  # the list moved while this page was on its way
            return
        # A page read after a task left or came above the cursor, before its event: the
        # rows shifted under the cursor, which stays on the task the reviewer looks at.
        if not self._stay_on(looked_at) and self.cursor >= len(self.window):
            self.set_reactive(TaskList.cursor, max(len(self.window) - 1, 0))
        self._resize()
        self.refresh()
        self.post_message(self.Loaded(len(self.window)))
        self._announce()
        self.load_visible()

    def _failed(self, request: PageRequest, error: str | None) -> None:
        self._asked.discard((request.offset, request.version))
        if error is not None:
            self.post_message(self.LoadFailed(error))

    # -- helpers ----------------------------------------------------------------------

    def _resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.window))

    def _keep_cursor_on(self, task: TaskSummaryJSON | None, applied: Applied) -> None:
        """A row came or went above the cursor: the cursor stays on its task."""
        if self._stay_on(task):
            return
        if applied.change is Change.REMOVED and applied.position is not None:
            stay = min(applied.position, max(len(self.window) - 1, 0))
            self.set_reactive(TaskList.cursor, stay)

    def _stay_on(self, task: TaskSummaryJSON | None) -> bool:
        """The cursor to `task`'s row, wherever it is now; False when no row holds it."""
        position = None if task is None else self.window.position_of(task["id"])
        if position is None:
            return False
        if position != self.cursor:
            self.set_reactive(TaskList.cursor, position)
            self.scroll_to_region(Region(0, position, 1, 1), animate=False, immediate=True)
        return True

    def _announce(self) -> None:
        """Tell the screen when the cursor's task, or what is known of it, changed.

        The cursor's task is the one the list keeps (TaskWindow.keep): the task
        kept before leaves now if it no longer belongs.
        """
        task = self.current
        if task is not None and task["id"] != self.window.keep:
            applied = self.window.set_keep(task["id"])
            if applied.change is Change.REMOVED:
                self._keep_cursor_on(task, applied)
                self._resize()
                self.refresh()
                self.load_visible()
                task = self.current
        if task is not self._announced:
            self._announced = task
            self.post_message(self.Highlighted(task))


class TaskListHeader(Widget):
    """The column titles, aligned with the rows of the TaskList below it."""

    DEFAULT_CSS = "TaskListHeader { height: 1; }"

    def render_line(self, y: int) -> Strip:
        width = max(self.size.width - SCROLLBAR, 1)
        return Strip(header_segments(width)).adjust_cell_length(self.size.width)
