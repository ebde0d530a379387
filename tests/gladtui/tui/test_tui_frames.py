"""What each frame shows after a decision, and the detail pane's height as it changes.

The review loop is made quick by drawing less (no layout of the screen where
nothing changes size, the next task in the frame that moves the cursor):
these check that nothing shown goes stale for it. Every frame Textual paints
is inspected where the app hands it to the terminal (`App._display`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rich.text import Text

from gladtui.tui.app import ReviewApp
from tests.apidaemon import ApiDaemon
from tests.storedpictures import add_review_task
from tests.tuitools import detail_text, gallery, until

TASKS = ["task-a", "task-b", "task-c", "task-d"]


@pytest.fixture
def stored() -> Iterator[ApiDaemon]:
    """Tasks in review with real pictures, no model; decisions wait out a long grace."""
    daemon = ApiDaemon(None, settings={"publishing": {"grace_seconds": 3600}}).start()
    for task_id in TASKS:  # the list shows the newest first: task-d, task-c, ...
        prompt = "a long prompt " * 40 if task_id == "task-b" else "bread"
        add_review_task(daemon, task_id, (64, 64), 3, prompt=prompt)
    yield daemon
    daemon.cleanup()


def record_frames(app: ReviewApp, seen: list[tuple[str | None, str | None, bool]]) -> None:
    """For every frame painted: the cursor's task, the gallery's, and whether the gallery
    is marked stale (its pictures hidden)."""
    original = app._display

    def display(screen: Any, renderable: Any) -> None:
        original(screen, renderable)
        if renderable is not None and screen is app.review:
            current = app.review.tasks.current
            cursor = current["id"] if current else None
            shown = gallery(app)
            seen.append((cursor, shown.task_id, shown.has_class("-stale")))

    app._display = display  # type: ignore[method-assign]


def ready(app: ReviewApp, task_id: str) -> bool:
    """The gallery shows `task_id` with its pictures, and the look-ahead holds the next."""
    review = app.review
    tasks = review.tasks
    following = tasks.window.get(tasks.cursor + 1)
    return (
        gallery(app).task_id == task_id
        and not gallery(app).has_class("-stale")
        and all(p is not None for p in gallery(app).pictures.values())
        and following is not None
        and review.ahead.get(following["id"]) is not None
    )


async def test_no_frame_shows_the_cursor_on_one_task_and_the_pictures_of_another(
    stored: ApiDaemon,
) -> None:
    """After `a`, the list's cursor and the gallery move in the same frame: a frame of the
    cursor on the next task beside the last task's pictures would invite a key meant
    for the pictures shown (it fails on the code that waited for the list's message)."""
    app = ReviewApp(stored.client, stream_timeout=30.0, confirm=False)
    seen: list[tuple[str | None, str | None, bool]] = []
    record_frames(app, seen)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.review.tasks.current is not None, what="the list")
        for _ in range(2):
            current = app.review.tasks.current
            assert current is not None
            following = app.review.tasks.window.get(app.review.tasks.cursor + 1)
            assert following is not None
            await until(pilot, lambda c=current: ready(app, c["id"]), what="the look-ahead")
            seen.clear()
            await pilot.press("a")
            await until(pilot, lambda f=following: gallery(app).task_id == f["id"], what="next")
            await pilot.pause(0.2)
            assert seen, "no frame was painted"
            mismatched = [f for f in seen if f[0] != f[1] and not f[2]]
            assert mismatched == [], f"frames with the cursor beside another task: {seen}"
            assert app.review.tasks.current == app.review.tasks.window.get(app.review.tasks.cursor)
            assert app.review.full is not None and app.review.full["id"] == following["id"]


def detail_lines(app: ReviewApp) -> int:
    width = app.review.detail.size.width
    return len(Text(detail_text(app)).wrap(app.console, width))


async def test_the_detail_pane_grows_and_shrinks_with_its_text(stored: ApiDaemon) -> None:
    """The pane is laid out again when its text has more or fewer lines (and only then):
    a long prompt is shown whole, and a short one after it leaves no blank lines."""
    app = ReviewApp(stored.client, stream_timeout=30.0)
    async with app.run_test(size=(80, 30)) as pilot:
        await until(pilot, lambda: app.review.full is not None, what="the first task")
        heights = []
        for _ in range(4):  # task-d, task-c, task-b (long), task-a
            shown = app.review.full
            assert shown is not None
            await until(
                pilot,
                lambda: app.review.detail.size.height == detail_lines(app),
                what=f"the detail of {shown['id']} at its height",
            )
            heights.append((shown["id"], app.review.detail.size.height))
            if shown["id"] == "task-a":
                break
            await pilot.press("down")
            await until(
                pilot,
                lambda s=shown: app.review.full is not None and app.review.full["id"] != s["id"],
                what="the next task",
            )
        by_task = dict(heights)
        assert list(by_task) == ["task-d", "task-c", "task-b", "task-a"]
        assert by_task["task-b"] > by_task["task-c"] + 5  # grew
        assert by_task["task-a"] == by_task["task-c"]  # and shrank back
