"""What the event-stream thread tells the app, as Textual messages."""

from __future__ import annotations

from textual.message import Message

from gladtui.eventstream import StreamEvent


class StreamLive(Message):
    """The stream is up. `resumed`: nothing was missed; else everything shown is stale."""

    def __init__(self, resumed: bool) -> None:
        super().__init__()
        self.resumed = resumed


class DaemonEvent(Message):
    """One event from the daemon: a task changed, or generation progressed."""

    def __init__(self, event: StreamEvent) -> None:
        super().__init__()
        self.event = event


class StreamLost(Message):
    """No daemon answers; `reason` says why (and how to start one)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
