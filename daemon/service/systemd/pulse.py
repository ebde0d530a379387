"""The thread that keeps systemd informed: loading, ready, alive, and what it is doing.

It runs beside the workers rather than in them because a single denoising
step of SDXL on a slow device can outlast a watchdog deadline; what proves
the daemon alive is that its threads are, which this thread checks before
every ping. A daemon with a dead thread stops pinging, and systemd restarts it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from daemon.service.systemd.notify import Notifier

log = logging.getLogger(__name__)

STATUS_SECONDS = 5.0  # how often the STATUS line is refreshed (sent only when it changed)
LOAD_CHECK_SECONDS = 2.0  # while the model loads, the start timeout is extended this often
LOAD_EXTENSION_SECONDS = 30.0  # by this much each time


class Pulse:
    """Run `run()` in its own thread after the store is open and the socket bound."""

    def __init__(
        self,
        notifier: Notifier,
        *,
        stop: threading.Event,
        model_settled: threading.Event,
        status: Callable[[], str],
        problem: Callable[[], str | None],
        watchdog_seconds: float | None,
        status_seconds: float = STATUS_SECONDS,
    ) -> None:
        """`status` says what the daemon does now; `problem` names what broke, if anything."""
        self._notifier = notifier
        self._stop = stop
        self._model_settled = model_settled
        self._status = status
        self._problem = problem
        self._watchdog_seconds = watchdog_seconds
        self._tick = min(status_seconds, watchdog_seconds or status_seconds)
        self._last_status: str | None = None
        self._reported_problem = False

    def run(self) -> None:
        if self._wait_for_model():
            self._last_status = self._status()
            self._notifier.ready(self._last_status)
            log.info("ready: %s", self._last_status)
            while not self._stop.wait(self._tick):
                self._beat()

    def _wait_for_model(self) -> bool:
        """Hold READY back while the model loads, extending systemd's start timeout."""
        tick = min(LOAD_CHECK_SECONDS, self._tick)
        while not self._model_settled.wait(tick):
            if self._stop.is_set():
                return False
            self._notifier.extend_timeout(LOAD_EXTENSION_SECONDS)
            self._notifier.status("loading the model")
            self._ping()
        return not self._stop.is_set()

    def _beat(self) -> None:
        self._ping()
        if self._reported_problem:
            return  # the STATUS line keeps saying what broke
        text = self._status()
        if text != self._last_status:
            self._notifier.status(text)
            self._last_status = text

    def _ping(self) -> None:
        if self._watchdog_seconds is None:
            return
        problem = self._problem()
        if problem is None:
            self._notifier.watchdog()
        elif not self._reported_problem:
            # No more pings: systemd's watchdog restarts the daemon.
            log.error("%s; no longer answering systemd's watchdog", problem)
            self._notifier.status(f"unhealthy: {problem}")
            self._reported_problem = True
