"""Snapshots of the TUI's main screens at 80x24, 120x40 and 200x60
(tests/gladtui/tui/__snapshots__), and of the large view (the loupe, the compare) in half
blocks at 80x24 and 120x40.

The daemon is real (tiny model) but pinned: a fixed clock for the store and
for the TUI, fixed seeds, and a fixed workspace path, so every run draws the
same screen. After a deliberate change to the look, review the new pictures
and accept them with `./scripts/test tests/gladtui/tui/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from textual.pilot import Pilot
from textual_image.widget import Image

from gladtui.tui.gallery import Thumbnail
from gladtui.tui.modals import ApproveScreen
from gladtui.tui.screens import DisconnectedScreen, HelpScreen
from tests.apidaemon import ApiDaemon, task_yaml, wait_until
from tests.storedpictures import add_review_task, blocks
from tests.tuitools import half_blocks, large_view_shows, make_app, titles, until

if TYPE_CHECKING:
    from daemon.generation.models import LoadedModel

pytestmark = pytest.mark.slow

SIZES = [(80, 24), (120, 40), (200, 60)]
LARGE_VIEW_SIZES = [(80, 24), (120, 40)]
WORKSPACE = Path("/tmp/gladtui-snapshots")  # fixed: paths appear on screen
LARGE = Path("/tmp/gladtui-snapshots-large")  # beside WORKSPACE, which `pinned` empties
STORED_AT = datetime(2026, 11, 23, 12, 0, 0)
SHOWN_AT = datetime(2026, 11, 23, 12, 5, 0, tzinfo=UTC)  # every task is "5m" old

MUFFINS = "Making Delicious Muffins"


@pytest.fixture(scope="module", autouse=True)
def fixed_paths_to_ourselves() -> Iterator[None]:
    """The fixed folders are this machine's, not this run's: another run of these tests
    (a second checkout, CI beside a developer) would empty them under us. One at a time."""
    fd = os.open("/tmp/gladtui-snapshots.lock", os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # lets go of the lock


@pytest.fixture(scope="module")
def pinned(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    """One published muffins post, a second muffins task in review, two others, one invalid."""
    shutil.rmtree(WORKSPACE, ignore_errors=True)
    WORKSPACE.mkdir()
    daemon = ApiDaemon(tiny, root=WORKSPACE, clock=lambda: STORED_AT).start()
    first = daemon.submit(task_yaml(MUFFINS, variations=2), "muffins.yaml")
    daemon.wait_status(first, "review")
    daemon.client.approve(first, 1)
    daemon.wait_status(first, "published")
    for name, title, count in [
        ("muffins-again.yaml", MUFFINS, 3),
        ("autumn-hike.yaml", "A Weekend Hike: Autumn in the Alps", 4),
        ("sourdough.yaml", "Sourdough Basics", 2),
    ]:
        daemon.wait_status(
            daemon.submit(task_yaml(title, variations=count, seed=7), name), "review"
        )
    drop = daemon.config.drop_dir
    (drop / ".typo.part").write_bytes(b"title: Typo\npromt: muffins\nvariations: '3'\n")
    (drop / ".typo.part").rename(drop / "typo.yaml")
    wait_until(lambda: daemon.client.tasks(["invalid"])["total"] == 1)
    yield daemon
    daemon.cleanup()


def settled(*keys: str, images: int, screen: type | None = None) -> Callable[[Pilot[Any]], Any]:
    """Wait for the list and `images` thumbnails, press `keys`, each once the screen has
    caught up with the last, and wait for `screen` (a dialog the last key opens)."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await until(pilot, lambda: titles(app), what="the task list")  # type: ignore[arg-type]
        await until(pilot, lambda: caught_up(app), what="the cursor's task in full")
        for key in keys:
            await pilot.press(key)
            await pilot.pause()  # the key handled
            await until(pilot, lambda: caught_up(app), what=f"the screen after {key}")
        gallery = app.review.gallery  # type: ignore[attr-defined]

        def shown() -> bool:
            count = len(gallery.query(Thumbnail))
            pictures = len(gallery.query(Image))  # each picture has arrived
            return count == pictures == images and not gallery.has_class("-stale")

        await until(pilot, shown, what="the gallery")
        if screen is not None:
            await until(pilot, lambda: isinstance(app.screen, screen), what=screen.__name__)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run_before


