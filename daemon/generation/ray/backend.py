"""`generation.backend: ray`: the denoising runs on Ray replicas, one pipeline each.

The daemon stays the only writer: a replica (daemon/generation/ray/replica.py) streams
back the job's conditioning, per-step progress and finished batches, and the
generator saves them as it does for the local backend. Each replica is served
by its own generator thread, so the daemon claims as many jobs as there are
replicas free.

Ray's hazards, met on this machine with 2.60: Ray ties its processes to the
thread that started it (the generator's thread starts and stops it here); a
bare `ray.init()` attaches to any cluster running on the machine (hence
`address` is always explicit); `ray stop` kills every Ray on the machine (the
daemon shuts down only the Ray it started); Unix socket paths are short, so a
Ray started here gets a short temp folder.

A replica that dies (or a cluster that goes away) fails the job it was
running with a retryable error, so the job is handed back and retried; the
replica is made again when the next job needs it. The daemon outlives a
cluster it joined and joins it again when it is back (daemon/generation/ray/connection.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Generator
from typing import Any

from daemon.generation.backend import ReplicaState, Runner
from daemon.generation.denoise import Interrupted, JobEvent, JobSpec, Report
from daemon.generation.models import ModelError
from daemon.generation.progress import Progress
from daemon.generation.ray import leftovers
from daemon.generation.ray.connection import ClusterConnection
from gladtui.config import Config

__all__ = ["RayBackend", "ReplicaLost"]

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # a poll waits this long for the replica's next event (see rayreplica)


class ReplicaLost(RuntimeError):
    """A replica died or the cluster went away mid-job: retryable, the job is handed back."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ModelError(
            "generation.backend is ray, but ray is not installed: pip install 'gladtui[ray]' "
            "(or set generation.backend: local)"
        ) from exc
    return ray


