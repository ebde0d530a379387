"""The task list widget: its cursor stays on the task the reviewer looks at."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from gladtui.shapes import TaskPageJSON, TaskSummaryJSON
from gladtui.tui.tasklist import TaskList
from gladtui.tui.taskwindow import ListQuery
from tests.gladtui.tui.test_taskwindow import newest_first, page


class ListOnly(App[None]):
    """The list alone, over pages read from `source` as the daemon would answer them."""

    def __init__(self, source: list[TaskSummaryJSON]) -> None:
        super().__init__()
        self.source = source
        self.pages_read = 0
        self.tasks = TaskList(self.read, statuses=["review"])

    def read(self, query: ListQuery, limit: int, offset: int) -> TaskPageJSON:
        self.pages_read += 1
        return page(self.source, offset, limit)

    def compose(self) -> ComposeResult:
        yield self.tasks


async def settled(app: ListOnly, pages: int) -> None:
    for _ in range(500):
        if app.pages_read >= pages and not app.tasks._asked:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{pages} page(s) not read and stored: {app.pages_read} read")


async def test_a_page_read_after_a_task_left_above_keeps_the_cursor_on_its_task() -> None:
    """The daemon's list lost a task above the cursor before its event came: a page read
    meanwhile shifts every row below it up by one, and the cursor must follow its own."""
    source = newest_first(range(300))  # position p holds t(299 - p)
    app = ListOnly(source)
    async with app.run_test(size=(80, 24)) as pilot:
        app.tasks.reload()
        await settled(app, 1)
        await pilot.pause()  # the list is laid out at its new length: it can scroll
        assert app.tasks.window.get(99) is not None and app.tasks.window.get(100) is None
        del source[10]  # approved in the daemon: it left the Review filter, no event yet
        app.tasks.cursor = 90  # near the end of what is held: the next page is read
        looked_at = app.tasks.current
        assert looked_at is not None and looked_at["id"] == "t209"
        await settled(app, 2)
        await pilot.pause()
        current = app.tasks.current
        assert current is not None and current["id"] == "t209", current
        assert app.tasks.cursor == 89
        # What is drawn is what the keys act on: the cursor's row on screen is t209's.
        row = app.tasks.cursor - app.tasks.scroll_offset.y
        assert 0 <= row < app.tasks.size.height
        assert "Task 209" in app.tasks.render_line(row).text
