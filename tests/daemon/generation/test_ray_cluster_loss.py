"""A Ray cluster the daemon joins: through Ray Client (`ray://`), and one that goes away.

A real head node (`ray start --head`, in its own short temp folder, on free
ports) and a real daemon process joined to it with one replica. The head's
processes are killed with SIGKILL (as a machine that loses power); the test
then waits past the 60 s after which Ray would have ended a driver whose
cluster is gone, checking the API answers all along, starts a new head on the
same port, and the waiting task is generated there. Every process of both
heads is stopped by the test (never `ray stop`, which stops every Ray here).
The `ray://` test joins a head through its Ray Client port, as a daemon outside
a KubeRay cluster does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gladtui.client import Client
from tests.apidaemon import answers, task_yaml, wait_until
from tests.ports import free_port

# Heads started, a daemon joining through them and a replica loaded, under the load
# of a shared machine: minutes, past the suite's 300 s per test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

BIN = Path(sys.executable).parent
RAY_GRACE_SECONDS = 60  # Ray 2.60's gcs_rpc_server_reconnect_timeout_s default
NO_AUTH = {"RAY_AUTH_MODE": "disabled"}  # token auth is Ray's business, not this test's
# Ray Client's own knobs: a join to a port where nothing listens gives up after about
# 5 s (1 + 2 + 2) rather than 30 (5 + 10 + 15).
QUICK_CLIENT = {
    "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "1",
    "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": "2",
}


def processes_under(folder: str) -> list[int]:
    """Every process whose command line names the head's temp folder."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if folder.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


class Head:
    """`ray start --head` on a fixed port; `kill()` is a power cut for all its processes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.client_port = free_port()  # Ray Client's, for ray:// addresses
        self.folder = tempfile.mkdtemp(prefix="gtrh-", dir="/tmp")

    def start(self) -> Head:
        subprocess.run(
            [str(BIN / "ray"), "start", "--head", f"--port={self.port}",
             f"--temp-dir={self.folder}", "--num-cpus=2", "--include-dashboard=false",
             f"--ray-client-server-port={self.client_port}",
             f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats",
             # workers as nice as the tests, not 15 nicer (Ray's default): see conftest.py
             '--system-config={"worker_niceness": 0}'],
            env={**os.environ, **NO_AUTH}, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        return self

    def kill(self) -> None:
        for pid in processes_under(self.folder):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not processes_under(self.folder), timeout=30)


@pytest.fixture
def heads() -> Iterator[list[Head]]:
    started: list[Head] = []
    yield started
    for head in started:
        head.kill()


class JoinedDaemon:
    """`gladtui daemon` joined to a cluster at `address`, with one replica; `env` adds
    to its environment."""

    def __init__(self, address: str, cache_dir: Path, env: dict[str, str] | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gtrl-", dir="/tmp"))  # a short socket path
        config = self.root / "config.yaml"
        config.write_text(
            f"drop_dir: drop\nstate_dir: state\npreview_dir: previews\ncache_dir: {cache_dir}\n"
            "socket: d.sock\ngeneration:\n  model: builtin:tiny-sdxl\n  max_attempts: 100\n"
            f"  backend: ray\n  ray: {{address: '{address}', replicas: 1}}\n"
        )
        self._log = (self.root / "daemon.log").open("wb")
        self.process = subprocess.Popen(
            [str(BIN / "gladtui"), "--config", str(config), "daemon"],
            env={**os.environ, **NO_AUTH, "TRANSFORMERS_VERBOSITY": "error", **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.client = Client(self.root / "d.sock", timeout=30)
        wait_until(lambda: answers(self.client), timeout=60)

    def log(self) -> str:
        return (self.root / "daemon.log").read_text()

    def status_of(self, task_id: str) -> str:
        status: str = self.client.task(task_id)["status"]
        return status

    def explain(self) -> str:
        """For a wait that failed: the tail of the daemon's log."""
        return "the daemon's log ends:\n" + self.log()[-4000:]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=90) == 0, self.log()[-3000:]
        self._log.close()


def test_a_daemon_joined_through_ray_client_generates(
    heads: list[Head], tiny_cache: Path, tiny: Any
) -> None:
    head = Head(free_port()).start()
    heads.append(head)
    joined = JoinedDaemon(f"ray://127.0.0.1:{head.client_port}", tiny_cache)
    try:
        task_id = joined.client.submit(task_yaml("Through the client"), "c.yaml")["task"]["id"]
        # Joining through the client server, then making and loading the replica, then
        # generating: each takes long on a busy machine.
        wait_until(lambda: joined.status_of(task_id) in ("review", "failed"), 600, joined.explain)
        task = joined.client.task(task_id)
        assert task["status"] == "review", task.get("error")
        assert [v["seed"] for v in task["variations"]] == [42, 43, 44]
    finally:
        joined.stop()
    assert f"joining Ray at ray://127.0.0.1:{head.client_port}" in joined.log()


def test_a_failed_first_join_through_ray_client_is_tried_again_by_the_job(
    heads: list[Head], tiny_cache: Path, tiny: Any
) -> None:
    """The daemon's first `ray://` join fails (here nothing listens yet; on a busy machine
    the head's client server can fail to start a session): the daemon says so, and the
    job joins once the head answers, and generates."""
    head = Head(free_port())  # its ports chosen, not started yet
    heads.append(head)
    joined = JoinedDaemon(f"ray://127.0.0.1:{head.client_port}", tiny_cache, QUICK_CLIENT)
    try:
        wait_until(lambda: "cannot reach Ray at" in joined.log(), 120, joined.explain)
        task_id = joined.client.submit(task_yaml("After a failed join"), "f.yaml")["task"]["id"]
        assert joined.status_of(task_id) == "queued"
        head.start()
        wait_until(lambda: joined.status_of(task_id) in ("review", "failed"), 600, joined.explain)
        task = joined.client.task(task_id)
        assert task["status"] == "review", task.get("error")
        assert [v["index"] for v in task["variations"]] == [1, 2, 3]
    finally:
        joined.stop()


def test_the_daemon_outlives_its_cluster_and_joins_it_again(
    heads: list[Head], tiny_cache: Path, tiny: Any
) -> None:
    port = free_port()
    heads.append(Head(port).start())
    joined = JoinedDaemon(f"127.0.0.1:{port}", tiny_cache)
    daemon, client = joined.process, joined.client
    try:
        before = client.submit(task_yaml("Before the outage"), "before.yaml")["task"]["id"]
        wait_until(lambda: client.task(before)["status"] == "review", 600, joined.explain)

        heads[0].kill()
        during = client.submit(task_yaml("During the outage"), "during.yaml")["task"]["id"]
        outage_ends = time.monotonic() + RAY_GRACE_SECONDS + 10
        while time.monotonic() < outage_ends:  # past the moment Ray would end the daemon
            assert daemon.poll() is None, joined.log()[-3000:]
            assert client.task(during)["status"] in ("queued", "generating")
            time.sleep(1)
        replica = client.status()["model"]["replicas"][0]
        assert replica["state"] == "unavailable"
        assert f"127.0.0.1:{port} does not answer" in (replica["error"] or "")

        heads.append(Head(port).start())
        wait_until(lambda: client.task(during)["status"] == "review", 600, joined.explain)
        assert [v["index"] for v in client.task(during)["variations"]] == [1, 2, 3]
    finally:
        joined.stop()
    assert "joining Ray at 127.0.0.1" in joined.log()
