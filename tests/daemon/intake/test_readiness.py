"""When a dropped file counts as finished: real files, an injected clock."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from daemon.intake.readiness import ReadinessTracker, Snapshot


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def written_in_place(path: Path, data: bytes) -> Path:
    """A file whose last event was a write: its ctime equals its mtime."""
    path.write_bytes(data)
    assert not Snapshot.of(path.stat()).renamed_after_last_write
    return path


def test_file_written_in_place_waits_for_the_window(tmp_path: Path, clock: FakeClock) -> None:
    tracker = ReadinessTracker(0.5, clock=clock)
    path = written_in_place(tmp_path / "a.yaml", b"title: x\n")
    tracker.observe(path)
    assert tracker.take_ready() == []
    clock.now += 0.4
    assert tracker.take_ready() == []
    clock.now += 0.2
    assert tracker.take_ready() == [path]
    assert path not in tracker


def test_a_change_restarts_the_window(tmp_path: Path, clock: FakeClock) -> None:
    tracker = ReadinessTracker(0.5, clock=clock)
    path = written_in_place(tmp_path / "a.yaml", b"title: x\n")
    tracker.observe(path)
    clock.now += 0.6
    with path.open("ab") as f:  # the writer was only pausing
        f.write(b"prompt: y\n")
    assert tracker.take_ready() == []  # the change is seen at the check, not missed
    clock.now += 0.4
    assert tracker.take_ready() == []
    clock.now += 0.2
    assert tracker.take_ready() == [path]


def test_renamed_file_is_taken_at_once(tmp_path: Path, clock: FakeClock) -> None:
    tracker = ReadinessTracker(10.0, clock=clock)
    staging = tmp_path / "staging.tmp"
    staging.write_bytes(b"title: x\nprompt: y\n")
    st = staging.stat()
    os.utime(staging, ns=(st.st_atime_ns, st.st_mtime_ns - 5_000_000))  # as cp -p would
    final = tmp_path / "final.yaml"
    staging.rename(final)
    assert Snapshot.of(final.stat()).renamed_after_last_write
    tracker.observe(final)
    assert tracker.take_ready() == [final]


def test_deleted_before_stable_is_forgotten(tmp_path: Path, clock: FakeClock) -> None:
    tracker = ReadinessTracker(0.5, clock=clock)
    path = written_in_place(tmp_path / "a.yaml", b"title: x\n")
    tracker.observe(path)
    path.unlink()
    clock.now += 1
    assert tracker.take_ready() == []
    assert len(tracker) == 0


def test_observing_a_missing_file_forgets_it(tmp_path: Path, clock: FakeClock) -> None:
    tracker = ReadinessTracker(0.5, clock=clock)
    path = written_in_place(tmp_path / "a.yaml", b"x")
    tracker.observe(path)
    path.unlink()
    tracker.observe(path)
    assert len(tracker) == 0


def test_repeated_events_do_not_postpone_a_stable_file(tmp_path: Path, clock: FakeClock) -> None:
    tracker = ReadinessTracker(0.5, clock=clock)
    path = written_in_place(tmp_path / "a.yaml", b"title: x\n")
    tracker.observe(path)
    clock.now += 0.3
    tracker.observe(path)  # e.g. a rescan: nothing changed, the window keeps running
    clock.now += 0.3
    assert tracker.take_ready() == [path]


@pytest.mark.parametrize("window", [0.5, 2.0, 30.0])
def test_a_file_is_taken_exactly_when_its_window_has_passed(
    tmp_path: Path, clock: FakeClock, window: float
) -> None:
    """Not one step of the clock before the window (a file still being written may be
    paused for most of it), and at once when it has passed."""
    tracker = ReadinessTracker(window, clock=clock)
    path = written_in_place(tmp_path / "a.yaml", b"title: x\n")
    tracker.observe(path)
    seen_at = clock.now
    clock.now = math.nextafter(seen_at + window, 0.0)
    assert tracker.take_ready() == []
    assert path in tracker
    clock.now = seen_at + window
    assert tracker.take_ready() == [path]


def test_an_empty_file_renamed_into_place_still_waits_for_the_window(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Renamed while empty, it may be a placeholder its writer fills next: not finished."""
    tracker = ReadinessTracker(0.5, clock=clock)
    staging = tmp_path / "staging.tmp"
    staging.touch()
    st = staging.stat()
    os.utime(staging, ns=(st.st_atime_ns, st.st_mtime_ns - 5_000_000))
    final = tmp_path / "final.yaml"
    staging.rename(final)
    assert Snapshot.of(final.stat()).ctime_ns > Snapshot.of(final.stat()).mtime_ns
    tracker.observe(final)
    assert tracker.take_ready() == []
    clock.now += 0.5
    assert tracker.take_ready() == [final]


def test_observing_a_file_never_seen_that_is_gone_is_nothing(tmp_path: Path) -> None:
    tracker = ReadinessTracker(0.5, clock=FakeClock())
    tracker.observe(tmp_path / "gone.yaml")  # an event for a file deleted at once
    assert len(tracker) == 0 and tracker.take_ready() == []


def test_unreadable_metadata_is_handed_over_once_stable(tmp_path: Path, clock: FakeClock) -> None:
    """stat() refused (EACCES on the way): the reader opens it and reports why, with the name."""
    path = tmp_path / "locked.yaml"

    def refused(_path: Path) -> os.stat_result:
        raise PermissionError(13, "Permission denied", str(_path))

    tracker = ReadinessTracker(0.5, clock=clock, stat=refused)
    tracker.observe(path)
    assert path in tracker and tracker.take_ready() == []
    clock.now += 0.5
    assert tracker.take_ready() == [path]


def test_a_file_still_waiting_does_not_hold_back_one_that_is_ready(
    tmp_path: Path, clock: FakeClock
) -> None:
    tracker = ReadinessTracker(0.5, clock=clock)
    slow = written_in_place(tmp_path / "slow.yaml", b"title: x\n")
    tracker.observe(slow)  # first in the tracker, and not finished
    staging = tmp_path / "staging.tmp"
    staging.write_bytes(b"title: y\n")
    st = staging.stat()
    os.utime(staging, ns=(st.st_atime_ns, st.st_mtime_ns - 5_000_000))
    renamed = tmp_path / "renamed.yaml"
    staging.rename(renamed)
    tracker.observe(renamed)
    assert tracker.take_ready() == [renamed]
    assert slow in tracker
