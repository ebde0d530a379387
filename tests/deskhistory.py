"""A review desk's known history (issue 33's figures), written through the store's own
writes on a clock the test moves: the store tests, the CLI and the TUI read it back."""

from __future__ import annotations

from datetime import datetime, timedelta

from daemon.store import Store
from daemon.store.jobkinds import GENERATE, generation_payload
from gladtui.shapes import EventKind, TaskStatus
from tests.daemon.store.helpers import T0, FakeClock, new_task


class Desk:
    def __init__(self, store: Store, clock: FakeClock) -> None:
        self.store, self.clock = store, clock

    def at(self, seconds: float) -> None:
        self.clock.now = T0 + timedelta(seconds=seconds)

    def task(self, task_id: str, at: float) -> None:
        self.at(at)
        self.store.tasks.create(new_task(task_id))  # `created`, to queued

    def round(self, task_id: str, first: int, made_at: list[float], start: float) -> None:
        """A generate job for len(made_at) variations from `first`: generating at
        `start`, one variation at each time, in review at the last."""
        self.at(start)
        self.store.jobs.enqueue(GENERATE, task_id, generation_payload(first, len(made_at)))
        self.store.tasks.set_status(task_id, TaskStatus.GENERATING)
        for offset, when in enumerate(made_at):
            self.at(when)
            self.store.events.add(
                EventKind.VARIATION_ADDED, task_id, detail={"index": first + offset}
            )
        self.store.tasks.set_status(task_id, TaskStatus.REVIEW)

    def decide(
        self, task_id: str, status: TaskStatus, who: str, at: float, **detail: object
    ) -> None:
        self.at(at)
        self.store.tasks.set_status(task_id, status, actor=who, detail=detail)

    def publish(self, task_id: str, at: float) -> None:
        self.at(at)
        self.store.tasks.set_status(task_id, TaskStatus.PUBLISHING)
        self.store.tasks.set_status(task_id, TaskStatus.PUBLISHED)


def fill_desk(store: Store, clock: FakeClock) -> datetime:
    """T0 is 03:04:05 UTC. Seconds after it:

    A: round 1 (3 variations) generating 0-30; bob rejects at 130 (hands, text; 100 s
       after the last variation); round 2 (from 4) generating 140-170; ann approves
       variation 5 (place 2 of 3) at 470 (300 s); published at 500.
    B: created at 600; one round of 2 generating 600-660; ann approves variation 1
       (place 1 of 2) at 1260 (600 s); published at 1300.
    C: created at 4000 (04:10:45, the next hour); one round of 2, 4000-4020; bob rejects
       at 4120 (hands; 100 s), no new round.
    """
    d = Desk(store, clock)
    d.task("a", 0)
    d.round("a", 1, [10, 20, 30], start=0)
    d.decide("a", TaskStatus.REJECTED, "bob", 130, reasons=["hands", "text"])
    d.at(130)
    store.tasks.set_status("a", TaskStatus.QUEUED)
    d.round("a", 4, [150, 160, 170], start=140)
    d.decide("a", TaskStatus.APPROVED, "ann", 470, variation=5)
    d.publish("a", 500)
    d.task("b", 600)
    d.round("b", 1, [640, 660], start=600)
    d.decide("b", TaskStatus.APPROVED, "ann", 1260, variation=1)
    d.publish("b", 1300)
    d.task("c", 4000)
    d.round("c", 1, [4010, 4020], start=4000)
    d.decide("c", TaskStatus.REJECTED, "bob", 4120, reasons=["hands"])
    d.at(5000)
    return clock.now
