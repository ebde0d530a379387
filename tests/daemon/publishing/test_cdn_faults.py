"""CDN faults end to end: a real daemon, the real Cloudinary SDK, a fake Cloudinary that fails.

tests/daemon/publishing/test_cloudinary.py pins how the publisher classifies each fault (one
upload, no daemon); these tests drive an approval through the API while the
CDN fails, and check what the reviewer and the CDN end up with: the task
`published`, one asset holding the chosen variation's bytes, one post, as many
upload requests as there were attempts, and a history that says what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.generation.models import LoadedModel
from gladtui.shapes import EventKind, TaskStatus
from tests.apidaemon import ApiDaemon, wait_until
from tests.fakecloudinary import FakeCloudinary

FOLDER = "glad-labs"


@pytest.fixture
def cdn() -> Iterator[FakeCloudinary]:
    with FakeCloudinary() as fake:
        yield fake


def start(
    tiny: LoadedModel, cdn: FakeCloudinary, *, attempts: int = 5, timeout: float = 10
) -> ApiDaemon:
    # A small base keeps the whole backoff (0.05, 0.1, 0.2, ... s, jittered) well under a second.
    publishing = {
        "publisher": "cloudinary",
        "max_attempts": attempts,
        "retry_base_seconds": 0.05,
        "cloudinary": {
            "url": cdn.url,
            "upload_prefix": cdn.prefix,
            "folder": FOLDER,
            "timeout_seconds": timeout,
        },
    }
    return ApiDaemon(tiny, settings={"publishing": publishing}).start()


MakeDaemon = Callable[..., ApiDaemon]


@pytest.fixture
def make_daemon(tiny: LoadedModel, cdn: FakeCloudinary) -> Iterator[MakeDaemon]:
    """Daemons publishing to `cdn`, each with its own options; cleaned up after the test."""
    started: list[ApiDaemon] = []

    def make(**options: Any) -> ApiDaemon:
        started.append(start(tiny, cdn, **options))
        return started[-1]

    yield make
    for daemon in started:
        daemon.cleanup()


def history(d: ApiDaemon, task_id: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(the publish_failed events' details, the error notes the task showed while publishing).

    Read from the event rows, not by polling the task: every note is kept there.
    """
    assert d.daemon is not None
    events = d.daemon.store.events.for_task(task_id)
    failures = [e.detail or {} for e in events if e.kind == "publish_failed"]
    notes = [
        e.detail["error"]
        for e in events
        if e.kind == EventKind.STATUS_CHANGED and e.to_status is TaskStatus.PUBLISHING
        and e.detail and "error" in e.detail
    ]  # fmt: skip
    return failures, list(dict.fromkeys(notes))  # a retry re-records the note it starts with


def variation_bytes(task: dict[str, Any], index: int) -> bytes:
    [variation] = [v for v in task["variations"] if v["index"] == index]
    return Path(variation["path"]).read_bytes()


def assert_published_once(
    d: ApiDaemon, cdn: FakeCloudinary, task: dict[str, Any], uploads: int
) -> dict[str, Any]:
    """One asset with variation 2's bytes, one post pointing at it, `uploads` requests."""
    done = d.wait_status(task["id"], "published", "failed")
    assert done["status"] == "published", done["error"]
    assert done["error"] is None  # the retry notes are gone once it worked
    [(public_id, stored)] = cdn.assets.items()
    assert stored == variation_bytes(task, 2) and stored != variation_bytes(task, 1)
    assert public_id.startswith(f"{FOLDER}/{task['id']}-")
    posts = d.raw("GET", "/api/posts")[1]
    assert posts["total"] == 1
    [post] = posts["posts"]
    assert post["task_id"] == task["id"]
    assert post["featured_image_url"].endswith(f"/{public_id}.png")
    assert cdn.upload_count == uploads
    assert d.daemon is not None
    [event] = [e for e in d.daemon.store.events.for_task(task["id"]) if e.kind == "published"]
    assert event.detail is not None
    return event.detail


def assert_retried(failures: list[dict[str, Any]], notes: list[str], says: str, of: int) -> None:
    """Each failed attempt: a retrying publish_failed event and a numbered note saying why."""
    assert failures and all(f["retrying"] is True and says in f["error"] for f in failures)
    assert len(notes) == len(failures)
    for attempt, note in enumerate(notes, start=1):
        assert note.startswith(f"upload attempt {attempt} of {of} failed, retrying: ")
        assert says in note


