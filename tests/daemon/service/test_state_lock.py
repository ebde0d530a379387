"""One daemon per state folder: a second one names the first and leaves everything alone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from daemon.service.statelock import DaemonAlreadyRunning, StateLock
from tests.apidaemon import ApiDaemon, short_dir

GLADTUI = Path(sys.executable).parent / "gladtui"


@pytest.fixture
def first() -> Iterator[ApiDaemon]:
    running = ApiDaemon(None, root=short_dir("gtl-")).start()
    yield running
    running.cleanup()


def second_config(first: ApiDaemon, socket: Path) -> Path:
    """A config on `first`'s state folder with its own other folders and `socket`."""
    root = first.root / "second"
    root.mkdir()
    config = {
        "state_dir": str(first.config.state_dir),
        "drop_dir": str(root / "drop"),
        "preview_dir": str(root / "previews"),
        "cache_dir": str(root / "cache"),
        "socket": str(socket),
        "generation": {"model": "builtin:tiny-sdxl", "device": "cpu"},
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_daemon(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GLADTUI), "--config", str(config), "daemon"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def state_files(state: Path) -> tuple[list[str], str]:
    """The state folder's file names and the lock file's text (the first daemon's own)."""
    return sorted(p.name for p in state.iterdir()), (state / "daemon.lock").read_text()


@pytest.mark.parametrize("same_socket", [False, True], ids=["own-socket", "same-socket"])
def test_a_second_daemon_names_the_first_and_exits(first: ApiDaemon, same_socket: bool) -> None:
    socket = first.socket if same_socket else first.root / "second.sock"
    config = second_config(first, socket)
    before = state_files(first.config.state_dir)
    done = run_daemon(config)
    assert done.returncode == 1, done.stderr
    expected = (
        "a gladtui daemon is already running for this state folder "
        f"(pid {os.getpid()}, socket {first.socket})"
    )
    assert expected in done.stderr
    assert "duckdb" not in done.stderr.lower() and "Traceback" not in done.stderr
    # Nothing touched: no socket of its own, the state as the first left it.
    assert same_socket or not socket.exists()
    assert state_files(first.config.state_dir) == before
    assert not (config.parent / "drop").exists()
    status = first.client.status()
    assert status["pid"] == os.getpid() and status["socket"] == str(first.socket)


def test_the_lock_is_free_again_after_a_clean_stop() -> None:
    d = ApiDaemon(None, root=short_dir("gtl-")).start()
    try:
        d.stop()
        d.start()  # the same state folder, in the same process: the lock was released
        assert d.client.health()["ok"] is True
    finally:
        d.cleanup()


HOLD = """
import sys, time
from pathlib import Path
from daemon.service.statelock import StateLock
StateLock.acquire(Path(sys.argv[1]), Path("/run/killed.sock"))
print("locked", flush=True)
time.sleep(600)
"""


def test_a_killed_holder_leaves_a_harmless_lock_file() -> None:
    state = short_dir("gtl-")
    try:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(state)], stdout=subprocess.PIPE, text=True
        )
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(DaemonAlreadyRunning, match=f"pid {holder.pid}, socket /run/killed"):
            StateLock.acquire(state, Path("/tmp/mine.sock"))
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
        assert "socket /run/killed.sock" in (state / "daemon.lock").read_text()  # stale text
        lock = StateLock.acquire(state, Path("/tmp/mine.sock"))
        assert (state / "daemon.lock").read_text() == f"pid {os.getpid()}\nsocket /tmp/mine.sock\n"
        lock.release()
    finally:
        shutil.rmtree(state)
