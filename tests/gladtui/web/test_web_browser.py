"""The review page in a real browser (tests/browser.py: Debian's Chromium, Playwright),
through `gladtui web`, to a real daemon with the tiny model.

One daemon, one server and one page for the module. Decisions wait out a
grace period of an hour on the daemon's clock, which the tests move
(`MovableClock`): undo is possible until they do, and publishing starts when
they do. Every wait is on a condition in the page (`window.gladtui`, an
element) or in the daemon, never a sleep.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from daemon.generation.models import LoadedModel
from daemon.store import utc_now
from gladtui.taskid import derive_task_id
from tests.apidaemon import ApiDaemon, http_get, task_yaml, wait_until
from tests.browser import chromium
from tests.webserver import WebServer

MARKS = ("live", "painted", "painted-task", "painted-state", "selected", "large-painted")
CONSOLE: list[str] = []  # the page's console and errors, for a failure's message
GRACE = 3600.0
WAIT_MS = 60_000


class MovableClock:
    """The daemon's clock: now, plus what the test has moved it on by."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ahead = timedelta()

    def __call__(self) -> datetime:
        with self._lock:
            return utc_now() + self._ahead

    def move_on(self, seconds: float) -> None:
        with self._lock:
            self._ahead += timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture(scope="module")
def live(tiny: LoadedModel, clock: MovableClock) -> Iterator[ApiDaemon]:
    running = ApiDaemon(
        tiny, clock=clock, settings={"publishing": {"grace_seconds": GRACE}}
    ).start()
    yield running
    running.cleanup()


