"""A Ray replica: one pipeline, loaded once, denoising one job at a time for the daemon.

This module runs inside Ray worker processes (daemon/generation/ray/backend.py makes the
actors from it); it imports ray only there. A replica never writes files or
rows: the daemon starts a job with `start` and pulls what daemon/generation/denoise.py
yields (the job's Conditioning, per-step Progress, each finished batch) with
`poll`, and saves it.

Pulling rather than a streaming actor method, because Ray Client (`ray://`
addresses, KubeRay's usual way in) cannot iterate a streaming generator
(measured with 2.60: "'ClientObjectRef' object is not iterable"); a poll is a
plain call every client supports. The denoising runs on a thread of its own
inside the replica, so a poll answers as soon as a step is done; `cancel` runs
in a separate concurrency group, served between polls and during them, and the
step loop stops at its next step.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
from pathlib import Path
from typing import Any

import ray  # this module is imported only where ray is: in raybackend and in Ray's workers

from daemon.generation.denoise import Interrupted, JobSpec, denoise_job
from daemon.generation.models import LoadedModel, load_model
from gladtui.config import GenerationConfig

__all__ = ["INTERRUPTED", "Replica"]

INTERRUPTED = "interrupted"  # what `poll` returns last when a cancel stopped the step loop
FINISHED = "finished"  # what `poll` returns last when the job is done


class Replica:
    """Plain class; raybackend wraps it with `ray.remote(...)` and its resources."""

    def __init__(self, generation: GenerationConfig, cache_dir: str, torch_threads: int) -> None:
        import torch

        # Several replicas share a machine's cores: without this each takes them all.
        torch.set_num_threads(torch_threads)
        self._config = generation
        self._cache_dir = Path(cache_dir)
        self._model: LoadedModel | None = None
        self._cancel = threading.Event()
        self._events: queue.Queue[Any] = queue.Queue()
        self._worker: threading.Thread | None = None

    def load(self) -> dict[str, Any]:
        """Load the pipeline (once); where it runs, for `gladtui status`."""
        if self._model is None:
            self._model = load_model(self._config, cache_dir=self._cache_dir)
        model = self._model
        return {
            "device": model.device,
            "load_seconds": model.load_seconds,
            "speed": model.speed.describe(),
            "compile_seconds": model.speed.compile_seconds,
            "node": socket.gethostname(),
            "pid": os.getpid(),
        }

    @ray.method(concurrency_group="control")
    def cancel(self) -> None:
        self._cancel.set()

    def start(self, spec: JobSpec) -> None:
        """Begin denoising the job; `poll` hands over what it makes."""
        self.load()
        assert self._model is not None
        model = self._model
        if self._worker is not None:
            self._worker.join()  # a cancelled job's loop ends at its next step
        self._cancel.clear()
        events: queue.Queue[Any] = queue.Queue()
        self._events = events

        def work() -> None:
            try:
                for event in denoise_job(model, spec, events.put, self._cancel.is_set):
                    events.put(event)
                events.put(FINISHED)
            except Interrupted:
                events.put(INTERRUPTED)
            except BaseException as exc:
                events.put(exc)  # raised in the daemon, where the job's ending is decided

        self._worker = threading.Thread(target=work, name="denoise", daemon=True)
        self._worker.start()

    def poll(self, wait_seconds: float) -> list[Any]:
        """What the job made since the last poll, in order; waits up to `wait_seconds`
        for the first of it. Ends with FINISHED, INTERRUPTED or the exception."""
        try:
            made = [self._events.get(timeout=wait_seconds)]
        except queue.Empty:
            return []
        while True:
            try:
                made.append(self._events.get_nowait())
            except queue.Empty:
                return made

    def pid(self) -> int:
        return os.getpid()
