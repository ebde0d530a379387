"""A Ray replica: one pipeline, loaded once, denoising one job at a time for the daemon.

This module runs inside Ray worker processes (daemon/raybackend.py makes the
actors from it); it imports ray only there. A replica never writes files or
rows: it streams back what daemon/denoise.py yields (the job's Conditioning,
per-step Progress, each finished batch) and the daemon saves them.

The denoising runs on a thread of its own inside the replica so that per-step
progress, reported from inside the pipeline call, can be yielded as it
happens; `cancel` runs in a separate concurrency group, so it is served while
`generate` is busy, and the step loop stops at the next step.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray  # this module is imported only where ray is: in raybackend and in Ray's workers

from daemon.denoise import Interrupted, JobSpec, denoise_job
from daemon.models import LoadedModel, load_model
from gladtui.config import GenerationConfig

__all__ = ["INTERRUPTED", "Replica"]

INTERRUPTED = "interrupted"  # what `generate` yields when a cancel stopped its step loop
_END = object()


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

    def generate(self, spec: JobSpec) -> Iterator[Any]:
        """Yields the Conditioning, Progress after each step, each DoneBatch; or INTERRUPTED."""
        self.load()
        assert self._model is not None
        model = self._model
        self._cancel.clear()
        events: queue.Queue[Any] = queue.Queue()

        def work() -> None:
            try:
                for event in denoise_job(model, spec, events.put, self._cancel.is_set):
                    events.put(event)
            except Interrupted:
                events.put(INTERRUPTED)
            except BaseException as exc:
                events.put(exc)  # re-raised below, on the thread Ray reports from
            finally:
                events.put(_END)

        worker = threading.Thread(target=work, name="denoise", daemon=True)
        worker.start()
        while (event := events.get()) is not _END:
            if isinstance(event, BaseException):
                raise event
            yield event
        worker.join()

    def pid(self) -> int:
        return os.getpid()
