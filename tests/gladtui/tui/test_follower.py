"""Following the event stream: live, events, loss, and a prompt stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from gladtui.eventstream import StreamEvent
from gladtui.tui.follower import Follower, FollowerCallbacks
from tests.apidaemon import ApiDaemon, task_yaml, wait_until


@pytest.fixture
def quiet() -> Iterator[ApiDaemon]:
    """A daemon whose heartbeat is a minute away: only real events wake a reader."""
    daemon = ApiDaemon(None, settings={"api": {"heartbeat_seconds": 60}}).start()
    yield daemon
    daemon.cleanup()


class Recorder:
    def __init__(self) -> None:
        self.live: list[bool] = []
        self.events: list[StreamEvent] = []
        self.lost: list[str] = []

    def callbacks(self) -> FollowerCallbacks:
        return FollowerCallbacks(self.live.append, self.events.append, self.lost.append)


def test_events_flow_and_stop_wakes_a_blocked_read(quiet: ApiDaemon) -> None:
    seen = Recorder()
    follower = Follower(quiet.client, seen.callbacks(), timeout=120)
    thread = threading.Thread(target=follower.run)
    thread.start()
    try:
        wait_until(lambda: seen.live == [False])  # first connection: load everything
        task_id = quiet.submit(task_yaml("Followed"))
        wait_until(lambda: any(e.data.get("task_id") == task_id for e in seen.events))
        started = time.monotonic()
        follower.stop()  # the reader is blocked in recv(), a minute from a heartbeat
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert time.monotonic() - started < 5
    finally:
        follower.stop()
        thread.join(timeout=10)
    assert seen.lost == []


def test_a_lost_daemon_is_reported_and_the_stream_resumes(quiet: ApiDaemon) -> None:
    seen = Recorder()
    follower = Follower(quiet.client, seen.callbacks(), timeout=120)
    thread = threading.Thread(target=follower.run)
    thread.start()
    try:
        wait_until(lambda: seen.live == [False])
        quiet.stop()
        wait_until(lambda: seen.lost)
        quiet.start()
        wait_until(lambda: seen.live == [False, True])  # resumed: nothing to reload
        task_id = quiet.submit(task_yaml("After the restart"))
        wait_until(lambda: any(e.data.get("task_id") == task_id for e in seen.events))
    finally:
        follower.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
