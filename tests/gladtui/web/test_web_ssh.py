"""`gladtui --ssh HOST web`: the page's API through the socket a real OpenSSH forwards
(tests/sshd.py, as tests/gladtui/test_ssh.py), to a real daemon; Ctrl-C leaves no ssh."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.generation.models import LoadedModel
from tests.apidaemon import ApiDaemon, short_dir, task_yaml
from tests.gladtui.test_ssh import environment, our_ssh
from tests.sshd import Sshd, why_sshd_cannot_run
from tests.webserver import WebServer


@pytest.fixture(scope="module")
def runtime_dir() -> Iterator[Path]:
    path = short_dir("gt-xdg-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def sshd(runtime_dir: Path) -> Iterator[Sshd]:
    reason = why_sshd_cannot_run()
    if reason:
        pytest.skip(reason)
    server = Sshd(SetEnv=f"XDG_RUNTIME_DIR={runtime_dir}").start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def live(tiny: LoadedModel, runtime_dir: Path) -> Iterator[ApiDaemon]:
    running = ApiDaemon(
        tiny, settings={"socket": str(runtime_dir / "gladtui" / "daemon.sock")}
    ).start()
    yield running
    running.cleanup()


def test_the_page_reaches_the_far_daemon_and_ctrl_c_leaves_no_ssh(
    sshd: Sshd, live: ApiDaemon, tmp_path: Path
) -> None:
    task_id = live.submit(task_yaml("Muffins Far Away", variations=1), "far.yaml")
    live.wait_status(task_id, "review")
    server = WebServer("--ssh", sshd.target, log=tmp_path / "web.log", env=environment(sshd))
    try:
        assert our_ssh(sshd), "the forward is up while the server runs"
        server.sign_in()
        listed = server.request("GET", "/api/tasks").json()
        assert task_id in [t["id"] for t in listed["tasks"]]
        answer = server.request("POST", f"/api/tasks/{task_id}/approve", {"variation": 1})
        assert answer.status == 200, answer.body
        assert live.wait_status(task_id, "published", "failed")["selected_variation"] == 1
    finally:
        assert server.stop() == 0, server.log()
    assert our_ssh(sshd) == [], "ssh left running after Ctrl-C"
    assert server.token not in server.log()
