"""Saving finished batches while the next batch denoises: PNGs, thumbnails, rows.

A `BatchWriter` is one thread behind one model (or one Ray replica). The
generator hands it each finished batch and goes straight back to denoising;
the writer encodes the PNGs (with their metadata) and thumbnails, then stores
the batch's rows in one commit. When a job's last batch is stored, the writer
moves the task to review and completes the job, in one commit.

Bounded: a hand-over waits while the previous batch is still being saved, so
at most one finished batch waits behind the model and memory stays flat.
Crash-safe as before: a row commits only after its file is complete (written
atomically), a file whose row never committed is removed when the job runs
again (daemon/generation/generator.py, `_missing_indexes`), and a job whose batches are
not all stored is still running in the store, so it resumes after a restart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.generation.denoise import Conditioning, DoneBatch, JobSpec
from daemon.generation.endings import JobEndings
from daemon.generation.images import (
    a1111_parameters,
    thumbnail_of,
    variation_filename,
    write_png_atomically,
)
from daemon.generation.progress import ProgressBoard
from daemon.store import JobRecord, NewVariation, Store, TaskRecord
from daemon.store.jobkinds import generation_of
from gladtui.config import Config
from gladtui.filemodes import make_folders
from gladtui.shapes import EventKind, TaskStatus

__all__ = ["BatchWriter", "FinishedBatch", "thumbnail_path"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinishedBatch:
    job: JobRecord
    task: TaskRecord
    spec: JobSpec
    conditioning: Conditioning
    done: DoneBatch


@dataclass(frozen=True)
class _JobDone:
    job: JobRecord
    task_id: str
    count: int


class BatchWriter:
    """Start with `start()`; `close()` saves what was handed over, then ends the thread."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        endings: JobEndings,
        progress: ProgressBoard,
        on_saved: Callable[[int], None] = lambda _count: None,
        name: str = "writer",
    ) -> None:
        self.store = store
        self.config = config
        self.endings = endings
        self.progress = progress
        self._on_saved = on_saved
        self._items: queue.Queue[FinishedBatch | _JobDone | None] = queue.Queue()
        self._slot = threading.Semaphore(1)  # one finished batch at a time
        self._failed: set[tuple[int, int]] = set()  # (job, attempt): a retry starts afresh
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> BatchWriter:
        self._thread.start()
        return self

    # -- from the generator's thread ----------------------------------------------------

    def put(self, batch: FinishedBatch) -> None:
        """Hand a finished batch over; waits while the previous one is still being saved."""
        self._slot.acquire()
        self._items.put(batch)

    def job_done(self, job: JobRecord, task_id: str, count: int) -> None:
        """Every batch of the job is handed over: review once they are all stored."""
        self._items.put(_JobDone(job, task_id, count))

    def failed(self, job: JobRecord) -> bool:
        """Did saving a batch of this attempt fail? (The writer has then ended the job.)"""
        return (job.id, job.attempts) in self._failed

    def flush(self) -> None:
        """Wait until everything handed over is saved (or has failed)."""
        self._items.join()

    def close(self) -> None:
        if self._thread.is_alive():
            self._items.put(None)
            self._thread.join()

    # -- the writer's thread ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._items.get()
            try:
                if item is None:
                    return
                if not self.failed(item.job):
                    self._handle(item)
            finally:
                if isinstance(item, FinishedBatch):
                    self._slot.release()
                self._items.task_done()

    def _handle(self, item: FinishedBatch | _JobDone) -> None:
        task_id = item.task.id if isinstance(item, FinishedBatch) else item.task_id
        try:
            if isinstance(item, FinishedBatch):
                self._save(item)
            else:
                self._complete(item)
        except Exception as exc:
            self._failed.add((item.job.id, item.job.attempts))
            try:
                self.endings.failed(item.job, task_id, exc)
            except Exception:  # the store itself is failing: the job resumes after restart
                log.exception(
                    "task %s: could not record the failure of job %d", task_id, item.job.id
                )
            self.progress.finish(task_id)

    def _save(self, batch: FinishedBatch) -> None:
        done = batch.done
        # PNG encoding releases the GIL: the images of a batch are written in parallel.
        with ThreadPoolExecutor(max_workers=len(done.indexes), thread_name_prefix="png") as pool:
            rows = list(
                pool.map(lambda n, im: self._save_one(batch, n, im), done.indexes, done.images)
            )
        with self.store.transaction():  # one commit per batch, not per image
            for row in rows:
                self.store.variations.add(row)
                self.store.events.add(
                    EventKind.VARIATION_ADDED, batch.task.id, detail={"index": row.idx}
                )
        self._on_saved(len(rows))

    def _complete(self, done: _JobDone) -> None:
        # One commit: a reader never sees the task in review with its job still running.
        with self.store.transaction():
            self.store.tasks.set_status(
                done.task_id, TaskStatus.REVIEW, expected=TaskStatus.GENERATING
            )
            self.store.jobs.complete(done.job.id)
        log.info("task %s: %d variation(s) ready for review", done.task_id, done.count)
        self.progress.finish(done.task_id)

    def _save_one(self, batch: FinishedBatch, n: int, image: Any) -> NewVariation:
        """Write the PNG and its thumbnail; the row is stored by the caller, per batch."""
        task, spec, cond = batch.task, batch.spec, batch.conditioning
        recipe, seed = spec.recipe, spec.seed_for(n)
        when = self.store.now()  # the store's clock, so file names and rows agree
        path = self.config.preview_dir / variation_filename(task.id, n, when)
        make_folders(path.parent)  # the preview folder, deleted while the daemon ran
        parameters = a1111_parameters(
            prompt=spec.prompt,
            negative_prompt=spec.negative_prompt,
            steps=recipe.steps,
            sampler=cond.sampler.label,
            schedule_type=cond.sampler.schedule,
            cfg_scale=recipe.guidance_scale,
            seed=seed,
            width=spec.width,
            height=spec.height,
            model=cond.model,
            vae=cond.vae,
            loras=cond.loras,
        )
        additions = generation_of(batch.job.payload).additions
        text = None if additions is None else json.dumps(additions, ensure_ascii=False)
        with _naming(path):
            write_png_atomically(image, path, parameters=parameters, additions=text)
        thumbnail = thumbnail_path(self.config.thumbnail_dir, task.id, n)
        with _naming(thumbnail):
            thumbnail_of(image, thumbnail)
        return NewVariation(
            task_id=task.id,
            idx=n,
            path=str(path),
            thumbnail=str(thumbnail),
            seed=seed,
            prompt=spec.prompt,
            negative_prompt=spec.negative_prompt,
            width=spec.width,
            height=spec.height,
            steps=recipe.steps,
            guidance_scale=recipe.guidance_scale,
            model=cond.model,
            scheduler=recipe.scheduler,
            sampler=cond.sampler.full,
            loras=dict(recipe.loras),
            preset=recipe.preset,
            from_variation=recipe.from_variation,
            additions=additions,
        )


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Make an OSError name `path`, the file being written, so the task's error says where.

    As raised, a full disk names no file at all (a failed write() has none) and a
    read-only or forbidden folder names the hidden temp file the write goes through.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc  # same subclass, by errno


def thumbnail_path(thumbnail_dir: Path, task_id: str, index: int) -> Path:
    return thumbnail_dir / f"{task_id}-{index}.png"
