"""A real daemon in this process, on a short temp socket, for API and CLI tests.

`ApiDaemon` runs `daemon.service.process.Daemon` exactly as `gladtui daemon` does
(store, watcher, generator, API), with the tiny model loaded once per test
session and a config file on disk so the CLI can be pointed at it.
Unix socket paths must stay under 108 bytes, hence /tmp rather than
pytest's long tmp_path.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from daemon.generation.models import LoadedModel, ModelError
from daemon.generation.progress import ProgressBoard
from daemon.publishing.destinations.base import Destination
from daemon.service.process import Daemon
from daemon.store import Clock, utc_now
from gladtui.client import Client, DaemonUnreachable, UnixHTTPConnection
from gladtui.config import Config, load_config

GLADTUI = Path(sys.executable).parent / "gladtui"

# A daemon under test talks to no outer service: the notify socket of a systemd the
# suite may run under, a Cloudinary account in the caller's environment.
OUTER_SERVICES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CLOUDINARY_URL")


def start_daemon(config: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    """`gladtui --config CONFIG daemon ARGS` in its own process, its output discarded;
    `env` adds to this process's environment (less OUTER_SERVICES unless given there)."""
    full_env = {k: v for k, v in os.environ.items() if k not in OUTER_SERVICES}
    full_env.update(TRANSFORMERS_VERBOSITY="error", **env)
    return subprocess.Popen(
        [str(GLADTUI), "--config", str(config), "daemon", *args],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until(
    condition: Callable[[], object],
    timeout: float = 30.0,
    explain: Callable[[], str] | None = None,
) -> None:
    """Poll `condition` until it holds; past `timeout`, fail with what `explain` says
    (a log's tail, the state reached) after the condition's name."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            name = getattr(condition, "__qualname__", repr(condition))
            detail = f":\n{explain()}" if explain is not None else ""
            raise AssertionError(f"condition not met in {timeout:g} s: {name}{detail}")
        time.sleep(0.02)


def answers(client: Client) -> bool:
    """Does a daemon answer on the client's socket now? (For waiting on a restart.)"""
    try:
        client.health()
    except DaemonUnreachable:
        return False
    return True


def http_json(
    path: Path, method: str, url: str, body: bytes | dict[str, Any] | None = None
) -> tuple[int, Any]:
    """A bare HTTP request on the socket: API tests pin the wire format, not Client's view."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    connection = UnixHTTPConnection(path, timeout=30)
    try:
        # The daemon answers a body announced too large from its header and closes
        # at once; a client still sending it reads that answer (CI saw the send
        # fail once under load, after the close).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request(method, url, body=data)
        response = connection.getresponse()
        payload = response.read()
        return response.status, json.loads(payload) if payload else None
    finally:
        connection.close()


def http_get(
    path: Path, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A bare GET on the socket: (status, headers, body bytes), for the picture routes."""
    connection = UnixHTTPConnection(path, timeout=30)
    try:
        connection.request("GET", url, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def short_dir(prefix: str = "gt-") -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


def task_yaml(title: str, *, variations: int = 3, steps: int = 2, **fields: Any) -> bytes:
    """A small, fast task file; `fields` add to or replace the defaults."""
    task: dict[str, Any] = {
        "title": title,
        "prompt": "blueberry muffins on a rustic table",
        "negative_prompt": "blurry",
        "variations": variations,
        "steps": steps,
        "width": 64,
        "height": 64,
        "seed": 42,
    }
    task.update(fields)
    return yaml.safe_dump(task, sort_keys=False, allow_unicode=True).encode()


class ApiDaemon:
    """Start with `start()`, stop with `stop()`; `client` talks to it over its socket."""

    def __init__(
        self,
        model: LoadedModel | None,
        *,
        root: Path | None = None,
        settings: dict[str, Any] | None = None,
        clock: Clock | None = None,
        destination: Destination | None = None,
        preview_clock: Callable[[], float] | None = None,
    ) -> None:
        """`destination`: where posts go, else the one the settings name;
        `preview_clock`: what paces the live previews (tests/stepgate.py HeldClock)."""
        self.root = root or short_dir()
        self.clock = clock
        self.destination = destination
        self.preview_clock = preview_clock
        data: dict[str, Any] = {
            "drop_dir": "drop",
            "state_dir": "state",
            "preview_dir": "previews",
            "cache_dir": "cache",
            "socket": "run/daemon.sock",
            "generation": {"model": "builtin:tiny-sdxl", "device": "cpu"},
            "api": {"heartbeat_seconds": 0.5},
            # Decisions take effect at once unless a test is about the grace period.
            "publishing": {"grace_seconds": 0},
        }
        for key, value in (settings or {}).items():
            if isinstance(value, dict):
                data.setdefault(key, {}).update(value)
            else:
                data[key] = value
        self.config_file = self.root / "config.yaml"
        self.config_file.write_text(yaml.safe_dump(data))
        self.config: Config = load_config(self.config_file, env={})
        self.socket = self.config.socket_path()
        self.model = model
        self.daemon: Daemon | None = None

    @property
    def progress(self) -> ProgressBoard:
        """The running daemon's live progress (a StepGate listens there)."""
        assert self.daemon is not None, "the daemon is not started"
        return self.daemon.progress

    @property
    def client(self) -> Client:
        return Client(self.socket, timeout=30)

    def raw(
        self, method: str, path: str, body: bytes | dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """One HTTP request as any client would send it: (status, decoded JSON body)."""
        return http_json(self.socket, method, path, body)

    def _loader(self) -> LoadedModel:
        if self.model is None:  # generation is not under test: park until stopped
            assert self.daemon is not None
            self.daemon.stop_event.wait()
            raise ModelError("stopped before the model was needed")
        return self.model

    def start(self) -> ApiDaemon:
        self.daemon = Daemon(
            self.config,
            stop=threading.Event(),
            loader=self._loader,
            clock=self.clock or utc_now,
            destination=self.destination,
            preview_clock=self.preview_clock or time.monotonic,
        )
        self.daemon.start()
        return self

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop_event.set()
            self.daemon.wait()
            self.daemon = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def decision_worker_looked(self) -> None:
        """Returns once the decision worker has claimed, after this call began, and
        found nothing due: what it would do now (the clock moved past a grace) it did."""
        assert self.daemon is not None, "the daemon is not started"
        worker = self.daemon.decision_worker
        before = worker.idle_rounds
        worker.wake()  # rather than wait out its idle poll
        wait_until(lambda: worker.idle_rounds >= before + 2)

    def submit(self, data: bytes, name: str = "task.yaml") -> str:
        """Submit over the API; the new task's id."""
        return self.client.submit(data, name)["task"]["id"]

    def in_review(
        self, title: str, *, name: str | None = None, timeout: float = 60, **fields: Any
    ) -> dict[str, Any]:
        """Submit task_yaml(title, **fields) as `name` (else `<title>.yaml`); the task once
        generated, waiting for review."""
        task_id = self.submit(task_yaml(title, **fields), name or f"{title}.yaml")
        return self.wait_status(task_id, "review", timeout=timeout)

    def approve(self, task_id: str, variation: int = 1) -> None:
        """Approve over the wire, as any client does; the decision is accepted (200)."""
        status, body = self.raw("POST", f"/api/tasks/{task_id}/approve", {"variation": variation})
        assert status == 200, body

    def approve_and_wait(self, task_id: str, variation: int = 1) -> dict[str, Any]:
        """Approve; the task once its publishing ended, published or failed."""
        self.approve(task_id, variation)
        return self.wait_status(task_id, "published", "failed")

    def published(self, task_id: str, variation: int = 1) -> dict[str, Any]:
        """Approve; the task once published (a failure fails the test with its error)."""
        done = self.approve_and_wait(task_id, variation)
        assert done["status"] == "published", done["error"]
        return done

    def wait_status(self, task_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def reached() -> bool:
            status, body = self.raw("GET", f"/api/tasks/{task_id}")
            assert status == 200, body
            found.update(body)
            return found["status"] in statuses

        wait_until(reached, timeout)
        return found
