"""systemd's notify protocol, spoken by the real `gladtui daemon` to a fake service manager.

The fake is what systemd is on the wire: a datagram socket named by
$NOTIFY_SOCKET, either a file in a temp folder or an abstract name (`@…`).
"""

from __future__ import annotations

import itertools
import logging
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from daemon.service.systemd.notify import Notifier, watchdog_interval
from daemon.service.systemd.pulse import Pulse
from daemon.store import JobStatus, Store
from gladtui.client import Client
from gladtui.shapes import TaskStatus
from tests.apidaemon import answers, short_dir, start_daemon, wait_until

LONG = 6  # variations of the long task, at 100 steps each: several seconds of work


@dataclass
class Message:
    at: float  # monotonic seconds when it arrived
    fields: dict[str, str]
    socket_answered: bool | None  # did the API answer at that moment? (None: not asked)


class FakeServiceManager:
    """Receives notifications; `probe` runs on each one as it arrives."""

    def __init__(self, address: str, probe: Callable[[], bool] | None = None) -> None:
        self.address = address
        self.messages: list[Message] = []
        self._probe = probe
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        bind_to = "\0" + address[1:] if address.startswith("@") else address
        self._sock.bind(bind_to)
        self._sock.settimeout(0.1)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            lines = data.decode().splitlines()
            fields = dict(line.split("=", 1) for line in lines)
            probed = self._probe() if self._probe is not None else None
            self.messages.append(Message(time.monotonic(), fields, probed))

    def with_key(self, key: str) -> list[Message]:
        return [m for m in list(self.messages) if key in m.fields]

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._sock.close()


@pytest.fixture
def workspace() -> Iterator[Path]:
    root = short_dir("gt-notify-")  # socket paths must stay under 108 bytes
    (root / "config.yaml").write_text(
        "drop_dir: drop\nstate_dir: state\npreview_dir: previews\ncache_dir: cache\n"
        "socket: d.sock\ngeneration:\n  model: builtin:tiny-sdxl\n  batch_size: 1\n"
    )
    (root / "drop").mkdir()
    yield root
    subprocess.run(["rm", "-rf", str(root)], check=False)


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=60)


def api_answers(root: Path) -> bool:
    return answers(Client(root / "d.sock", timeout=2))


def test_ready_only_once_the_store_and_the_socket_are_up(workspace: Path) -> None:
    manager = FakeServiceManager(str(workspace / "notify.sock"), lambda: api_answers(workspace))
    daemon = start_daemon(workspace / "config.yaml", NOTIFY_SOCKET=manager.address)
    try:
        wait_until(lambda: manager.with_key("READY"), timeout=120)
        ready = manager.with_key("READY")[0]
        assert ready.fields["READY"] == "1"
        assert ready.socket_answered, "READY came before the API answered"
        assert (workspace / "state" / "gladtui.duckdb").exists()
        # READY waits for the model: its STATUS line already says it is loaded.
        assert "model builtin:tiny-sdxl idle on cpu" in ready.fields["STATUS"]
        assert "0 queued" in ready.fields["STATUS"]
        before = [m for m in manager.messages if m.at < ready.at]
        assert all("WATCHDOG" not in m.fields for m in manager.messages)  # none was asked for
        assert all(set(m.fields) <= {"EXTEND_TIMEOUT_USEC", "STATUS"} for m in before)
    finally:
        assert stop(daemon) == 0
        manager.close()
    stopping = manager.with_key("STOPPING")
    assert len(stopping) == 1 and stopping[0].at > ready.at


@pytest.mark.timeout(900)  # a long generation, on a machine that may be busy
def test_watchdog_during_a_long_generation_then_sigterm_hands_the_job_back(
    workspace: Path,
) -> None:
    deadline = 1.0  # WatchdogSec: systemd kills a daemon silent for this long
    manager = FakeServiceManager(f"@gladtui-test-{uuid.uuid4().hex}")  # the abstract form
    watchdog = {"WATCHDOG_USEC": str(int(deadline * 1_000_000))}
    daemon = start_daemon(workspace / "config.yaml", NOTIFY_SOCKET=manager.address, **watchdog)
    try:
        wait_until(lambda: manager.with_key("READY"), timeout=120)
        (workspace / "drop" / "long.yaml").write_text(
            f"title: Long\nprompt: a long task\nvariations: {LONG}\nsteps: 100\n"
            "width: 128\nheight: 128\nseed: 3\n"
        )
        previews = workspace / "previews"
        wait_until(lambda: previews.exists() and any(previews.glob("*.png")), timeout=120)
        started = time.monotonic()
        # Six pings' worth of generation (3 s), well inside the task's images.
        wait_until(
            lambda: len([m for m in manager.with_key("WATCHDOG") if m.at > started]) >= 6,
            timeout=60,
        )
        assert len(list(previews.glob("*.png"))) < LONG, "generation ended too soon to test"
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
    finally:
        stop(daemon)
        manager.close()

    pings = [m.at for m in manager.with_key("WATCHDOG") if m.at >= started]
    gaps = [later - earlier for earlier, later in itertools.pairwise(pings)]
    assert len(pings) >= 6
    # Pinged every deadline / 2 all along: the generation never held the pulse. A batch
    # here takes seconds, so a pulse held by it would fall silent that long; a busy
    # machine alone has kept this process from running for over half a second (a
    # 1.08 s gap, at a load average of 13), which says nothing about the daemon.
    held = 3 * deadline
    assert max(gaps) < held, f"a {max(gaps):.2f} s silence in the pings: {gaps}"
    assert len(manager.with_key("STOPPING")) == 1
    assert any("1 generating" in m.fields.get("STATUS", "") for m in manager.messages)

    with Store.open(workspace / "state" / "gladtui.duckdb") as store:
        (job,) = store.jobs.pending_for_task("long")
        assert job.status is JobStatus.PENDING and job.attempts == 0  # a stop is not a failure
        task = store.tasks.get("long")
        assert task is not None and task.status is TaskStatus.QUEUED
        made = len(store.variations.list("long"))
    assert 1 <= made < LONG

    again = start_daemon(
        workspace / "config.yaml"
    )  # the next start resumes it: nothing lost, nothing twice
    try:
        # Five images of 100 steps: generous, the machine may be busy with other tests.
        wait_until(lambda: len(list(previews.glob("*.png"))) >= LONG, timeout=300)
        wait_until(lambda: api_answers(workspace), timeout=60)
        client = Client(workspace / "d.sock", timeout=5)
        wait_until(lambda: client.task("long")["status"] == "review", timeout=120)
        indexes = [v["index"] for v in client.task("long")["variations"]]
        assert indexes == list(range(1, LONG + 1))
    finally:
        assert stop(again) == 0


