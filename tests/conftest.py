"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# transformers warns that torchvision is missing; it is not needed here.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# One torch thread in this process and in every daemon the tests start (before torch
# is imported: it reads this once). The tiny model's images gain nothing from more,
# and two workers with a thread per core each, on a busy machine, made OpenMP's
# threads spin against each other: 3 images of 64x64 in 2 steps took a median of
# 17-19 s with 2 threads against 0.7-0.9 s with 1, at a load average of 17.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Tests send SIGINT to the processes they start, as a terminal's Ctrl-C does. A suite
# started in the background by a script (`cmd &` in a non-interactive shell) inherits
# SIGINT ignored, and so would every process it starts: Python keeps an inherited
# SIG_IGN, so those never saw the SIGINT (test_ssh's Ctrl-C test then timed out
# after 30 s, test_demo's exited 0 instead of 130). Default again here, children too.
if (
    threading.current_thread() is threading.main_thread()
    and signal.getsignal(signal.SIGINT) == signal.SIG_IGN
):
    signal.signal(signal.SIGINT, signal.default_int_handler)

if TYPE_CHECKING:
    from daemon.generation.models import LoadedModel
    from tests.gladtui.tui.test_tui_tmux import Tmux
    from tests.pgserver import PgServer


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A temp folder every user can enter (pytest's tmp_path is root-only when root)."""
    path = Path(tempfile.mkdtemp(prefix="gladtui-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache_dir where the tiny model is built (by `tiny`): other processes load it there."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def tiny(tiny_cache: Path) -> LoadedModel:
    """The tiny SDXL pipeline, built and loaded once for the whole session."""
    from daemon.generation.models import load_model  # torch: only for the tests that generate
    from gladtui.config import GenerationConfig

    config = GenerationConfig(model="builtin:tiny-sdxl", device="cpu")
    return load_model(config, cache_dir=tiny_cache)


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """A local Ray, started once per test run in this process, and stopped by it.

    `address="local"` always starts a new one (a bare init would attach to any
    Ray running on the machine), in a short temp folder (its sockets live there).
    Daemons in this process use this connection; daemons in other processes
    join it at the returned address.
    """
    ray = pytest.importorskip("ray")
    temp = tempfile.mkdtemp(prefix="gtray-", dir="/tmp")
    ray.init(
        address="local",
        _temp_dir=temp,
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        # Workers as nice as the tests (Ray's default: 15 nicer), as the daemon's own Ray
        # does: else a busy machine starves the replicas past every deadline (CI run 5).
        _system_config={"worker_niceness": 0},
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL (Debian's package), started once for the session, as nobody."""
    from tests.pgserver import PgServer, server_bin

    bin_dir = server_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL's server is not installed (apt-get install postgresql; .ci/run does)"
        )
    server = PgServer.start(bin_dir)
    yield server
    server.stop()


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    """A private tmux server (tests/gladtui/tui/test_tui_tmux.py Tmux), killed afterwards."""
    from tests.gladtui.tui.test_tui_tmux import Tmux

    server = Tmux()
    try:
        yield server
    finally:
        server.kill()