@pytest.fixture(scope="module")
def server(live: ApiDaemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    running = WebServer(
        "--config", str(live.config_file), log=tmp_path_factory.mktemp("web") / "web.log"
    )
    yield running
    assert running.stop() == 0
    log = running.log()
    assert running.token not in log, "the token is in the log"


@pytest.fixture(scope="module")
def page(server: WebServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium")) as context:
        tab = context.pages[0] if context.pages else context.new_page()  # type: ignore[attr-defined]
        tab.set_default_timeout(WAIT_MS)
        tab.on("console", lambda message: CONSOLE.append(f"{message.type}: {message.text}"))
        tab.on("pageerror", lambda error: CONSOLE.append(f"error: {error}"))
        tab.goto(server.address)
        assert tab.url == f"{server.origin}/", "the token stays in the address bar"
        marked(tab, "live", "true")
        yield tab


def marked(page: Any, name: str, value: str) -> None:
    """Wait until the page says so: it writes its state as data-* on <body> (its CSP
    forbids evaluating a script in it, Playwright's wait_for_function included)."""
    try:
        page.locator(f'body[data-{name}="{value}"]').wait_for()
    except Exception as exc:  # say what the page did say, and what it logged
        attributes = {k: page.locator("body").get_attribute(f"data-{k}") for k in MARKS}
        raise AssertionError(f"{name}={value}: the page says {attributes}; {CONSOLE}") from exc


def at_task(page: Any, task: dict[str, Any]) -> None:
    """The cursor on the task (clicked, as a reviewer would), its gallery painted as the
    daemon has it now (the page may have painted it before, while it was generating)."""
    page.locator(f'.row[data-id="{task["id"]}"]').click()
    marked(page, "painted-task", task["id"])
    variations = [v for v in task["variations"] if not v["removed_at"]]
    marked(page, "painted-state", f"{task['status']}/{len(variations)}")


def drop(live: ApiDaemon, title: str, **fields: Any) -> str:
    """A task file placed in the drop folder, as a writer's tool does; its id."""
    folder = live.config.drop_dir
    name = title.lower().replace(" ", "-")
    temporary = folder / f".{name}.tmp"
    temporary.write_bytes(task_yaml(title, **fields))
    temporary.rename(folder / f"{name}.yaml")
    return derive_task_id(f"{name}.yaml", task_yaml(title, **fields))


def test_keys_select_variation_2_and_approve_it(
    page: Any, live: ApiDaemon, clock: MovableClock
) -> None:
    task = live.in_review("Browser Muffins", variations=3)
    second = http_get(live.socket, f"/api/tasks/{task['id']}/variations/2/image")[2]
    at_task(page, task)
    page.keyboard.press("2")
    marked(page, "selected", "2")
    keep_screenshot(page, "web-review.png")
    page.keyboard.press("a")
    page.locator("#approve-dialog[open]").wait_for()
    assert "variation 2" in page.locator("#approve-what").inner_text()
    page.keyboard.press("Enter")
    approved = live.wait_status(task["id"], "approved")
    assert approved["selected_variation"] == 2 and approved["undo_until"]

    clock.move_on(GRACE + 1)  # the grace is over: publishing starts
    live.decision_worker_looked()
    live.wait_status(task["id"], "published")
    cdn = [p for p in live.config.local_cdn_dir.rglob("*") if p.is_file()]
    assert any(p.read_bytes() == second for p in cdn), cdn


def test_reject_with_a_new_prompt_queues_a_new_round(
    page: Any, live: ApiDaemon, clock: MovableClock
) -> None:
    task = live.in_review("Browser Pie", variations=1)
    at_task(page, task)
    page.keyboard.press("r")
    page.locator("#reject-dialog[open]").wait_for()
    page.locator("#reject-prompt").fill("a cherry pie on a marble counter")
    page.locator("#reject-yes").click()
    wait_for(live, task["id"], lambda t: t["undo_until"] is not None)  # taken, in its grace
    clock.move_on(GRACE + 1)  # it takes effect: the new round is queued
    live.decision_worker_looked()
    again = wait_for(live, task["id"], lambda t: any(v["round"] == 2 for v in t["variations"]))
    assert again["prompt"] == "a cherry pie on a marble counter"


def test_undo_within_the_grace(page: Any, live: ApiDaemon) -> None:
    task = live.in_review("Browser Tart", variations=1)
    at_task(page, task)
    page.keyboard.press("a")
    page.locator("#approve-dialog[open]").wait_for()
    page.keyboard.press("y")
    live.wait_status(task["id"], "approved")
    row = page.locator(f'.row[data-id="{task["id"]}"]')
    row.filter(has_text="undo").wait_for()  # the countdown shows
    page.keyboard.press("u")
    assert live.wait_status(task["id"], "review")["undo_until"] is None


def test_a_task_dropped_while_the_page_is_open_appears(page: Any, live: ApiDaemon) -> None:
    task_id = drop(live, "Dropped Scones")
    page.locator(f'.row[data-id="{task_id}"]').wait_for()


def test_a_daemon_restart_the_page_reconnects_and_catches_up(page: Any, live: ApiDaemon) -> None:
    live.stop()
    marked(page, "live", "false")
    task_id = drop(live, "While Away")  # the daemon reads it when it is back
    live.start()
    marked(page, "live", "true")
    page.locator(f'.row[data-id="{task_id}"]').wait_for()


def test_the_loupe_shows_the_variations_own_pixels(page: Any, live: ApiDaemon) -> None:
    task = live.in_review("Browser Loupe", variations=1, width=128, height=128)
    served = http_get(live.socket, f"/api/tasks/{task['id']}/variations/1/image")[2]
    at_task(page, task)
    page.keyboard.press("z")
    marked(page, "large-painted", "1")
    shot = page.locator("#panels img").screenshot()
    on_screen = Image.open(io.BytesIO(shot)).convert("RGB")
    original = Image.open(io.BytesIO(served)).convert("RGB")
    assert on_screen.size == original.size
    assert on_screen.tobytes() == original.tobytes()
    page.screenshot(path=str(Path(live.root) / "loupe.png"))
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")


def keep_screenshot(page: Any, name: str) -> None:
    """The page as the reviewer sees it; into $GLADTUI_SCREENSHOTS (docs/ keeps the
    README's) when set, else nowhere."""
    folder = os.environ.get("GLADTUI_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name))


def wait_for(live: ApiDaemon, task_id: str, condition: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def holds() -> bool:
        found.update(live.client.task(task_id))
        return bool(condition(found))

    wait_until(holds, 120)
    return found
