"""The review app: the review screen, the event stream, and the no-daemon screen."""

from __future__ import annotations

import gc
import time

from textual import events, work
from textual.app import App

from gladtui.client import Client
from gladtui.eventstream import StreamEvent
from gladtui.tui import kittypicture
from gladtui.tui.bindings import bindings
from gladtui.tui.follower import Follower, FollowerCallbacks
from gladtui.tui.messages import DaemonEvent, StreamLive, StreamLost
from gladtui.tui.pictures import Pictures
from gladtui.tui.review import ReviewScreen
from gladtui.tui.screens import DisconnectedScreen
from gladtui.tui.tasklist import Clock, aware_now

IDLE_COLLECT_SECONDS = 2.0  # no key for this long: a full garbage collection may run
NO_AUTOMATIC_FULL_COLLECTION = 1_000_000  # gc's third threshold, never reached


class ReviewApp(App[None]):
    """Talks to the daemon through `client` only; follows its events on a thread."""

    CSS_PATH = "gladtui.tcss"
    TITLE = "gladtui"
    ENABLE_COMMAND_PALETTE = False  # every action has its key; the footer needs the room
    BINDINGS = bindings("app")

    def __init__(
        self,
        client: Client,
        *,
        clock: Clock = aware_now,
        stream_timeout: float,
        confirm: bool = True,
        quit_note: str = "",
        pictures: Pictures | None = None,
    ) -> None:
        """`stream_timeout`: silence this long means the daemon is gone (a few heartbeats).

        `confirm`: dialogs before approve and reject (tui.confirm_decisions).
        `quit_note`: what q does, when it does more than quit (the demo's).
        """
        super().__init__()
        self.client = client
        self.review = ReviewScreen(
            client, clock, confirm=confirm, quit_note=quit_note, pictures=pictures
        )
        self.follower = Follower(
            client,
            FollowerCallbacks(
                on_live=lambda resumed: self.post_message(StreamLive(resumed)),
                on_event=lambda event: self.post_message(DaemonEvent(event)),
                on_lost=lambda reason: self.post_message(StreamLost(reason)),
            ),
            timeout=stream_timeout,
        )
        self.connected = False
        self.ever_connected = False
        self.last_key = time.monotonic()

    async def on_mount(self) -> None:
        # The review screen is composed before the first event can reach it.
        await self.push_screen(self.review)
        self._follow()
        self._collect_only_when_idle()

    # -- the garbage collector ---------------------------------------------------------------

    def _collect_only_when_idle(self) -> None:
        """Full collections while the reviewer pauses, not between a key and its frame.

        Measured with bench/review.py: Python's own full collections cost 100-200 ms
        and fell every few decisions. What exists now (modules, classes, the screen)
        lives as long as the app, so it is frozen out of every collection; automatic
        full collections are off, and one runs whenever the keys have rested a while.
        """
        gc.freeze()
        young, middle, _full = gc.get_threshold()
        gc.set_threshold(young, middle, NO_AUTOMATIC_FULL_COLLECTION)
        self.set_interval(IDLE_COLLECT_SECONDS, self._collect_if_idle)

    def _collect_if_idle(self) -> None:
        if time.monotonic() - self.last_key > IDLE_COLLECT_SECONDS:
            gc.collect()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.last_key = time.monotonic()
        await super().on_event(event)

    @work(thread=True, group="events")
    def _follow(self) -> None:
        self.follower.run()

    def on_unmount(self) -> None:
        self.follower.stop()
        kittypicture.delete_all_sent(self)  # the widgets are gone; their images go too

    def action_help(self) -> None:
        if self.screen is self.review:
            self.review.action_help()

    # -- the stream ------------------------------------------------------------------------

    def on_stream_live(self, message: StreamLive) -> None:
        if isinstance(self.screen, DisconnectedScreen):
            self.pop_screen()
            if self.ever_connected:
                self.notify("connected to the daemon again", timeout=3)
        self.connected = self.ever_connected = True
        self.review.stream_live(message.resumed)

    def on_daemon_event(self, message: DaemonEvent) -> None:
        event: StreamEvent = message.event
        self.review.stream_event(event)

    def on_stream_lost(self, message: StreamLost) -> None:
        self.connected = False
        reason = message.reason.removesuffix(f"; {self.client.start_hint}")
        if isinstance(self.screen, DisconnectedScreen):
            self.screen.set_reason(reason)
        else:
            self.push_screen(DisconnectedScreen(reason, self.client.start_hint))