# -- faults that clear before the attempts run out ----------------------------------------


def test_http_500_twice_then_one_asset_and_one_post(
    make_daemon: MakeDaemon, cdn: FakeCloudinary
) -> None:
    d = make_daemon()
    task = d.in_review("Server errors", variations=2)
    cdn.fail(500, times=2)
    d.approve_and_wait(task["id"], 2)
    detail = assert_published_once(d, cdn, task, uploads=3)
    assert detail["asset_existed"] is False  # the 500s stored nothing
    failures, notes = history(d, task["id"])
    assert len(failures) == 2
    assert_retried(failures, notes, "Cloudinary is busy or failing (500): injected 500", of=5)


def test_rate_limited_429_is_retried_by_the_daemon_not_behind_its_back(
    make_daemon: MakeDaemon, cdn: FakeCloudinary
) -> None:
    d = make_daemon()
    task = d.in_review("Throttled", variations=2)
    # Retry-After on a 429 is what urllib3 may act on by itself; for a POST it must not,
    # or an upload would be repeated without the daemon knowing: one request per attempt.
    cdn.rate_limit(times=2, retry_after=1)
    d.approve_and_wait(task["id"], 2)
    assert_published_once(d, cdn, task, uploads=3)
    failures, notes = history(d, task["id"])
    assert len(failures) == 2
    assert_retried(failures, notes, "(429): Rate Limit Exceeded", of=5)


def test_a_timeout_after_the_cdn_stored_the_asset_reuses_it(
    make_daemon: MakeDaemon, cdn: FakeCloudinary
) -> None:
    # A timeout a loaded machine cannot hit by accident, a stall well past it.
    d = make_daemon(timeout=1.5)
    task = d.in_review("Slow answer", variations=2)
    cdn.stall_after_store(5)  # stored at once, answered after the client gave up
    d.approve_and_wait(task["id"], 2)
    detail = assert_published_once(d, cdn, task, uploads=2)
    assert detail["asset_existed"] is True  # the retry found the first attempt's upload
    failures, notes = history(d, task["id"])
    assert len(failures) == 1
    assert_retried(failures, notes, "cannot reach Cloudinary", of=5)
    assert "timed out" in failures[0]["error"]


def test_connection_refused_until_the_cdn_comes_back(
    make_daemon: MakeDaemon, cdn: FakeCloudinary
) -> None:
    # Enough attempts that the outage cannot outlast them: the count of refusals is up to
    # the clock, so the test waits for two, brings the CDN back and counts what happened.
    d = make_daemon(attempts=10)
    task = d.in_review("CDN down", variations=2)
    cdn.go_down()
    assert d.raw("POST", f"/api/tasks/{task['id']}/approve", {"variation": 2})[0] == 200
    wait_until(lambda: len(history(d, task["id"])[0]) >= 2)
    assert d.client.task(task["id"])["status"] == "publishing"
    cdn.come_back()
    assert_published_once(d, cdn, task, uploads=1)  # refused connections never reached it
    failures, notes = history(d, task["id"])
    assert_retried(failures, notes, "Connection refused", of=10)
    assert all(f["error"].startswith("cannot reach Cloudinary") for f in failures)


# -- faults that outlast the attempts -------------------------------------------------------


def test_faults_outlasting_max_attempts_fail_then_approving_again_publishes_once(
    make_daemon: MakeDaemon, cdn: FakeCloudinary
) -> None:
    d = make_daemon(attempts=3)
    task = d.in_review("Long outage", variations=2)
    cdn.fail(503, times=3)
    failed = d.approve_and_wait(task["id"], 2)
    assert failed["status"] == "failed"
    assert failed["error"] == "Cloudinary is busy or failing (503): injected 503"
    failures, notes = history(d, task["id"])
    assert [f["retrying"] for f in failures] == [True, True, False]  # the last one gives up
    assert len(notes) == 2 and notes[-1].startswith("upload attempt 2 of 3 failed, retrying")
    assert cdn.assets == {} and cdn.upload_count == 3
    assert d.raw("GET", "/api/posts")[1]["total"] == 0

    # The CDN has recovered (no faults left): the reviewer approves again.
    d.approve_and_wait(task["id"], 2)
    assert_published_once(d, cdn, task, uploads=4)
    status, again = d.raw("POST", f"/api/tasks/{task['id']}/approve", {"variation": 2})
    assert status == 200 and again["changed"] is False
    assert cdn.upload_count == 4 and d.raw("GET", "/api/posts")[1]["total"] == 1
