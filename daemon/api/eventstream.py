"""`GET /api/events`: the audit trail and live progress as server-sent events.

Stored events (task created, status changed, variation added, publish
result, …) are read from the events table by ascending id, so a client that
reconnects with `Last-Event-ID` (or `?since=`) gets exactly what it missed.
The table's ids commit in order (daemon/store/db.py), which is what makes
"everything after id N" gap-free. A commit anywhere in the daemon wakes the
streams (a commit listener), so an event reaches clients within milliseconds
without polling.

Generation progress changes every denoising step and is not stored: it is
sent as `progress` events without an id, coalesced to the latest step per
task when a client falls behind, and always before the stored events that
follow it (so a client never sees step 3 after "review").

A `heartbeat` opens the stream and goes out whenever nothing else has for
`heartbeat_seconds`, so a client can tell a quiet daemon from a dead connection. A client whose
position is unknown (ahead of the table, or too far behind to replay) gets
`resync`: reload your lists, then carry on from the id given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable

import orjson
from aiohttp import web

from daemon.api.taskjson import TaskViews, iso, progress_event_json
from daemon.generation.progress import Progress
from daemon.store import Store
from gladtui.shapes import EventJSON, EventKind, HeartbeatJSON, ProgressEventJSON, ResyncJSON

log = logging.getLogger(__name__)

PAGE = 500  # stored events read per query
REPLAY_LIMIT = 10_000  # further behind than this, a client reloads instead of replaying


def sse(
    kind: str,
    data: EventJSON | ProgressEventJSON | HeartbeatJSON | ResyncJSON,
    event_id: int | None = None,
) -> bytes:
    """One event in text/event-stream framing. JSON text never contains a newline."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


class Subscription:
    """One connected client: a wake-up flag and the latest progress per task."""

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.progress: OrderedDict[str, Progress] = OrderedDict()
        self.closed = False

    def take_progress(self) -> list[Progress]:
        pending = list(self.progress.values())
        self.progress.clear()
        return pending


class EventHub:
    """Fans commits and progress out to the streams. Lives on the API's event loop.

    `notify` and `publish_progress` are the thread-safe entry points: the
    store's writers and the generator call them from their own threads.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._subscriptions: set[Subscription] = set()

    def notify(self) -> None:
        self._call_soon(self._wake_all)

    def publish_progress(self, progress: Progress) -> None:
        self._call_soon(lambda: self._add_progress(progress))

    def _call_soon(self, callback: Callable[[], None]) -> None:
        if not self._loop.is_closed():
            # RuntimeError: the loop closed meanwhile, the daemon is stopping.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(callback)

    def _wake_all(self) -> None:
        for subscription in self._subscriptions:
            subscription.wake.set()

    def _add_progress(self, progress: Progress) -> None:
        for subscription in self._subscriptions:
            subscription.progress[progress.task_id] = progress
            subscription.progress.move_to_end(progress.task_id)
            subscription.wake.set()

    def subscribe(self) -> Subscription:
        subscription = Subscription()
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def close(self) -> None:
        """End every stream (the daemon is stopping)."""
        for subscription in self._subscriptions:
            subscription.closed = True
            subscription.wake.set()


class EventStreamServer:
    """Serves one `GET /api/events` request until the client leaves or the daemon stops."""

    def __init__(self, store: Store, views: TaskViews, hub: EventHub, heartbeat: float) -> None:
        self.store = store
        self.views = views
        self.hub = hub
        self.heartbeat = heartbeat

    async def serve(self, request: web.Request, since: int | None) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        subscription = self.hub.subscribe()  # before reading: nothing committed is missed
        try:
            await response.prepare(request)
            last_id = await self._start(response, since)
            # At once, so a client knows the stream is live and where it stands.
            await response.write(self._heartbeat(last_id))
            await self._run(response, subscription, last_id)
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the client left, or the daemon is stopping
        finally:
            self.hub.unsubscribe(subscription)
        return response

    async def _start(self, response: web.StreamResponse, since: int | None) -> int:
        latest = await asyncio.to_thread(self.store.events.last_id)
        if since is None:
            return latest  # a new client: what happens from now on
        if since > latest:
            reason = f"event {since} is not known here (the newest is {latest})"
        elif latest - since > REPLAY_LIMIT:
            reason = f"{latest - since} events were missed; more than {REPLAY_LIMIT} to replay"
        else:
            return since
        await response.write(sse(EventKind.RESYNC, {"last_id": latest, "reason": reason}))
        return latest

    async def _run(
        self, response: web.StreamResponse, subscription: Subscription, last_id: int
    ) -> None:
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while not subscription.closed:
            subscription.wake.clear()
            sent = False
            for progress in subscription.take_progress():
                await response.write(sse(EventKind.PROGRESS, progress_event_json(progress)))
                sent = True
            events = await asyncio.to_thread(self._read, last_id)
            for event in events:
                await response.write(sse(event["kind"], event, event["id"]))
                last_id = event["id"]
                sent = True
            if len(events) == PAGE:
                continue  # more to replay: no waiting
            if sent:
                quiet_since = loop.time()
            wait = quiet_since + self.heartbeat - loop.time()
            if wait <= 0:
                await response.write(self._heartbeat(last_id))
                quiet_since = loop.time()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscription.wake.wait(), timeout=wait)

    def _read(self, last_id: int) -> list[EventJSON]:
        return list(self.views.events(self.store.events.since(last_id, PAGE)))

    def _heartbeat(self, last_id: int) -> bytes:
        return sse(EventKind.HEARTBEAT, {"last_id": last_id, "at": iso(self.store.now())})
