"""The daemon process: wires the store, the workers and the API; signals and recovery.

`Daemon` is the in-process object (tests run it in a thread with their own
stop event); `main` is what `gladtui daemon` and the system service run: it
adds logging, SIGTERM/SIGINT handling and systemd's notify protocol around it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from daemon.api.server import ApiServer
from daemon.api.unixsocket import SocketError
from daemon.generation.generator import Generator, ModelLoader
from daemon.generation.previews import PreviewBoard
from daemon.generation.progress import ProgressBoard
from daemon.intake.dropfolder import DropFolder
from daemon.intake.ingest import Ingestor
from daemon.intake.watcher import DropWatcher, polling_requested
from daemon.publishing.cleanup import finish_interrupted
from daemon.publishing.destinations.base import Destination, DestinationUnusable
from daemon.publishing.destinations.factory import make_destination
from daemon.publishing.publish import PublishStep, clear_card_workshop
from daemon.publishing.publishers import make_publisher
from daemon.review.actions import Actions
from daemon.review.decisionworker import DecisionWorker
from daemon.service.folders import FolderError, prepare_folders, privacy_warnings
from daemon.service.logsetup import configure_logging, secrets_of
from daemon.service.statelock import DaemonAlreadyRunning, StateLock, StateLockError
from daemon.service.systemd.notify import Notifier, watchdog_interval
from daemon.service.systemd.pulse import Pulse
from daemon.store import Clock, Store, StoreError, utc_now
from gladtui.atomicfiles import remove_stray_temp_files
from gladtui.config import Config
from gladtui.shapes import TaskStatus

log = logging.getLogger(__name__)

WATCHER_RESTART_SECONDS = 1.0
WATCH_START_TIMEOUT = 10
STOP_TIMEOUT = 30
PULSE_JOIN_SECONDS = 5
SIGNAL_GUARD_SECONDS = 2.0  # how often the stop signals are taken back (see below)
# The daemon process's umask, as the service units set it (UMask=0077): for the
# files libraries make, which take no mode from us (DuckDB's .wal, recreated
# after every checkpoint, and its .tmp spill folder; model caches). gladtui's own
# files have their modes set explicitly (gladtui/filemodes.py).
DAEMON_UMASK = 0o077


class Daemon:
    """Owns the store and the worker threads until `stop` is set."""

    def __init__(
        self,
        config: Config,
        *,
        stop: threading.Event | None = None,
        loader: ModelLoader | None = None,
        socket_path: Path | None = None,
        clock: Clock = utc_now,
        destination: Destination | None = None,
        preview_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` stamps every row the store writes (tests pin it; the daemon uses UTC now);
        `preview_clock` paces the live previews (a test holds it, to know which steps
        get one).

        `destination`: where posts go, else the one the config names. It is
        checked first: DestinationUnusable (with the reason) if posts cannot go there.
        Then the state folder is locked: DaemonAlreadyRunning if another daemon
        holds it, before the database is opened.
        """
        self.config = config
        self.stop_event = stop or threading.Event()
        self.destination = destination or make_destination(config)
        self.destination.check()
        socket_path = socket_path or config.socket_path()
        # Before the database: a second daemon must be told who holds the state
        # folder, not get DuckDB's lock error.
        self.state_lock = StateLock.acquire(config.state_dir, socket_path)
        try:
            self.store = Store.open(config.database_path, clock=clock)
        except BaseException:
            self.state_lock.release()
            raise
        self.progress = ProgressBoard()
        self.previews = PreviewBoard()  # in memory only: never in the preview folder
        self.generator = Generator(
            self.store,
            config,
            progress=self.progress,
            stop=self.stop_event,
            loader=loader,
            previews=self.previews,
            preview_clock=preview_clock,
        )
        self.folder = DropFolder(config.drop_dir)
        self.ingestor = Ingestor(
            self.store,
            self.folder,
            config.task_rules(),
            generation_attempts=config.generation.max_attempts,
            on_queued=self.generator.wake,
        )
        self.watcher = DropWatcher(
            self.folder,
            self.ingestor.ingest,
            stable_seconds=config.watch.stable_seconds,
            rescan_seconds=config.watch.rescan_seconds,
            polling=polling_requested(config.watch.force_polling, os.environ),
            stop=self.stop_event,
        )
        self.actions = Actions(
            self.store,
            config,
            ingestor=self.ingestor,
            cancel_generation=self.generator.cancel,
            work_queued=self._wake_workers,
        )
        self.decision_worker = DecisionWorker(
            self.store,
            config,
            publish=PublishStep(
                self.store, config, make_publisher(config, self.destination), self.destination
            ),
            decisions=self.actions.decisions,
            stop=self.stop_event,
        )
        self.api = ApiServer(
            config,
            self.store,
            actions=self.actions,
            progress=self.progress,
            model=self.generator.state,
            socket_path=socket_path,
            destination=self.destination,
            previews=self.previews,
        )
        self._threads: list[threading.Thread] = []

    def _wake_workers(self) -> None:
        self.generator.wake()
        self.decision_worker.wake()

    def start(self) -> None:
        """Serve the API, then start the workers.

        FolderError if a folder cannot be written, SocketError if the socket
        cannot be bound. The folders are checked first, so a daemon that could
        not save its work never answers; then the deletions a stop interrupted
        are finished (daemon/publishing/cleanup.py); the socket comes next: it is bound
        under a umask (process-wide) that must not apply to the files the
        workers write.
        """
        prepare_folders(self.config)
        for warning in privacy_warnings(self.config):
            log.warning("%s", warning)
        # Before anyone can look: files a stop left half-deleted are gone, and say so.
        finish_interrupted(self.store)
        self.api.start()
        requeued = self.store.jobs.requeue_running()
        if requeued:
            log.info("requeued %d job(s) interrupted by the last stop", len(requeued))
        log.info(
            "watching %s (database %s, previews %s)",
            self.folder.root,
            self.store.path,
            self.config.preview_dir,
        )
        self.folder.prepare()
        # Before any writer starts: a temp file now can only be left by the last stop.
        for folder in (self.config.preview_dir, self.config.thumbnail_dir):
            for stray in remove_stray_temp_files(folder):
                log.info("removed %s, a partial image left by the last stop", stray.name)
        if cards := clear_card_workshop(self.config):
            log.info("removed %d social card(s) the last stop left half made", cards)
        generator = threading.Thread(target=self.generator.run, name="generator", daemon=True)
        generator.start()
        watcher = threading.Thread(target=self._run_watcher, name="watcher", daemon=True)
        watcher.start()
        decisions = threading.Thread(target=self.decision_worker.run, name="decisions", daemon=True)
        decisions.start()
        self._threads += [generator, watcher, decisions]
        deadline = time.monotonic() + WATCH_START_TIMEOUT
        # In slices: a stop asked for meanwhile must not wait out the whole timeout.
        while not self.watcher.watching.wait(0.1) and not self.stop_event.is_set():
            if time.monotonic() > deadline:
                log.warning("the drop folder watch is not up after %d s", WATCH_START_TIMEOUT)
                break

    def _run_watcher(self) -> None:
        """Keep the watcher alive: if the folder vanishes, say so and try again."""
        while not self.stop_event.is_set():
            try:
                self.watcher.run()
            except Exception as exc:
                log.error("watcher stopped unexpectedly (%s); restarting", exc)
                self.stop_event.wait(WATCHER_RESTART_SECONDS)

    def status_line(self) -> str:
        """What systemd shows under `systemctl status`: the queue and the model."""
        counts = self.store.tasks.count_by_status()
        queue = ", ".join(
            f"{counts[status]} {name}"
            for status, name in [
                (TaskStatus.QUEUED, "queued"),
                (TaskStatus.GENERATING, "generating"),
                (TaskStatus.REVIEW, "to review"),
                (TaskStatus.PUBLISHING, "publishing"),
            ]
        )
        model = self.generator.state
        where = f" on {model.device}" if model.device else ""
        detail = f": {model.error}" if model.error else ""
        return f"{queue}; model {model.model} {model.state}{where}{detail}"

    def problem(self) -> str | None:
        """Which part has died, if one has (None: all alive, or stopping on purpose)."""
        if self.stop_event.is_set():
            return None
        dead = [thread.name for thread in self._threads if not thread.is_alive()]
        if not self.api.is_serving():
            dead.append("api")
        return f"the {', '.join(dead)} thread(s) stopped" if dead else None

    def wait(self) -> None:
        """Block until stop is set, then stop the threads and close the store."""
        self.stop_event.wait()
        self.api.stop()
        self._wake_workers()
        for thread in self._threads:
            thread.join(timeout=STOP_TIMEOUT)
            if thread.is_alive():
                log.warning("%s thread did not stop in %d s", thread.name, STOP_TIMEOUT)
        self.destination.close()
        self.store.close()
        self.state_lock.release()
        log.info("stopped")

    def run(self) -> None:
        self.start()
        self.wait()


