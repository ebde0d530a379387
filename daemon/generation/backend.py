"""Where the denoising runs: in the daemon (`local`) or on Ray replicas (`ray`).

A backend starts one or more `Runner`s. Each runner denoises one job at a time
(daemon/generation/denoise.py) and reports what it is doing in its `ReplicaState`; the
generator gives each runner its own worker thread and writer, so the daemon
claims as many jobs as there are runners free. Only the daemon writes files
and rows, whatever the backend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol

from daemon.generation.denoise import JobEvent, JobSpec, PreviewBatches, Report, denoise_job
from daemon.generation.models import LoadedModel, ModelError

__all__ = ["Backend", "LocalBackend", "ModelLoader", "ReplicaState", "Runner"]

log = logging.getLogger(__name__)

ModelLoader = Callable[[], LoadedModel]


@dataclass
class ReplicaState:
    """One runner as `gladtui status` shows it."""

    name: str
    state: str = "starting"  # starting | loading | idle | generating | unavailable
    task_id: str | None = None
    device: str | None = None
    node: str | None = None  # the host it runs on
    pid: int | None = None
    error: str | None = None
    load_seconds: float | None = None
    speed: str | None = None  # the GPU speed switches in effect (daemon/generation/speedups.py)
    compile_seconds: float | None = None
    images_generated: int = 0


class Runner(Protocol):
    state: ReplicaState

    def load(self) -> None:
        """Make sure the pipeline is loaded; ModelError (with what to do) if it cannot be."""

    def ready(self) -> bool:
        """Can it take a job now? (No while the Ray cluster it runs on is away.)"""
        ...  # pragma: no cover

    def run(
        self, spec: JobSpec, report: Report, interrupted: Callable[[], bool]
    ) -> Generator[JobEvent, None, None]:
        """Denoise the job: its Conditioning, then each finished batch."""
        ...  # pragma: no cover


class Backend(Protocol):
    kind: str

    def start(self) -> list[Runner]:
        """The runners; from the thread that will call `stop` (Ray wants that)."""
        ...  # pragma: no cover

    def stop(self) -> None: ...


class LocalRunner:
    """The pipeline in this process, loaded once and reused."""

    def __init__(self, loader: ModelLoader) -> None:
        self._loader = loader
        self._model: LoadedModel | None = None
        self.state = ReplicaState(name="local")
        self.previews: PreviewBatches | None = None  # live previews, when the daemon makes them

    @property
    def model(self) -> LoadedModel | None:
        return self._model

    def load(self) -> None:
        if self._model is not None:
            return
        self.state.state = "loading"
        try:
            model = self._loader()
        except ModelError as exc:
            self.state.state, self.state.error = "unavailable", str(exc)
            raise
        self._model = model
        self.state.state, self.state.error = "idle", None
        self.state.device, self.state.load_seconds = model.device, model.load_seconds
        self.state.speed = model.speed.describe()
        self.state.compile_seconds = model.speed.compile_seconds

    def ready(self) -> bool:
        return True

    def run(
        self, spec: JobSpec, report: Report, interrupted: Callable[[], bool]
    ) -> Generator[JobEvent, None, None]:
        self.load()
        assert self._model is not None
        return denoise_job(self._model, spec, report, interrupted, self.previews)


class LocalBackend:
    kind = "local"

    def __init__(self, loader: ModelLoader) -> None:
        self._loader = loader

    def start(self) -> list[Runner]:
        return [LocalRunner(self._loader)]

    def stop(self) -> None:
        pass
