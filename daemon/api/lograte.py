"""Log lines that can repeat thousands of times a second, said at most once a while.

A flood of connections makes the same event (a refusal, a deadline, a failed
accept) happen per connection; one line each would fill the journal (asyncio's
own `socket.accept() out of system resource` once wrote 163 MB in 80 s). Each
kind of line is said at once the first time, then at most once per
`interval` seconds, with the number of repeats it stands for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

INTERVAL_SECONDS = 60.0
MAX_KEYS = 1024  # distinct keys remembered; past this the memory starts over


class RateLimitedLog:
    """`note(key, message)`: log `message` unless a line of the same key went out lately."""

    def __init__(
        self,
        logger: logging.Logger,
        level: int = logging.WARNING,
        *,
        interval: float = INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._level = level
        self._interval = interval
        self._clock = clock
        # key -> (when the next line may go out, repeats held back since the last one, the
        # latest of them)
        self._held: dict[str, tuple[float, int, str]] = {}

    def note(self, key: str, message: str) -> None:
        now = self._clock()
        due, repeats, _latest = self._held.get(key, (now, 0, ""))
        if now < due:
            self._held[key] = (due, repeats + 1, message)
            return
        if len(self._held) >= MAX_KEYS:
            self.flush()
        self._logger.log(self._level, "%s%s", message, _repeats(repeats, self._interval))
        self._held[key] = (now + self._interval, 0, "")

    def flush(self) -> None:
        """Say what is still held back (at shutdown: the end of a burst is not lost)."""
        for _due, repeats, latest in self._held.values():
            if repeats:
                self._logger.log(self._level, "%s%s", latest, _repeats(repeats - 1, 0))
        self._held.clear()


def _repeats(count: int, interval: float) -> str:
    if count <= 0:
        return ""
    within = f" in the last {interval:.0f} s" if interval else ""
    return f" (and {count:,} more like it{within})"
