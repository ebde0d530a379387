"""What the review screen fetches in thread workers. A mixin of ReviewScreen.

The list's pages (for the task list's own worker); the task under the
cursor in full, then its pictures, each drawn as it arrives; the live
previews of a generation; the next tasks awaiting review and their
pictures, fetched ahead (`Lookahead`), so after a decision the next task
shows at once (the large view fetches its full-size pictures itself). An
answer is put on screen from the UI thread, and only where it still belongs
(the cursor may have moved on, the app may be closing).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import work
from textual.worker import get_current_worker

from gladtui.client import ClientError
from gladtui.shapes import TaskStatus
from gladtui.tui.gallery import showable
from gladtui.tui.livepreviews import fetch_previews

if TYPE_CHECKING:
    from textual.screen import Screen

    from gladtui.client import Client
    from gladtui.shapes import TaskJSON, TaskPageJSON, TaskSummaryJSON
    from gladtui.tui.gallery import Gallery
    from gladtui.tui.livepreviews import PreviewTracker
    from gladtui.tui.lookahead import Lookahead
    from gladtui.tui.pictures import Pictures
    from gladtui.tui.tasklist import TaskList
    from gladtui.tui.taskwindow import ListQuery

    _Base = Screen[None]
else:
    _Base = object

LOOKAHEAD = 2  # tasks awaiting review, after the cursor, fetched ahead
NO_IMAGES = {
    TaskStatus.INVALID: "No images: the task file was refused (below).",
    TaskStatus.FAILED: "No images: generation failed (below).",
    TaskStatus.QUEUED: "Waiting for the generator.",
    TaskStatus.GENERATING: "Generating…",
}


class FetchWorkers(_Base):
    """Needs, from the screen: client, tasks, gallery, pictures, ahead (the tasks fetched
    ahead), full (the cursor's task in full), reselect, and _show_detail."""

    if TYPE_CHECKING:
        client: Client
        tasks: TaskList
        gallery: Gallery
        pictures: Pictures
        ahead: Lookahead
        full: TaskJSON | None
        reselect: tuple[str, int] | None  # after an undo: select that variation again
        preview_tracker: PreviewTracker

        def _show_detail(self, task: TaskSummaryJSON | TaskJSON | None) -> None: ...

    def _showing(self) -> bool:
        """False once the app is closing: a worker's late answer has nowhere to go."""
        return self.is_mounted and self.tasks.is_mounted

    def _load_page(self, query: ListQuery, limit: int, offset: int) -> TaskPageJSON:
        """A page of the list (the task list calls it in its own worker)."""
        statuses = sorted(query.statuses) if query.statuses else None
        return self.client.tasks(
            statuses, query.query, limit, offset, undoable=query.undoable, keep=query.keep
        )

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
        if not self._showing():
            return
        current = self.tasks.current
        if current is None or current["id"] != task["id"]:
            return  # the cursor moved on
        self.full = task
        self._show_detail(task)
        shown = showable(task["variations"])  # a missing file's old picture is not shown
        pictures = {v["index"]: self.pictures.get(task["id"], v) for v in shown}
        note = NO_IMAGES.get(task["status"], "")
        self.gallery.show(task["id"], task["variations"], pictures, note)
        if task["status"] == TaskStatus.GENERATING:
            self._previews_now(task)
        else:
            self.gallery.show_previews(task["id"], {})  # cancelled or failed: none to come
        if self.reselect is not None and self.reselect[0] == task["id"]:
            self.gallery.select(self.reselect[1])  # after an undo: the variation approved
            self.reselect = None
        # From the same look as what was drawn: a picture the look-ahead stores between
        # that look and this line would otherwise be neither drawn nor fetched.
        if any(picture is None for picture in pictures.values()):
            self._fetch_pictures(task)
        self.call_after_refresh(self._look_ahead)  # after this task is painted

    @work(thread=True, exclusive=True, group="pictures")
    def _fetch_pictures(self, task: TaskJSON) -> None:
        """The cursor's pictures, each put on screen as it arrives."""
        worker = get_current_worker()
        for variation in showable(task["variations"]):
            if worker.is_cancelled:
                return
            picture = self.pictures.fetch(task["id"], variation)
            self.app.call_from_thread(
                self.gallery.picture_arrived, task["id"], variation["index"], picture
            )

    def _previews_now(self, task: TaskJSON) -> None:
        """A generation's latest previews as its gallery is shown. The progress events
        that announced them may all have come while the cursor was on another task,
        and none may come for a while (a slow step; CI saw a test wait 60 s)."""
        progress = task["progress"]
        if progress is not None:
            wanted = self.preview_tracker.wanted(task["id"], progress)
            if wanted:
                self._fetch_previews(task["id"], wanted)

    @work(thread=True, exclusive=True, group="previews")
    def _fetch_previews(self, task_id: str, indexes: list[int]) -> None:
        shots = fetch_previews(self.client, task_id, indexes)
        if shots and not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.gallery.show_previews, task_id, shots)

    def _look_ahead(self) -> None:
        """Fetch the next tasks awaiting review, and their pictures, before they are shown."""
        cursor = self.tasks.cursor
        window = self.tasks.window
        wanted = []
        for position in range(cursor + 1, min(cursor + 20, len(window))):
            task = window.get(position)
            if task is not None and task["status"] == TaskStatus.REVIEW:
                wanted.append(task["id"])
            if len(wanted) == LOOKAHEAD:
                break
        wanted = [task_id for task_id in wanted if self.ahead.get(task_id) is None]
        if wanted:
            self._fetch_ahead(wanted)

    @work(thread=True, exclusive=True, group="ahead")
    def _fetch_ahead(self, task_ids: list[str]) -> None:
        worker = get_current_worker()
        for task_id in task_ids:
            if worker.is_cancelled:
                return
            try:
                task = self.client.task(task_id)
            except ClientError:
                continue
            for variation in showable(task["variations"]):
                self.pictures.fetch(task_id, variation)
            self.ahead.put(task)
