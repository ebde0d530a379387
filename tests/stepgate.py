"""Holding an in-process daemon's generation still, so a test sees what it waits for.

A tiny-model generation of 64x64 is over in a fraction of a second, and on a
busy machine in an unknown time: a test that hopes to see it mid-way flakes.
`StepGate` holds the denoising at a chosen step until the test lets it go on:
it listens on the daemon's progress board, whose listeners run on the
denoising thread itself (daemon/generation/progress.py), so while it holds, no step is
taken, and everything the step reported before it (the API's events, a live
preview being decoded) still goes on. `HeldClock` paces the live previews
(`Daemon(preview_clock=...)`): it moves only when the test moves it, so which
steps are given a preview no longer depends on how fast the machine is.
"""

from __future__ import annotations

import threading

from daemon.generation.progress import Progress, ProgressBoard

HOLD_LIMIT = 600.0  # s: a gate never released (a failed test) lets go by itself after this


class StepGate:
    """Holds a generation when it reports step `n` (of all its batches), until `move_on`."""

    def __init__(self, board: ProgressBoard) -> None:
        self._lock = threading.Lock()
        self._step: int | None = None
        self._reached = threading.Event()
        self._release = threading.Event()
        self._unsubscribe = board.subscribe(self._on_progress)

    def hold_at(self, step: int) -> None:
        """Arm the gate: the next generation to report `step` stops there."""
        with self._lock:
            self._step = step
            self._reached = threading.Event()
            self._release = threading.Event()

    def wait_held(self, timeout: float = 120.0) -> None:
        with self._lock:
            step, reached = self._step, self._reached
        assert reached.wait(timeout), f"no generation reached step {step} in {timeout:g} s"

    def move_on(self, hold_at: int | None = None) -> None:
        """Let the held generation go on; with `hold_at`, stop it again at that step."""
        with self._lock:
            release = self._release
        if hold_at is not None:
            self.hold_at(hold_at)
        else:
            with self._lock:
                self._step = None
        release.set()

    def close(self) -> None:
        """Never hold again, and let go of what is held (so the daemon can stop)."""
        self._unsubscribe()
        self.move_on()

    def _on_progress(self, progress: Progress) -> None:
        with self._lock:
            if progress.step != self._step:
                return
            # Once: the same step is told again, from the preview decoder's thread,
            # when its preview is ready; that one must pass.
            self._step = None
            reached, release = self._reached, self._release
        reached.set()
        release.wait(HOLD_LIMIT)


class HeldClock:
    """A monotonic clock that stands still until `advance`: previews paced by the test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 0.0

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
