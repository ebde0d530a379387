"""Caps on open API connections: per user, in all, a reserve for the daemon's own user.

The flooding user is nobody, admitted by `api.allowed_users` and let into the
socket's folder; its connections are held by a forked child (tests/flood.py).
The daemon runs as root here, which is both its own user and root.
"""

from __future__ import annotations

import logging
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.api.connlimits import ConnectionLimits
from daemon.api.lograte import RateLimitedLog
from gladtui.client import ApiError, Client
from gladtui.config import ApiConfig
from tests.apidaemon import ApiDaemon, answers, short_dir, task_yaml, wait_until
from tests.flood import Flood, connect, request
from tests.paths import REPO
from tests.privileges import NOBODY, run_as

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to flood as another user")
GLADTUI = Path(sys.executable).parent / "gladtui"
ROOT = REPO
LONG = 600.0  # deadlines that must not close the flood's connections during a test


@pytest.fixture
def folder() -> Iterator[Path]:
    path = short_dir("gtl-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def open_to_nobody(socket_path: Path) -> None:
    """Let nobody reach the socket (the daemon admits it by api.allowed_users)."""
    socket_path.parent.chmod(0o711)
    socket_path.chmod(0o666)


def as_nobody_health(socket_path: Path) -> tuple[int, str]:
    return run_as(lambda: request(socket_path), NOBODY, NOBODY)


def client_error(socket_path: Path) -> tuple[int, str, str]:
    """The ApiError of `gladtui`'s client asking for the daemon's health."""
    try:
        Client(socket_path).health()
    except ApiError as exc:
        return exc.status, exc.code, exc.message
    return 200, "", ""


def capped_daemon(folder: Path, **api: Any) -> ApiDaemon:
    settings = {
        "allowed_users": [NOBODY],
        "header_seconds": LONG,
        "idle_seconds": LONG,
        **api,
    }
    d = ApiDaemon(None, root=folder, settings={"api": settings}).start()
    open_to_nobody(d.socket)
    return d


# -- the caps, computed ---------------------------------------------------------------------


def test_the_total_is_at_most_half_the_open_file_limit() -> None:
    api = ApiConfig(max_connections=512, max_connections_per_user=64, reserved_connections=16)
    assert ConnectionLimits.from_config(api, 65536, own_uid=1000).total == 512
    lowered = ConnectionLimits.from_config(api, 256, own_uid=1000)
    assert (lowered.total, lowered.reserved) == (128, 16)
    tiny = ConnectionLimits.from_config(api, 20, own_uid=1000)
    assert (tiny.total, tiny.reserved) == (10, 5)  # the reserve never takes it all
    assert lowered.privileged == frozenset({1000, 0})


# -- per user, and the reserve --------------------------------------------------------------


@needs_root
def test_a_user_past_its_cap_is_refused_with_a_503_and_the_daemon_user_gets_in(
    folder: Path,
) -> None:
    d = capped_daemon(folder, max_connections_per_user=5)
    try:
        with Flood(d.socket, 12) as flood:
            held = flood.open()
            assert (held.admitted, held.refused) == (5, 7)
            assert held.probe == 503
            assert held.refusal == held.probe_message
            assert held.refusal.startswith(f"nobody (uid {NOBODY}) already has 5 connections")
            assert "api.max_connections_per_user" in held.refusal
            assert d.client.tasks()["total"] == 0  # the daemon's own user is not held up
            # gladtui's client, run by nobody, reads the refusal and says why.
            status, code, message = run_as(lambda: client_error(d.socket), NOBODY, NOBODY)
            assert (status, code) == (503, "busy")
            assert "api.max_connections_per_user" in message
        # The flood closed: nobody is answered again, without a restart.
        wait_until(lambda: as_nobody_health(d.socket) == (200, ""), timeout=60)
    finally:
        d.stop()


@needs_root
def test_the_reserve_keeps_room_for_the_daemon_user_when_another_takes_all_it_may(
    folder: Path,
) -> None:
    d = capped_daemon(
        folder, max_connections=12, reserved_connections=4, max_connections_per_user=100
    )
    mine: list[socket.socket] = []
    try:
        with Flood(d.socket, 20) as flood:
            held = flood.open()
            assert (held.admitted, held.refused) == (8, 12)
            assert "api.max_connections, less the 4 api.reserved_connections" in held.refusal
            assert d.client.health()["ok"] is True  # root gets in past nobody's 8
            mine = [connect(d.socket) for _ in range(4)]  # the whole reserve, held
            status, message = request(d.socket)
            assert status == 503
            assert message.startswith("the daemon has 12 connections open")
            mine.pop().close()  # a place in the reserve is free again
            wait_until(lambda: request(d.socket)[0] == 200, timeout=60)
    finally:
        for sock in mine:
            sock.close()
        d.stop()


# -- at the cap, the rest of the daemon keeps working ---------------------------------------


def limit_files(soft: int, hard: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def refusals_logged(log: str) -> int:
    """Refusals the log accounts for: each line, plus the repeats it says it stands for."""
    lines = [line for line in log.splitlines() if "refused an API connection" in line]
    more = [re.search(r"\(and ([\d,]+) more like it", line) for line in lines]
    return len(lines) + sum(int(m.group(1).replace(",", "")) for m in more if m)


@needs_root
def test_at_the_cap_the_watcher_ingests_the_cli_answers_and_all_comes_back(
    folder: Path,
) -> None:
    """The flood of issue 29, smaller: the daemon may open 256 files, nobody opens 300
    connections. Before: `gladtui tasks` timed out, ingest failed (Too many open files)."""
    config = folder / "config.yaml"
    config.write_text(
        "drop_dir: drop\nstate_dir: state\npreview_dir: previews\ncache_dir: cache\n"
        # No model: generation is not under test, and building one costs a minute of CPU.
        "socket: run/daemon.sock\ngeneration: {model: ./no-model, allow_download: false}\n"
        f"api: {{allowed_users: [{NOBODY}], header_seconds: {LONG}, idle_seconds: {LONG},\n"
        "  max_connections: 1000, max_connections_per_user: 1000}\n"
    )
    log = folder / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [str(GLADTUI), "--config", str(config), "daemon"],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: limit_files(256, 256),
        )
    client = Client(folder / "run" / "daemon.sock", timeout=60)
    try:
        wait_until(lambda: answers(client), timeout=120)
        assert "the API takes at most 128 connections" in log.read_text()  # half of 256
        open_to_nobody(client.socket_path)
        with Flood(client.socket_path, 300) as flood:
            held = flood.open()
            assert (held.admitted, held.refused) == (112, 188)  # 128 less the 16 reserved
            tasks = run_cli(config, "tasks")
            assert tasks.returncode == 0, tasks.stderr
            (folder / "drop" / "during.yaml").write_bytes(task_yaml("During", variations=1))
            wait_until(lambda: (folder / "drop" / "processed" / "during.yaml").exists(), 120)
        wait_until(lambda: as_nobody_health(client.socket_path) == (200, ""), timeout=60)
        assert client.task("during")["title"] == "During"
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(120)
    said = log.read_text()
    assert "out of system resource" not in said
    assert "Too many open files" not in said
    assert refusals_logged(said) == held.refused + 1  # and the probe
    assert said.count("refused an API connection") <= 3  # not one line each


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GLADTUI), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- out of files: one line, not a storm ----------------------------------------------------