class RayBackend:
    kind = "ray"

    def __init__(self, config: Config) -> None:
        self.config = config
        self._ray: Any = None
        self._runners: list[RayRunner] = []
        self._temp_dir: str | None = None
        self._owned = True  # did start() connect (and so stop() disconnect)?
        self._cluster: ClusterConnection | None = None  # a cluster joined, not started here
        self._leftovers = config.state_dir / "ray-processes.json"

    def start(self) -> list[Runner]:
        ray = self._ray = _import_ray()
        settings = self.config.generation.ray
        # Before joining: its `@ray.method` runs as it is imported, and after a failed
        # `ray://` join Ray routes that to a client that is not connected, which raises
        # (Ray 2.60); a join that fails must leave the jobs to knock again, not end here.
        from daemon.generation.ray.replica import Replica

        self._init(ray, settings.address)
        # `cancel` has a thread of its own, so it is served while `generate` runs.
        actor_class = ray.remote(concurrency_groups={"control": 1})(Replica)
        threads = settings.torch_threads or max(1, (os.cpu_count() or 1) // settings.replicas)
        options = {
            "num_cpus": settings.cpus_per_replica,
            "num_gpus": settings.gpus_per_replica,
            "max_concurrency": 1,
        }
        self._runners = [
            RayRunner(ray, actor_class, f"replica-{n}", options, self.config, threads)
            for n in range(1, settings.replicas + 1)
        ]
        for runner in self._runners:
            runner.cluster = self._cluster
        return list(self._runners)

    def _init(self, ray: Any, address: str) -> None:
        if ray.is_initialized():
            # This process is already a Ray driver (whoever embedded the daemon, or a
            # test session): use that connection, and leave stopping it to its owner.
            log.info("using the Ray this process is already connected to")
            self._owned = False
            return
        if address != "local":
            self._cluster = ClusterConnection(ray, address)
            try:
                self._cluster.connect()
            except ModelError as exc:  # not fatal: each job knocks again
                log.error("%s; jobs wait for it", exc)
            return
        settings = self.config.generation.ray
        leftovers.reap(self._leftovers)
        # A Ray of its own, in a short temp folder (its sockets live there).
        self._temp_dir = tempfile.mkdtemp(prefix="gtray-", dir="/tmp")
        needed = settings.replicas * settings.cpus_per_replica
        log.info("starting Ray (address local)")
        try:
            ray.init(
                address="local",
                log_to_driver=False,
                include_dashboard=False,
                _temp_dir=self._temp_dir,
                num_cpus=max(os.cpu_count() or 1, needed),
                # Ray runs its workers 15 steps nicer than the daemon by default: the
                # replicas, which are the generation, then starved behind any other
                # busy process (measured: CI beside `stress-ng --cpu 2` gave them ~6 %
                # of a core). They run as the daemon does; the service's Nice= rules both.
                _system_config={"worker_niceness": 0},
            )
        except Exception as exc:  # no room for its processes, /tmp not writable
            raise ModelError(f"cannot start Ray: {exc}") from exc
        leftovers.note(self._leftovers)
        log.info("Ray up: %s", ray.cluster_resources())

    def stop(self) -> None:
        ray = self._ray
        if ray is None:
            return
        if self._cluster is None or self._cluster.answers():  # else a kill would wait for it
            for runner in self._runners:
                runner.kill()
        if self._owned:
            ray.shutdown()  # a local Ray stops with it; a cluster keeps running
            leftovers.forget(self._leftovers)
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
        log.info("Ray stopped")


class RayRunner:
    """One replica: an actor made on first use and made again after it dies."""

    def __init__(
        self,
        ray: Any,
        actor_class: Any,
        name: str,
        options: dict[str, Any],
        config: Config,
        torch_threads: int,
    ) -> None:
        self._ray = ray
        self._actor_class = actor_class
        self._options = options
        self._args = (config.generation, str(config.cache_dir), torch_threads)
        self._actor: Any = None
        self._loaded = False
        self.state = ReplicaState(name=name)
        self.cluster: ClusterConnection | None = None  # a joined cluster, checked before each job
        self._epoch = 0  # the cluster session the actor was made in

    def load(self) -> None:
        self._check_cluster()
        if self._actor is not None and self._loaded:
            return
        ray, state = self._ray, self.state
        state.state = "loading"
        try:
            if self._actor is None:
                self._actor = self._actor_class.options(**self._options).remote(*self._args)
            info = ray.get(self._actor.load.remote())
        except ray.exceptions.RayTaskError as exc:  # the model itself: ModelError's message
            state.state, state.error = "unavailable", str(exc.cause)
            raise ModelError(str(exc.cause)) from exc
        except ray.exceptions.RayError as exc:
            self._lost(exc)
            state.error = f"{state.name} could not start: {exc}"
            raise ModelError(state.error) from exc
        self._loaded = True
        state.state, state.error = "idle", None
        state.device, state.node = info["device"], info["node"]
        state.load_seconds, state.pid = info["load_seconds"], info["pid"]
        state.speed, state.compile_seconds = info["speed"], info["compile_seconds"]

    def run(
        self, spec: JobSpec, report: Report, interrupted: Callable[[], bool]
    ) -> Generator[JobEvent, None, None]:
        self.load()
        ray, actor = self._ray, self._actor
        cancelled = finished = False
        try:
            ray.get(actor.start.remote(spec))
            while not finished:
                for event in ray.get(actor.poll.remote(POLL_SECONDS)):
                    finished = self._took(event, report)
                    if isinstance(event, JobEvent):
                        yield event
                if not cancelled and interrupted():
                    actor.cancel.remote()  # the remote step loop stops at its next step
                    cancelled = True
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            raise cause if isinstance(cause, Exception) else ReplicaLost(str(exc)) from exc
        except ray.exceptions.RayError as exc:  # the actor died, the cluster went away
            self._lost(exc)
            self.state.error = f"{self.state.name} was lost mid-job: {exc}"
            raise ReplicaLost(self.state.error) from exc
        finally:
            if not finished and not cancelled and self._actor is actor:
                actor.cancel.remote()  # left early (the writer failed): free the replica

    @staticmethod
    def _took(event: Any, report: Report) -> bool:
        """Handle what a poll brought: True when the job is done; raises how it ended badly."""
        from daemon.generation.ray.replica import FINISHED, INTERRUPTED

        if isinstance(event, Progress):
            report(event)
        elif isinstance(event, Exception):
            raise event
        elif event == INTERRUPTED:
            raise Interrupted
        return bool(event == FINISHED)

    def ready(self) -> bool:
        return self.cluster is None or self.cluster.ready()

    def _check_cluster(self) -> None:
        """Before each job on a joined cluster: is it there, and is this the same session?"""
        if self.cluster is None:
            return
        try:
            epoch = self.cluster.ensure()
        except ModelError as exc:
            self._forget()
            self.state.error = str(exc)
            raise
        if epoch != self._epoch:  # an actor of a lost session is gone with it
            self._actor, self._loaded, self._epoch = None, False, epoch

    def _lost(self, exc: Exception) -> None:
        """The actor died (made again on the next job), or the cluster went with it."""
        if self.cluster is not None and not isinstance(exc, self._ray.exceptions.ActorDiedError):
            self.cluster.lost()  # no kill: a Ray call would wait for the cluster
        elif self._actor is not None:
            self.kill()
        self._forget()

    def _forget(self) -> None:
        self._actor, self._loaded = None, False
        self.state.state, self.state.pid = "unavailable", None

    def kill(self) -> None:
        if self._actor is not None:
            try:
                self._ray.kill(self._actor)
            except Exception as exc:  # already gone with its node or the cluster
                log.debug("%s: kill: %s", self.state.name, exc)
