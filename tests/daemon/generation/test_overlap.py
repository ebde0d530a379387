"""A finished batch is saved while the next one denoises, with at most one batch waiting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from daemon.generation.models import LoadedModel
from daemon.generation.progress import Progress
from gladtui.shapes import TaskStatus
from tests.daemon.generation.test_generate import Running

STEPS = 3


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
        time.sleep(0.5)  # room for a wrong implementation to go on to batch 3
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
