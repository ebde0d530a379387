"""Watching the drop folder: scan at start, native events, periodic rescan.

Like paperless-ngx's consumer, but events are only hints: every candidate goes
through the ReadinessTracker, and a rescan every `rescan_seconds` finds whatever
the event source missed (inotify queue overflow, polling on NFS, a file that
was already there). One bad file never stops the loop: errors from the ingest
callback are logged and the loop goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import watchfiles

from daemon.intake.dropfolder import DropFolder
from daemon.intake.readiness import ReadinessTracker

log = logging.getLogger(__name__)

IngestCallback = Callable[[list[Path]], object]


# Pollers compare modification times at one-second granularity, so a file
# replaced within the same second goes unseen; with polling, the cheap rescan of
# the folder runs at least this often.
POLLING_RESCAN_SECONDS = 1.0


def polling_requested(force_polling: bool, env: Mapping[str, str]) -> bool:
    """Config `watch.force_polling`, or WATCHFILES_FORCE_POLLING as watchfiles reads it."""
    value = env.get("WATCHFILES_FORCE_POLLING", "")
    return force_polling or (bool(value) and value.lower() not in {"false", "disable", "disabled"})


class DropFolderGone(RuntimeError):
    """The watched folder was deleted or replaced; the watch must be set up again."""


class DropWatcher:
    """Feeds ready task files to `ingest`, in batches, until `stop` is set."""

    def __init__(
        self,
        folder: DropFolder,
        ingest: IngestCallback,
        *,
        stable_seconds: float,
        rescan_seconds: float,
        polling: bool = False,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        changes: Callable[[], Iterable[list[Path]]] | None = None,
    ) -> None:
        self.folder = folder
        self._ingest = ingest
        self._tracker = ReadinessTracker(stable_seconds, clock=clock)
        self._polling = polling
        self._rescan_seconds = (
            min(rescan_seconds, POLLING_RESCAN_SECONDS) if polling else rescan_seconds
        )
        self._stop = stop
        self._clock = clock
        self._next_rescan = 0.0
        # The source of change batches: watchfiles unless one is injected (a test
        # proves the rescan alone finds files by injecting a source that reports nothing).
        self._changes = changes or self._watchfiles_changes
        self.watching = threading.Event()  # set once the folder is watched and scanned

    def run(self) -> None:
        """Watch until stopped. Blocks; run it in its own thread."""
        self.folder.prepare()
        watched = self._identity()
        scanned = False
        for changes in self._changes():
            if self._identity() != watched:
                # Deleted or replaced: the OS watch died with the old folder.
                raise DropFolderGone(f"drop folder {self.folder.root} was removed or replaced")
            if not scanned:
                # The watch exists once the first batch (or tick) arrives; scanning
                # now, not before, leaves no moment in which a new file goes unseen.
                self._rescan()
                scanned = True
                self.watching.set()
            for path in changes:
                if self.folder.is_candidate(path):
                    self._tracker.observe(path)
            if self._clock() >= self._next_rescan:
                self._rescan()
            self._deliver_ready()
        self.watching.clear()
        log.info("watcher stopped")

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = self.folder.root.stat()
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def _watchfiles_changes(self) -> Iterator[list[Path]]:
        """Batches of changed paths; an empty batch at least every 50 ms as a tick."""
        while True:
            try:
                yield from self._watchfiles_batches()
                return
            except RuntimeError as exc:
                # watchfiles cannot hand over a name that is not UTF-8, and its watch
                # stays stuck on it: watch anew, and let a rescan find (and rename,
                # see DropFolder.scan) the file.
                if "Unable to decode path" not in str(exc):
                    raise
                log.warning("a file name in the drop folder is not UTF-8; rescanning")
                self._next_rescan = 0.0

    def _watchfiles_batches(self) -> Iterator[list[Path]]:
        for batch in watchfiles.watch(
            self.folder.root,
            recursive=False,
            stop_event=self._stop,
            # None (not False) keeps watchfiles' own detection of where polling is needed.
            force_polling=True if self._polling else None,
            # Yield as soon as changes pause for 20 ms, and wake every 50 ms with
            # nothing, so the readiness window is checked on time.
            debounce=200,
            step=20,
            rust_timeout=50,
            yield_on_timeout=True,
            watch_filter=None,
            ignore_permission_denied=True,
        ):
            yield [Path(path) for _, path in batch]

    def _rescan(self) -> None:
        """Add every candidate in the folder; the safety net for missed events."""
        self._next_rescan = self._clock() + self._rescan_seconds
        try:
            for path in self.folder.scan():
                if path not in self._tracker:
                    self._tracker.observe(path)
        except OSError as exc:
            log.error("cannot scan drop folder %s: %s", self.folder.root, exc)

    def _deliver_ready(self) -> None:
        ready = self._tracker.take_ready()
        if not ready:
            return
        try:
            self._ingest(ready)
        except Exception:
            # The ingest side logs per file; this is the last line of defence
            # for the loop itself. The files stay put and the rescan retries them.
            log.exception("ingest of %d file(s) failed; will retry on the next rescan", len(ready))
