"""When is a dropped file finished? Decided from what the kernel says, not from events.

watchfiles reports a file on its first chunk and has no "finished writing"
event, so a file is taken only when one of these holds:

- it was renamed (or linked, or had its times set) after its last write: the
  inode's ctime is newer than its mtime. Atomic producers (`gladtui submit`,
  `rsync`, `cp -p`, "write temp then rename") all end that way, so their files
  are taken at once;
- otherwise, its size, mtime and ctime have not changed for `stable_seconds`.

A file that disappears before it is ready is simply forgotten.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What we compare between two looks at a file."""

    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Snapshot:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    @property
    def renamed_after_last_write(self) -> bool:
        # Writes set mtime and ctime together; a later rename moves only ctime.
        # Equal stamps prove nothing (both can fall in one clock tick), so the
        # stability window remains the rule for them.
        return self.ctime_ns > self.mtime_ns and self.size > 0


@dataclass(slots=True)
class _Candidate:
    snapshot: Snapshot
    unchanged_since: float


class ReadinessTracker:
    """Remembers candidate files and says which ones are ready to read.

    Not thread-safe: one watcher thread owns it. `clock` is injected (monotonic
    seconds) so tests control time; `stat` is injected for the same reason.
    """

    def __init__(
        self,
        stable_seconds: float,
        *,
        clock: Callable[[], float],
        stat: Callable[[Path], os.stat_result] = os.lstat,
    ) -> None:
        self.stable_seconds = stable_seconds
        self._clock = clock
        self._stat = stat
        self._candidates: dict[Path, _Candidate] = {}

    def __len__(self) -> int:
        return len(self._candidates)

    def __contains__(self, path: object) -> bool:
        return path in self._candidates

    def observe(self, path: Path) -> None:
        """A change was reported for `path` (or a scan found it): look again."""
        snapshot = self._look(path)
        if snapshot is None:
            self._candidates.pop(path, None)
            return
        known = self._candidates.get(path)
        if known is None or known.snapshot != snapshot:
            self._candidates[path] = _Candidate(snapshot, self._clock())

    def take_ready(self) -> list[Path]:
        """Candidates that are finished, removed from the tracker, oldest first."""
        now = self._clock()
        ready: list[Path] = []
        for path, candidate in list(self._candidates.items()):
            if (
                not candidate.snapshot.renamed_after_last_write
                and now - candidate.unchanged_since < self.stable_seconds
            ):
                continue
            current = self._look(path)
            if current is None:
                del self._candidates[path]  # deleted before it was stable: forget it
            elif current != candidate.snapshot:
                self._candidates[path] = _Candidate(current, now)  # still being written
            else:
                del self._candidates[path]
                ready.append(path)
        return ready

    def _look(self, path: Path) -> Snapshot | None:
        try:
            return Snapshot.of(self._stat(path))
        except FileNotFoundError:
            return None
        except OSError:
            # Unreadable metadata is the reader's problem to report, with the
            # reason; hand it over as a zero-size snapshot that never changes.
            return Snapshot(0, 0, 0)
