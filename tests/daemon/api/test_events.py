"""`GET /api/events`: a real generation's events, in order; resume, resync, heartbeat."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from daemon.generation.models import LoadedModel
from gladtui.client import DaemonUnreachable
from gladtui.eventstream import StreamEvent
from tests.apidaemon import ApiDaemon, task_yaml, wait_until


@pytest.fixture
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    running = ApiDaemon(tiny).start()
    yield running
    running.cleanup()


class Collector:
    """Reads a stream in a thread until `until(event)` says stop."""

    def __init__(self, d: ApiDaemon, since: int | None = None) -> None:
        self.events: list[StreamEvent] = []
        self.connected = threading.Event()
        self.done = threading.Event()
        self._d, self._since = d, since

    def run(self, until: Any) -> Collector:
        def read() -> None:
            for event in self._d.client.events(since=self._since, timeout=10):
                self.connected.set()  # the stream opens with a heartbeat
                self.events.append(event)
                if until(event):
                    break
            self.done.set()

        threading.Thread(target=read, daemon=True).start()
        assert self.connected.wait(10), "the stream did not open"
        return self

    def wait(self, timeout: float = 60) -> list[StreamEvent]:
        assert self.done.wait(timeout), f"stream did not finish; got {self.events}"
        return self.events


def test_a_generation_streams_created_progress_variations_review_in_order(
    live: ApiDaemon,
) -> None:
    def reviewed(event: StreamEvent) -> bool:
        return event.kind == "status_changed" and event.data["to_status"] == "review"

    stream = Collector(live).run(reviewed)
    task_id = live.client.submit(task_yaml("Streamed", steps=6), "streamed.yaml")["task"]["id"]
    events = [e for e in stream.wait() if e.kind != "heartbeat"]

    kinds = [e.kind for e in events]
    assert kinds[:2] == ["created", "status_changed"]
    assert kinds[-4:] == ["variation_added"] * 3 + ["status_changed"]
    assert events[1].data["to_status"] == "generating"
    progress = [e.data for e in events if e.kind == "progress"]
    assert progress and all(p["task_id"] == task_id for p in progress)
    steps = [p["step"] for p in progress]
    # In order; a step may be told twice, the second time with its live preview.
    assert steps == sorted(steps) and steps[-1] == progress[-1]["steps"] == 6
    first_progress = kinds.index("progress")
    last_progress = len(kinds) - 1 - kinds[::-1].index("progress")
    assert first_progress > 1 and last_progress < kinds.index("variation_added")

    stored = [e for e in events if e.id is not None]
    assert [e.id for e in stored] == sorted({e.id for e in stored})  # ids rise, no repeats
    final = events[-1].data["task"]
    assert final["status"] == "review" and final["variation_count"] == 3
    assert [e.data["detail"]["index"] for e in events if e.kind == "variation_added"] == [1, 2, 3]


def test_a_client_resumes_after_its_last_event_id(live: ApiDaemon) -> None:
    for n in range(3):
        live.client.submit(task_yaml(f"Resume {n}", variations=1, steps=1), f"r{n}.yaml")
    wait_until(lambda: live.client.status()["tasks"]["review"] == 3, timeout=60)
    latest = live.client.status()["last_event_id"]
    stored = Collector(live, since=0).run(lambda e: e.id == latest).wait()
    ids = [e.id for e in stored if e.id is not None]
    assert ids == list(range(1, latest + 1))  # everything, once, in order

    middle = ids[len(ids) // 2]
    resumed = Collector(live, since=middle).run(lambda e: e.id == latest).wait()
    assert [e.id for e in resumed if e.id is not None] == list(range(middle + 1, latest + 1))


def test_an_unknown_position_gets_a_resync(live: ApiDaemon) -> None:
    latest = live.client.status()["last_event_id"]
    events = Collector(live, since=latest + 1000).run(lambda e: e.kind == "resync").wait()
    resync = next(e for e in events if e.kind == "resync")
    assert resync.data["last_id"] == latest and "not known" in resync.data["reason"]


def test_a_quiet_stream_sends_heartbeats(live: ApiDaemon) -> None:
    count = 0

    def third_heartbeat(event: StreamEvent) -> bool:
        nonlocal count
        count += event.kind == "heartbeat"
        return count == 3

    events = Collector(live).run(third_heartbeat).wait(timeout=10)
    beats = [e.data for e in events if e.kind == "heartbeat"]
    assert len(beats) == 3 and all("last_id" in b and b["at"].endswith("Z") for b in beats)


def test_the_stream_ends_when_the_daemon_stops(live: ApiDaemon) -> None:
    outcome: list[str] = []

    # Opened here: once events() returns, the daemon has answered and the stream is open.
    stream = live.client.events(timeout=10)

    def read() -> None:
        try:
            for _ in stream:
                pass
            outcome.append("ended")
        except DaemonUnreachable:
            outcome.append("unreachable")

    reader = threading.Thread(target=read)
    reader.start()
    live.stop()
    reader.join(15)
    assert outcome in (["ended"], ["unreachable"])
