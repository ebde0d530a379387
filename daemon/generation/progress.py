"""Live generation progress and cancellation requests, shared between threads.

Progress changes every denoising step, far too often for the database, so it
lives here in memory; the API's event stream subscribes to it. A cancellation
request is a flag the generator checks at every step. The step of the latest
live preview (daemon/generation/previews.py) rides along, so a client knows when a new
one is there to fetch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class PreviewMark:
    """The latest live preview of a task: `step` of `steps` of the batch making `indexes`."""

    step: int
    steps: int
    indexes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a running generation is: `step` of `steps` over all its batches."""

    task_id: str
    step: int
    steps: int
    images_done: int
    images_total: int
    preview: PreviewMark | None = None


Listener = Callable[[Progress], None]


class ProgressBoard:
    """Thread-safe: the generator writes, the API reads and subscribes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[str, Progress] = {}
        self._previews: dict[str, PreviewMark] = {}
        self._cancelled: set[str] = set()
        self._listeners: list[Listener] = []
        self._finish_listeners: list[Callable[[str], None]] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` on every update (from the generator's thread); returns unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def update(self, progress: Progress) -> None:
        with self._lock:
            progress = replace(progress, preview=self._previews.get(progress.task_id))
            self._current[progress.task_id] = progress
            listeners = list(self._listeners)
        for listener in listeners:
            listener(progress)

    def set_preview(self, task_id: str, mark: PreviewMark | None) -> None:
        """A new preview is there: listeners hear it at once, as progress at the same step.

        `None` (the batch ended) is told with the next step, not now: the
        variations stored meanwhile already say so, and a progress event after
        them would say the generation was still at its last step.
        """
        with self._lock:
            current = self._current.get(task_id)
            if current is None:
                return  # the generation has not reported a step yet, or has finished
            if mark is None:
                self._previews.pop(task_id, None)
                self._current[task_id] = replace(current, preview=None)
                return
            self._previews[task_id] = mark
            progress = self._current[task_id] = replace(current, preview=mark)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(progress)

    def get(self, task_id: str) -> Progress | None:
        with self._lock:
            return self._current.get(task_id)

    def subscribe_finished(self, listener: Callable[[str], None]) -> None:
        """Call `listener(task_id)` whenever a generation ends, however it ended."""
        with self._lock:
            self._finish_listeners.append(listener)

    def finish(self, task_id: str) -> None:
        """The generation ended (done, failed or cancelled): no progress to show."""
        with self._lock:
            self._current.pop(task_id, None)
            self._previews.pop(task_id, None)
            self._cancelled.discard(task_id)
            listeners = list(self._finish_listeners)
        for listener in listeners:
            listener(task_id)

    def request_cancel(self, task_id: str) -> None:
        with self._lock:
            self._cancelled.add(task_id)

    def cancel_requested(self, task_id: str) -> bool:
        with self._lock:
            return task_id in self._cancelled
