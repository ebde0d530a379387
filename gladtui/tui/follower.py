"""Following the daemon's event stream, reconnecting for as long as the TUI runs.

Runs on one thread (a Textual thread worker) and reports through callbacks,
so it knows nothing of Textual and is tested against a real daemon alone.

The stream is opened before anything is read, so nothing committed while the
TUI loads its list is missed: `on_live` fires on the stream's first heartbeat
and the list is read after it. On a reconnection the stream resumes from the
last event seen (the daemon replays what was missed); `on_live(resumed=False)`
asks for a full reload only when it cannot (a `resync`: too far behind, or a
different database).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from gladtui.client import Client, ClientError
from gladtui.eventstream import EventStream, HeartbeatEvent, ResyncEvent, StreamEvent

RETRY_FIRST = 0.25  # seconds before the first reconnection attempt
RETRY_MAX = 3.0  # the longest wait between attempts: a restarted daemon is seen soon


@dataclass
class FollowerCallbacks:
    on_live: Callable[[bool], object]  # the stream is up; True: resumed where it left off
    on_event: Callable[[StreamEvent], object]
    on_lost: Callable[[str], object]  # the daemon is unreachable, and why


class Follower:
    """`run()` blocks until `stop()`; callbacks are called on the running thread."""

    def __init__(self, client: Client, callbacks: FollowerCallbacks, *, timeout: float) -> None:
        self.client = client
        self.callbacks = callbacks
        self.timeout = timeout  # silence longer than this means the daemon is gone
        self.last_id: int | None = None
        self._stopping = threading.Event()
        self._stream: EventStream | None = None
        self._lock = threading.Lock()

    def run(self) -> None:
        delay = RETRY_FIRST
        while not self._stopping.is_set():
            try:
                self._follow_once()
                delay = RETRY_FIRST  # the daemon ended the stream: it is stopping
                reason = "the daemon stopped"
            except ClientError as exc:
                reason = str(exc)
            if self._stopping.is_set():
                return
            self.callbacks.on_lost(reason)
            self._stopping.wait(delay)
            delay = min(delay * 2, RETRY_MAX)

    def stop(self) -> None:
        """End `run()` soon, from any thread: a blocked read is woken at once."""
        self._stopping.set()
        with self._lock:
            if self._stream is not None:
                self._stream.interrupt()  # the reading thread closes it

    def _follow_once(self) -> None:
        resuming = self.last_id is not None
        stream = self.client.events(since=self.last_id, timeout=self.timeout)
        with self._lock:
            if self._stopping.is_set():
                stream.close()
                return
            self._stream = stream
        try:
            live = False
            for event in stream:
                if self._stopping.is_set():
                    return
                if isinstance(event, ResyncEvent):
                    resuming = False
                elif isinstance(event, HeartbeatEvent) and not live:
                    live = True
                    self.last_id = stream.last_id
                    self.callbacks.on_live(resuming)
                    continue
                self.last_id = stream.last_id
                if not isinstance(event, HeartbeatEvent):
                    self.callbacks.on_event(event)
        finally:
            with self._lock:
                self._stream = None
            stream.close()