class Admissions:
    """Connections to tests/acceptorserver.py, and which of them it has admitted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.waiting: list[socket.socket] = []
        self.admitted: list[socket.socket] = []

    def connect(self, count: int) -> None:
        self.waiting += [connect(self.path) for _ in range(count)]

    def poll(self) -> int:
        """How many are admitted now (the server says so at once)."""
        ready = set(select.select(self.waiting, [], [], 0)[0]) if self.waiting else set()
        for sock in [s for s in self.waiting if s in ready]:
            assert sock.recv(16) == b"admitted\n"
            self.waiting.remove(sock)
            self.admitted.append(sock)
        return len(self.admitted)

    def close(self, count: int | None = None) -> None:
        if count is None:
            closing, self.admitted = self.admitted + self.waiting, []
            self.waiting = []
        else:
            closing, self.admitted = self.admitted[:count], self.admitted[count:]
        for sock in closing:
            sock.close()


def test_accept_failing_for_want_of_files_is_logged_once_and_recovers(folder: Path) -> None:
    """asyncio's own accept loop logged `socket.accept() out of system resource` once per
    pending connection, and again for every retry it scheduled: 163 MB in 80 s."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.acceptorserver", str(folder / "a.sock"), "10"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(server.stderr or []))
    reader.start()
    conns = Admissions(folder / "a.sock")
    try:
        assert server.stdout is not None and server.stdout.readline() == "ready\n"
        conns.connect(40)  # about 10 are taken; the others wait in the backlog
        wait_until(lambda: any("cannot accept" in line for line in said), timeout=60)
        wait_until(lambda: conns.poll() > 0, timeout=60)
        first = conns.poll()
        conns.close(3)  # room for 3: the acceptor tries again in a second and takes more
        wait_until(lambda: conns.poll() > first - 3, timeout=60)
        conns.close()
        conns.connect(1)  # the flood over, a new connection is taken
        wait_until(lambda: conns.poll() == 1, timeout=60)
    finally:
        conns.close()
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        reader.join(60)
    lines = [line for line in said if "cannot accept API connections" in line]
    assert len(lines) == 2, said  # the first, then at exit what was held back
    assert "Too many open files" in lines[0]
    assert re.search(r"\(and [\d,]+ more like it\)$", lines[1].rstrip()), lines[1]


# -- the rate-limited log -------------------------------------------------------------------


def test_a_repeated_line_is_said_once_a_while_with_how_often_it_happened(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    notes = RateLimitedLog(logging.getLogger("test.lograte"), interval=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.lograte"):
        for second in range(150):  # one a second for 150 s
            now[0] = float(second)
            notes.note("k", f"refused number {second}")
        notes.note("other", "another kind, said at once")
        notes.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "refused number 0",
        "refused number 60 (and 59 more like it in the last 60 s)",
        "refused number 120 (and 59 more like it in the last 60 s)",
        "another kind, said at once",
        "refused number 149 (and 28 more like it)",
    ]
