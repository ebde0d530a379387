"""Generation jobs: queued tasks become PNG variations in the preview folder.

Worker threads claim `generate` jobs from the store (rows, not memory, so a
daemon killed mid-job resumes it), one thread per runner of the configured
backend (daemon/generation/backend.py: the pipeline in this process, or Ray replicas).
A job names the variation indexes it makes (`first_index`, `count`): on a
retry or after a crash, indexes that already have a row are kept and only the
missing ones are generated, so a task always ends with exactly the variations
it asked for.

The runner denoises (daemon/generation/denoise.py); each finished batch goes to that
runner's writer (daemon/generation/writeback.py), which saves it while the next batch
denoises and puts the task in review once its last batch is stored.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from daemon.generation.backend import (
    Backend,
    LocalBackend,
    LocalRunner,
    ModelLoader,
    ReplicaState,
    Runner,
)
from daemon.generation.denoise import Conditioning, Interrupted, JobSpec
from daemon.generation.endings import JobEndings
from daemon.generation.images import variation_files
from daemon.generation.models import ModelError, load_model
from daemon.generation.previewdecode import preview_decoder
from daemon.generation.previews import PreviewBoard, PreviewMaker
from daemon.generation.progress import ProgressBoard
from daemon.generation.recipes import recipe_for
from daemon.generation.writeback import BatchWriter, FinishedBatch
from daemon.store import JobRecord, Store, TaskRecord
from daemon.store.jobkinds import GENERATE, Generation, generation_of
from daemon.store.jobworker import JobLoop
from gladtui.config import Config
from gladtui.shapes import TaskStatus

__all__ = ["Generator", "GeneratorState", "ModelLoader"]

log = logging.getLogger(__name__)

RANDOM_SEED_RANGE = 2**32 - 1  # drawn seeds stay where other tools draw theirs (portable)
RETRY_BASE_SECONDS = 5.0


@dataclass
class GeneratorState:
    """What `gladtui status` shows about generation."""

    model: str
    backend: str = "local"
    device: str | None = None
    state: str = "starting"  # loading | idle | generating | unavailable
    error: str | None = None
    load_seconds: float | None = None
    speed: str | None = None
    compile_seconds: float | None = None
    images_generated: int = 0
    replicas: list[ReplicaState] = field(default_factory=list)

    def settle(self) -> None:
        """The summary of the replicas: generating if any is, the first one's device."""
        states = [r.state for r in self.replicas]
        for state in ("generating", "idle", "loading", "unavailable"):
            if state in states:
                self.state = state
                break
        errors = [r.error for r in self.replicas if r.error]
        self.error = errors[0] if errors and self.state == "unavailable" else None
        loaded = [r for r in self.replicas if r.device]
        if loaded:
            first = loaded[0]
            self.device, self.load_seconds = first.device, first.load_seconds
            self.speed, self.compile_seconds = first.speed, first.compile_seconds
        self.images_generated = sum(r.images_generated for r in self.replicas)