# -- the parts alone ----------------------------------------------------------------------


def test_watchdog_interval_is_half_the_deadline_and_only_for_the_main_process() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}, pid=7) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, pid=7) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "8"}, pid=7) is None
    assert watchdog_interval({}, pid=7) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}, pid=7) is None


def test_notifier_outside_systemd_and_with_a_vanished_socket(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert Notifier.from_environ({}).send("READY=1") is False
    gone = Notifier(str(tmp_path / "gone.sock"))
    with caplog.at_level(logging.WARNING):
        assert gone.send("WATCHDOG=1") is False
        assert gone.send("WATCHDOG=1") is False
    assert len([r for r in caplog.records if "cannot notify systemd" in r.message]) == 1


def pulse_for(
    manager: FakeServiceManager,
    stop: threading.Event,
    settled: threading.Event,
    problem: Callable[[], str | None] = lambda: None,
) -> threading.Thread:
    pulse = Pulse(
        Notifier(manager.address),
        stop=stop,
        model_settled=settled,
        status=lambda: "2 queued",
        problem=problem,
        watchdog_seconds=0.05,
        status_seconds=0.05,
    )
    thread = threading.Thread(target=pulse.run, daemon=True)
    thread.start()
    return thread


def pings_after(manager: FakeServiceManager, index: int) -> int:
    return sum("WATCHDOG" in m.fields for m in list(manager.messages)[index + 1 :])


def test_start_timeout_is_extended_while_the_model_loads(tmp_path: Path) -> None:
    manager = FakeServiceManager(str(tmp_path / "n.sock"))
    stop, settled = threading.Event(), threading.Event()
    thread = pulse_for(manager, stop, settled)
    try:
        wait_until(lambda: len(manager.with_key("EXTEND_TIMEOUT_USEC")) >= 3, timeout=10)
        assert not manager.with_key("READY")
        settled.set()
        wait_until(lambda: manager.with_key("READY"), timeout=10)
        ready_at = manager.with_key("READY")[0].at
        ready = next(i for i, m in enumerate(manager.messages) if "READY" in m.fields)
        # Two watchdog pings after READY: the loop has gone round twice since.
        wait_until(lambda: pings_after(manager, ready) >= 2, timeout=10)
    finally:
        stop.set()
        thread.join(5)
        manager.close()
    assert not thread.is_alive()
    assert all(m.at < ready_at for m in manager.with_key("EXTEND_TIMEOUT_USEC"))
    extension = int(manager.with_key("EXTEND_TIMEOUT_USEC")[0].fields["EXTEND_TIMEOUT_USEC"])
    assert extension >= 10_000_000  # far longer than the gap between two extensions
    assert manager.with_key("READY")[0].fields["STATUS"] == "2 queued"


def test_a_dead_thread_stops_the_pings_so_systemd_restarts_the_daemon(tmp_path: Path) -> None:
    manager = FakeServiceManager(str(tmp_path / "n.sock"))
    stop, settled = threading.Event(), threading.Event()
    settled.set()
    broken, asked = threading.Event(), list[None]()

    def problem() -> str | None:
        asked.append(None)  # each ping decision asks first
        return "the generator died" if broken.is_set() else None

    thread = pulse_for(manager, stop, settled, problem)
    try:
        wait_until(lambda: len(manager.with_key("WATCHDOG")) >= 2, timeout=10)
        broken.set()
        wait_until(lambda: any("unhealthy" in m.fields.get("STATUS", "") for m in manager.messages))
        pings = len(manager.with_key("WATCHDOG"))
        decided = len(asked)
        wait_until(lambda: len(asked) >= decided + 2, timeout=10)  # two more decisions made
        assert len(manager.with_key("WATCHDOG")) == pings
    finally:
        stop.set()
        thread.join(5)
        manager.close()
