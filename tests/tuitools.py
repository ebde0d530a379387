"""Driving the review TUI in tests: a real daemon, the real app, Textual's pilot."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from textual.css.query import NoMatches
from textual.pilot import Pilot

import gladtui.tui  # noqa: F401  (textual-image first, as `gladtui tui` does)
from gladtui.pictureprotocol import Choice
from gladtui.tui import picturewidget
from gladtui.tui.app import ReviewApp
from gladtui.tui.detail import TaskDetail
from gladtui.tui.gallery import Gallery
from gladtui.tui.largeview import LargeView
from gladtui.tui.tasklist import Clock, TaskList
from tests.apidaemon import ApiDaemon


def make_app(daemon: ApiDaemon, clock: Clock | None = None) -> ReviewApp:
    extra = {} if clock is None else {"clock": clock}
    return ReviewApp(daemon.client, stream_timeout=3.0, **extra)


async def until(
    pilot: Pilot[None], condition: Callable[[], object], timeout: float = 60.0, what: str = ""
) -> None:
    """Let the app run until `condition()` holds; fail with what the screen shows.

    A widget it asks for that is not mounted yet (the review screen is composed
    after the app starts) is a condition not met yet, not an error.
    """
    deadline = time.monotonic() + timeout
    while not _holds(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout} s: {what}\n{screen_text(pilot)}")
        await pilot.pause(0.05)


def _holds(condition: Callable[[], object]) -> bool:
    try:
        return bool(condition())
    except NoMatches:
        return False


def screen_text(pilot: Pilot[None]) -> str:
    """What the list and the detail pane hold, for failure messages."""
    app = pilot.app
    try:
        tasks = app.screen.query_one(TaskList)
        rows = [tasks.window.get(p) for p in range(min(len(tasks.window), 20))]
        titles = [f"{r['status']} {r['title']}" for r in rows if r]
        detail = str(app.screen.query_one(TaskDetail).render())
        return f"screen: {type(app.screen).__name__}\nrows: {titles}\ndetail: {detail}"
    except Exception as exc:  # the screen may not be the review screen
        return f"screen: {type(app.screen).__name__} ({exc})"


def titles(app: ReviewApp) -> list[str]:
    tasks = app.review.query_one(TaskList)
    rows = [tasks.window.get(p) for p in range(len(tasks.window))]
    return [row["title"] for row in rows if row is not None]


def detail_text(app: ReviewApp) -> str:
    return str(app.review.query_one(TaskDetail).render())


def gallery(app: ReviewApp) -> Gallery:
    return app.review.query_one(Gallery)


@contextmanager
def half_blocks() -> Iterator[None]:
    """Pictures drawn in half blocks, as `gladtui tui` draws them in a terminal that shows
    no graphics (under pytest textual-image sees no terminal and picks grey text); the
    widget it detected again after."""
    before = (picturewidget._chosen[0], picturewidget._choice[0])
    picturewidget.use(Choice("halfblocks", "forced by the test"))
    try:
        yield
    finally:
        picturewidget._chosen[0], picturewidget._choice[0] = before


def large_view_shows(app: ReviewApp, count: int, *, zoomed: bool) -> bool:
    """The large view is up, at 100 % or fitted, with `count` pictures (not `…`)."""
    screen = app.screen
    if not isinstance(screen, LargeView) or screen.zoomed != zoomed:
        return False
    shown = [panel.picture for panel in screen.shown_panels]
    return len(shown) == count and all(isinstance(p, picturewidget.PictureBase) for p in shown)