class Generator:
    """The workers that run `generate` jobs until `stop` is set."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        progress: ProgressBoard,
        stop: threading.Event,
        loader: ModelLoader | None = None,
        retry_base_seconds: float = RETRY_BASE_SECONDS,
        backend: Backend | None = None,
        previews: PreviewBoard | None = None,
        preview_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`backend`: where denoising runs, else the one config names (`loader` for local);
        `previews`: where live previews go (the API reads them there);
        `preview_clock`: what paces them (their interval and the decoder's budget)."""
        self.store = store
        self.config = config
        self.progress = progress
        self._stop = stop
        self._jobs = JobLoop(store, [GENERATE], stop)  # shared by the runners' threads
        self._backend = backend or make_backend(config, loader)
        self.endings = JobEndings(store, retry_base_seconds=retry_base_seconds)
        self.state = GeneratorState(model=config.generation.model, backend=self._backend.kind)
        self.previews = PreviewMaker(
            previews if previews is not None else PreviewBoard(),
            progress,
            interval=config.generation.preview_interval_seconds,
            clock=preview_clock,
        )
        # Set once the first load has succeeded or failed: systemd's READY waits for it.
        self.model_settled = threading.Event()

    # -- control, from other threads ----------------------------------------------------

    def wake(self) -> None:
        """New work was queued: look now rather than at the next poll."""
        self._jobs.wake()

    def cancel(self, task_id: str) -> None:
        """Stop a running generation of `task_id` at its next denoising step."""
        self.progress.request_cancel(task_id)

    # -- the workers --------------------------------------------------------------------

    def run(self) -> None:
        """Start the backend, then run jobs until stopped. Blocks; run it in its own thread.

        The backend starts and stops on this thread: Ray ties its processes to it.
        """
        try:
            runners = self._start_backend()
            workers = [
                threading.Thread(target=self._serve, args=(r,), name=f"generator-{r.state.name}")
                for r in runners
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        finally:
            self._backend.stop()
            self.previews.close()
            self.model_settled.set()
        log.info("generator stopped")

    def _start_backend(self) -> list[Runner]:
        try:
            runners = self._backend.start()
        except ModelError as exc:  # a cluster that cannot be reached: nothing to serve
            self.state.state, self.state.error = "unavailable", str(exc)
            log.error("generation backend unavailable: %s", exc)
            self.model_settled.set()
            self._stop.wait()
            return []
        self.state.replicas = [r.state for r in runners]
        loads = [threading.Thread(target=self._load, args=(r,)) for r in runners]
        for thread in loads:
            thread.start()
        for thread in loads:
            thread.join()
        return runners

    def _load(self, runner: Runner) -> None:
        log.info("loading model %s (%s)", self.config.generation.model, runner.state.name)
        try:
            runner.load()
        except ModelError as exc:  # reported in state; each job retries it
            log.error("model unavailable (%s): %s", runner.state.name, exc)
        else:
            s = runner.state
            log.info("model loaded on %s (%s) in %.1f s", s.device, s.name, s.load_seconds or 0)
            self._make_previews(runner)
        self.state.settle()

    def _make_previews(self, runner: Runner) -> None:
        """Live previews from the pipeline in this process (not yet from Ray replicas)."""
        if not isinstance(runner, LocalRunner) or runner.model is None:
            return
        model = runner.model
        self.previews.decoder = preview_decoder(
            self.config.generation, device=model.device, dtype=model.dtype
        )
        runner.previews = self.previews.batch

    def _serve(self, runner: Runner) -> None:
        self.model_settled.set()
        writer = BatchWriter(
            self.store,
            self.config,
            endings=self.endings,
            progress=self.progress,
            on_saved=lambda count: self._saved(runner, count),
            name=f"writer-{runner.state.name}",
        ).start()
        try:
            self._jobs.run(lambda job: self._run_job(runner, writer, job), ready=runner.ready)
        finally:
            writer.close()  # what was denoised is saved before the daemon stops

    def _saved(self, runner: Runner, count: int) -> None:
        runner.state.images_generated += count
        self.state.settle()

    def _run_job(self, runner: Runner, writer: BatchWriter, job: JobRecord) -> None:
        task = self.store.tasks.get(job.task_id or "")
        if task is None or task.status not in (TaskStatus.QUEUED, TaskStatus.GENERATING):
            log.info("job %d skipped: task %s is no longer waiting", job.id, job.task_id)
            self.store.jobs.complete(job.id)
            return
        runner.state.state, runner.state.task_id = "generating", task.id
        self.state.settle()
        try:
            self._generate(runner, writer, job, task)
        except Exception as exc:
            writer.flush()  # batches finished before the fault are kept
            if not writer.failed(job):
                self._end_early(job, task.id, exc)
            self.progress.finish(task.id)
        finally:
            state = runner.state
            state.state = "idle" if state.state == "generating" else state.state
            state.task_id = None
            self.state.settle()

    def _end_early(self, job: JobRecord, task_id: str, exc: Exception) -> None:
        if isinstance(exc, Interrupted) and self._stop.is_set():
            self.endings.hand_back(job, task_id)
        elif isinstance(exc, Interrupted):
            self.endings.cancelled(job, task_id)
        else:
            self.endings.failed(job, task_id, exc)

    def _generate(
        self, runner: Runner, writer: BatchWriter, job: JobRecord, task: TaskRecord
    ) -> None:
        if self.progress.cancel_requested(task.id):
            raise Interrupted
        task = self.store.tasks.set_status(
            task.id,
            TaskStatus.GENERATING,
            expected=[TaskStatus.QUEUED, TaskStatus.GENERATING],
        )
        runner.load()
        seed = task.seed
        if seed is None:
            seed = random.SystemRandom().randint(0, RANDOM_SEED_RANGE)
            task = self.store.tasks.set_seed(task.id, seed)
        gen, order = self.config.generation, generation_of(job.payload)
        spec = JobSpec(
            task_id=task.id,
            prompt=order.prompt or task.prompt,
            negative_prompt=task.negative_prompt,
            recipe=recipe_for(task, order.overrides),
            width=task.width,
            height=task.height,
            base_seed=seed,
            indexes=self._missing_indexes(order, task.id),
            batch_size=gen.batch_size,
            lora_dir=gen.lora_dir,
            max_prompt_tokens=gen.max_prompt_tokens,
        )
        conditioning: Conditioning | None = None

        def interrupted() -> bool:
            return self.progress.cancel_requested(task.id) or self._stop.is_set()

        with contextlib.closing(runner.run(spec, self.progress.update, interrupted)) as events:
            for event in events:
                if isinstance(event, Conditioning):
                    conditioning = event
                    self._warn(task, event.warnings)
                    continue
                assert conditioning is not None
                writer.put(FinishedBatch(job, task, spec, conditioning, event))
                if writer.failed(job):
                    return  # the writer has ended the job
        writer.job_done(job, task.id, len(spec.indexes))

    def _warn(self, task: TaskRecord, warnings: list[str]) -> None:
        """Warnings from preparing the job (a LoRA not found, …) go on the task."""
        for warning in warnings:
            log.warning("task %s: %s", task.id, warning)
        if warnings != task.warnings:
            self.store.tasks.set_warnings(task.id, warnings)

    def _missing_indexes(self, order: Generation, task_id: str) -> list[int]:
        existing = {v.idx for v in self.store.variations.list(task_id, include_removed=True)}
        todo = [n for n in order.indexes if n not in existing]
        for n in todo:  # a file written just before a crash, whose row never committed
            for orphan in variation_files(self.config.preview_dir, task_id, n):
                with contextlib.suppress(FileNotFoundError):
                    orphan.unlink()
        return todo


def make_backend(config: Config, loader: ModelLoader | None) -> Backend:
    """The configured backend; ray is imported only when it is the one configured."""
    if config.generation.backend == "ray":
        from daemon.generation.ray.backend import RayBackend

        return RayBackend(config)
    return LocalBackend(
        loader or (lambda: load_model(config.generation, cache_dir=config.cache_dir))
    )