def caught_up(app: Any) -> bool:
    """The task under the cursor is shown in full: its detail and its gallery."""
    review = app.review
    current = review.tasks.current
    if current is None:
        return True
    full = review.full
    return bool(full is not None and full["id"] == current["id"]) and not review.gallery.has_class(
        "-stale"
    )


def app_for(daemon: ApiDaemon) -> Any:
    return make_app(daemon, clock=lambda: SHOWN_AT)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_review_screen(pinned: ApiDaemon, snap_compare: Any, size: tuple[int, int]) -> None:
    # The cursor on the second muffins task: its slug is taken by the first.
    run_before = settled("j", images=3)
    assert snap_compare(app_for(pinned), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_invalid_task(pinned: ApiDaemon, snap_compare: Any, size: tuple[int, int]) -> None:
    run_before = settled("F", images=0)
    assert snap_compare(app_for(pinned), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_approve_dialog(pinned: ApiDaemon, snap_compare: Any, size: tuple[int, int]) -> None:
    run_before = settled("j", "2", "a", images=3, screen=ApproveScreen)
    assert snap_compare(app_for(pinned), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(pinned: ApiDaemon, snap_compare: Any, size: tuple[int, int]) -> None:
    run_before = settled("question_mark", images=2, screen=HelpScreen)
    assert snap_compare(app_for(pinned), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_daemon(snap_compare: Any, size: tuple[int, int]) -> None:
    (WORKSPACE / "stopped").mkdir(parents=True, exist_ok=True)
    stopped = ApiDaemon(None, root=WORKSPACE / "stopped")  # never started: no socket

    async def run_before(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, DisconnectedScreen))
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    try:
        assert snap_compare(app_for(stopped), terminal_size=size, run_before=run_before)
    finally:
        stopped.cleanup()


@pytest.fixture(scope="module")
def large() -> Iterator[ApiDaemon]:
    """A task of three 1024x1024 variations in squares of colours (no model)."""
    shutil.rmtree(LARGE, ignore_errors=True)
    LARGE.mkdir()
    daemon = ApiDaemon(None, root=LARGE, clock=lambda: STORED_AT).start()
    add_review_task(daemon, "loupe", (1024, 1024), 3, paint=blocks)
    yield daemon
    daemon.cleanup()


def in_large_view(*keys: str, count: int, zoomed: bool) -> Callable[[Pilot[Any]], Any]:
    """Wait for the gallery, press `keys`, wait for the large view's `count` pictures."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        gallery = app.review.gallery  # type: ignore[attr-defined]
        await until(pilot, lambda: gallery.current is not None, what="the gallery")
        await pilot.press(*keys)
        shows = lambda: large_view_shows(app, count, zoomed=zoomed)  # type: ignore[arg-type]  # noqa: E731
        await until(pilot, shows, what="the large view")
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", LARGE_VIEW_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_loupe(large: ApiDaemon, snap_compare: Any, size: tuple[int, int]) -> None:
    """z, then a pan right and down: the place named above, the variation under it."""
    with half_blocks():
        run_before = in_large_view("z", "l", "j", count=1, zoomed=True)
        assert snap_compare(app_for(large), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", LARGE_VIEW_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare(large: ApiDaemon, snap_compare: Any, size: tuple[int, int]) -> None:
    """p: 1 pinned on the left, 2 selected on the right, each labelled, fitted."""
    with half_blocks():
        run_before = in_large_view("p", count=2, zoomed=False)
        assert snap_compare(app_for(large), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", LARGE_VIEW_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_at_100(large: ApiDaemon, snap_compare: Any, size: tuple[int, int]) -> None:
    """p, then z: both at 100 %, at the same place."""
    with half_blocks():
        run_before = in_large_view("p", "z", count=2, zoomed=True)
        assert snap_compare(app_for(large), terminal_size=size, run_before=run_before)
