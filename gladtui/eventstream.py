"""The daemon's event stream from the reviewer's side: `GET /api/events`, read as it comes.

`Client.events()` opens it; `EventStream` yields each server-sent event as
the class of its kind, its `data` the JSON shape of gladtui/shapes.py, and
knows where to resume after a broken connection. The framing is
text/event-stream, its data JSON (daemon/api/eventstream.py sends it).

Tell the kinds apart with `isinstance` (or `match`): a `StoredEvent` is one
row of the audit trail (its `kind` open-ended: created, status_changed, …,
and any kind a newer daemon adds); the others are the stream's own.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeAlias, cast

from gladtui.clienterrors import ClientError
from gladtui.closing import Closing
from gladtui.shapes import EventKind

if TYPE_CHECKING:
    from gladtui.shapes import EventJSON, HeartbeatJSON, ProgressEventJSON, ResyncJSON


@dataclass(frozen=True)
class StoredEvent:
    """A row of the audit trail: `kind` is its `event:` field, `id` its place in the trail."""

    kind: str
    id: int | None
    data: EventJSON


@dataclass(frozen=True)
class ProgressEvent:
    """A generation's latest step; not stored, so it has no id."""

    data: ProgressEventJSON
    kind: ClassVar[str] = "progress"
    id: ClassVar[None] = None


@dataclass(frozen=True)
class HeartbeatEvent:
    """The stream is alive (it opens with one, and goes on when nothing else is sent)."""

    data: HeartbeatJSON
    kind: ClassVar[str] = "heartbeat"
    id: ClassVar[None] = None


@dataclass(frozen=True)
class ResyncEvent:
    """This client's position is unknown to the daemon: reload what is shown."""

    data: ResyncJSON
    kind: ClassVar[str] = "resync"
    id: ClassVar[None] = None


StreamEvent: TypeAlias = StoredEvent | ProgressEvent | HeartbeatEvent | ResyncEvent


class EventStream(Closing["EventStream"]):
    """The open event stream: iterate for `StreamEvent`s; `last_id` is where to resume.

    Iteration ends when the daemon ends the stream (it is stopping); a broken or
    silent connection raises `DaemonUnreachable`.

    `last_id` follows every event id, and the `last_id` of heartbeats and
    resyncs, so `client.events(since=stream.last_id)` after a broken connection
    picks up exactly where this one stopped.
    """

    def __init__(
        self,
        unreachable: Callable[[BaseException, float | None], ClientError],
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        since: int | None,
        timeout: float | None,
    ) -> None:
        self.last_id = since
        self._unreachable = unreachable  # the client's wording for a broken connection
        self._connection = connection
        self._timeout = timeout
        self._events = parse_sse(_lines(response))

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> StreamEvent:
        try:
            event = next(self._events)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise self._unreachable(exc, self._timeout) from exc
        except BaseException:  # the end of the stream (StopIteration) included
            self.close()
            raise
        if event.id is not None:
            self.last_id = event.id
        elif isinstance(event, HeartbeatEvent | ResyncEvent):
            self.last_id = event.data["last_id"]
        return event

    def interrupt(self) -> None:
        """Wake a thread blocked reading this stream: it sees the end of the stream.

        The one call safe from another thread. close() alone would not wake a
        recv() on Linux, and closing under a reader breaks http.client's state.
        """
        sock = self._connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the stream, from the thread that reads it."""
        self._connection.close()


def _lines(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while line := response.readline():
        yield line


def parse_sse(lines: Iterable[bytes]) -> Iterator[StreamEvent]:
    """text/event-stream framing: `field: value` lines, a blank line ends an event.

    Lines starting with ':' are comments; several `data` lines are joined with
    newlines; `retry` and unknown fields are ignored. The data is JSON.
    """
    kind, event_id, data = "", None, list[str]()
    for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield _event(kind or "message", event_id, _event_data("\n".join(data)))
            kind, event_id, data = "", None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = int(value) if value.isdigit() else None


def _event(kind: str, event_id: int | None, data: dict[str, object]) -> StreamEvent:
    """The event of its kind. Its data is taken to have the shape the daemon sends
    for that kind, as the client takes every answer (gladtui/shapes.py)."""
    if kind == EventKind.PROGRESS:
        return ProgressEvent(cast("ProgressEventJSON", data))
    if kind == EventKind.HEARTBEAT:
        return HeartbeatEvent(cast("HeartbeatJSON", data))
    if kind == EventKind.RESYNC:
        return ResyncEvent(cast("ResyncJSON", data))
    return StoredEvent(kind, event_id, cast("EventJSON", data))


def _event_data(text: str) -> dict[str, object]:
    try:
        data: object = json.loads(text)
    except ValueError:
        raise ClientError(f"the daemon sent an event that is not JSON: {text[:200]!r}") from None
    return cast("dict[str, object]", data) if isinstance(data, dict) else {"value": data}