def _take_stop_signals(handler: Callable[[int, FrameType | None], None]) -> None:
    """SIGTERM and SIGINT ask the daemon to stop. Asserted again every few seconds from
    the main thread (only it may): Ray's core worker puts its own C-level SIGTERM
    handler in place, which kills the process, when it joins a cluster again after
    losing one (daemon/generation/ray/connection.py), and Python's handler cannot tell it was."""
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(config: Config, *, log_level: str = "info") -> int:
    """Run the daemon in the foreground until SIGTERM or SIGINT. Returns the exit code.

    The process's umask becomes 0077 (DAEMON_UMASK), whatever the shell's.

    Under systemd (Type=notify) it reports READY once the store is open, the
    socket bound and the model loaded (or found missing), pings the watchdog
    if one is set, and says STOPPING as soon as a stop is asked for.
    """
    # Before any thread: umask is per process, and a thread writing meanwhile
    # would get whichever was in force.
    os.umask(DAEMON_UMASK)
    configure_logging(log_level, env=os.environ, secrets=secrets_of(config, os.environ))
    notifier = Notifier.from_environ(os.environ)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    _take_stop_signals(request_stop)
    started = time.monotonic()
    try:
        daemon = Daemon(config, stop=stop)
    except (DaemonAlreadyRunning, StateLockError) as exc:
        log.error("%s", exc)
        notifier.status(f"cannot start: {exc}")
        return 1
    except StoreError as exc:
        log.error("%s", exc)
        notifier.status(f"cannot open the store: {exc}")
        return 1
    except DestinationUnusable as exc:
        log.error("cannot start: %s", exc)
        notifier.status(f"cannot start: {exc}")
        return 1
    log.info("store open in %.2f s", time.monotonic() - started)
    try:
        daemon.start()
    except (OSError, FolderError, SocketError) as exc:  # a folder or the socket
        log.error("cannot start: %s", exc)
        notifier.status(f"cannot start: {exc}")
        stop.set()
        daemon.wait()
        return 1
    pulse = Pulse(
        notifier,
        stop=stop,
        model_settled=daemon.generator.model_settled,
        status=daemon.status_line,
        problem=daemon.problem,
        watchdog_seconds=watchdog_interval(os.environ),
    )
    reporter = threading.Thread(target=pulse.run, name="systemd", daemon=True)
    reporter.start()
    while not stop.wait(SIGNAL_GUARD_SECONDS):
        _take_stop_signals(request_stop)
    notifier.stopping("stopping: finishing or handing back the work in flight")
    reporter.join(PULSE_JOIN_SECONDS)  # it reads the store, which closes next
    daemon.wait()
    return 0
