"""A finished batch is saved while the next one denoises, with at most one batch waiting."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from types import FrameType

from daemon.generation import writeback
from daemon.generation.models import LoadedModel
from daemon.generation.progress import Progress
from gladtui.shapes import TaskStatus
from tests.apidaemon import wait_until
from tests.daemon.generation.test_generate import Running

STEPS = 3


def blocked_handing_over() -> bool:
    """Is a thread waiting on a lock inside BatchWriter.put (the writer's one slot)?"""
    for top in sys._current_frames().values():
        frame: FrameType | None = top
        while frame is not None and frame.f_code.co_filename == threading.__file__:
            frame = frame.f_back  # the lock's own frames, up to its caller
        if frame is not top and frame is not None:
            code = frame.f_code
            if code.co_name == "put" and code.co_filename == writeback.__file__:
                return True
    return False


def test_the_next_batch_denoises_while_the_last_is_saved_and_one_batch_at_most_waits(
    tmp_path: Path, tiny: LoadedModel
) -> None:
    running = Running(tmp_path, tiny, batch_size=1)
    store, previews = running.store, running.config.preview_dir
    holding, release = threading.Event(), threading.Event()
    steps_seen: list[int] = []

    def hold_the_database() -> None:
        # A writer thread holding the store: the generator's writer cannot commit.
        with store.transaction():
            holding.set()
            release.wait(60)

    def on_progress(progress: Progress) -> None:
        steps_seen.append(progress.step)
        if progress.step == 1:  # inside batch 1's step loop: before anything is saved
            threading.Thread(target=hold_the_database).start()
            holding.wait(10)

    running.progress.subscribe(on_progress)
    try:
        running.add_task("overlap", variations=3, steps=STEPS)
        deadline = time.monotonic() + 60
        # Batch 2 denoises all its steps although batch 1 cannot be committed yet.
        while max(steps_seen, default=0) < 2 * STEPS:
            assert time.monotonic() < deadline, f"batch 2 did not run: {steps_seen}"
            time.sleep(0.02)
        assert store.variations.list("overlap") == []
        # The generator waits to hand batch 2 over (a wrong implementation would go on to
        # batch 3 instead, and never wait there: this then times out).
        wait_until(blocked_handing_over)
        # Batch 1 waits for its commit, batch 2 waits for the writer: batch 3 has not begun.
        assert max(steps_seen) == 2 * STEPS
        assert len(list(previews.glob("sdxl-overlap-variation-1-*.png"))) == 1
        assert list(previews.glob("sdxl-overlap-variation-2-*.png")) == []
        release.set()
        running.wait_for("overlap", TaskStatus.REVIEW)
        assert [v.idx for v in store.variations.list("overlap")] == [1, 2, 3]
        assert len(list(previews.glob("sdxl-overlap-variation-*.png"))) == 3
    finally:
        release.set()
        running.close()


def test_a_stop_saves_the_batches_already_denoised_and_hands_the_rest_back(
    tmp_path: Path, tiny: LoadedModel
) -> None:
    running = Running(tmp_path, tiny, batch_size=1)

    def on_progress(progress: Progress) -> None:
        if progress.step == STEPS + 1:  # batch 2 has begun: batch 1 is finished
            running.stop.set()

    running.progress.subscribe(on_progress)
    running.add_task("stopped", variations=3, steps=STEPS)
    running.thread.join(timeout=60)
    assert not running.thread.is_alive()
    task = running.store.tasks.get("stopped")
    assert task is not None and task.status is TaskStatus.QUEUED
    assert [v.idx for v in running.store.variations.list("stopped")] == [1]
    previews = running.config.preview_dir
    assert len(list(previews.glob("sdxl-stopped-variation-*.png"))) == 1
    running.store.close()
