"""The API socket: private modes, stale sockets, and who may connect (SO_PEERCRED)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.api.unixsocket import SocketError, bind_socket, peer_credentials, resolve_users
from tests.apidaemon import ApiDaemon, http_json, short_dir
from tests.privileges import NOBODY, run_unprivileged

AS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not AS_ROOT, reason="needs root to run a client as nobody")


@pytest.fixture
def folder() -> Iterator[Path]:
    path = short_dir()
    yield path
    shutil.rmtree(path)


def test_socket_is_0600_in_a_0700_folder(folder: Path) -> None:
    d = ApiDaemon(None, root=folder).start()
    try:
        assert stat.S_IMODE(d.socket.stat().st_mode) == 0o600
        assert stat.S_ISSOCK(d.socket.stat().st_mode)
        assert stat.S_IMODE(d.socket.parent.stat().st_mode) == 0o700
    finally:
        d.stop()
    assert not d.socket.exists()  # removed on a clean stop


def test_umask_is_restored_after_binding(folder: Path) -> None:
    before = os.umask(0o022)
    try:
        bind_socket(folder / "s" / "x.sock").close()
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(before)


def test_a_stale_socket_from_a_killed_daemon_is_replaced(folder: Path) -> None:
    path = folder / "run" / "daemon.sock"
    path.parent.mkdir()
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # bound, never listening, never unlinked: what kill -9 leaves
    dead.close()
    d = ApiDaemon(None, root=folder).start()
    try:
        assert http_json(d.socket, "GET", "/api/health")[0] == 200
    finally:
        d.stop()


def test_a_live_socket_is_not_taken_over(folder: Path) -> None:
    path = folder / "busy.sock"
    with bind_socket(path):
        with pytest.raises(SocketError, match="already listening"):
            bind_socket(path)
        assert path.exists()


def test_a_file_that_is_not_a_socket_is_left_alone(folder: Path) -> None:
    path = folder / "notes.sock"
    path.write_text("mine")
    with pytest.raises(SocketError, match="is not a socket"):
        bind_socket(path)
    assert path.read_text() == "mine"


def test_a_path_too_long_for_a_unix_socket_is_a_clear_error(folder: Path) -> None:
    with pytest.raises(SocketError, match="Unix sockets allow 107"):
        bind_socket(folder / ("x" * 120))


def test_peer_credentials_are_the_connecting_process(folder: Path) -> None:
    with bind_socket(folder / "p.sock") as server:
        server.setblocking(True)
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(folder / "p.sock"))
        accepted, _ = server.accept()
        with client, accepted:
            assert peer_credentials(accepted) == (os.getuid(), os.getgid())


def test_allowed_users_by_name_or_uid() -> None:
    assert resolve_users([0, "nobody"]) == frozenset({0, NOBODY})
    with pytest.raises(SocketError, match="no user named 'no-such-user'"):
        resolve_users(["no-such-user"])


def _connect_as_nobody(path: Path) -> tuple[int, object]:
    """As nobody: the HTTP status and body, or the errno of a refused connect."""

    def attempt() -> tuple[int, object]:
        try:
            return http_json(path, "GET", "/api/status")
        except OSError as exc:
            return -1, exc.errno

    return run_unprivileged(attempt)


@needs_root
def test_another_user_cannot_even_reach_the_socket(folder: Path) -> None:
    d = ApiDaemon(None, root=folder).start()
    try:
        assert _connect_as_nobody(d.socket) == (-1, errno.EACCES)
    finally:
        d.stop()


@needs_root
def test_another_uid_is_refused_by_peer_credentials_when_the_modes_let_it_in(
    folder: Path,
) -> None:
    d = ApiDaemon(None, root=folder).start()
    try:
        # As if an admin had opened the modes: the uid check still holds.
        folder.chmod(0o755)
        d.socket.parent.chmod(0o755)
        d.socket.chmod(0o666)
        status, body = _connect_as_nobody(d.socket)
        assert status == 403
        assert isinstance(body, dict)
        message = body["error"]["message"]
        assert f"nobody (uid {NOBODY}) may not use this daemon" in message
        assert "set api.group and add the user to that group" in message
    finally:
        d.stop()


@needs_root
def test_an_allowed_user_gets_in(folder: Path) -> None:
    d = ApiDaemon(None, root=folder, settings={"api": {"allowed_users": ["nobody"]}}).start()
    try:
        d.socket.parent.chmod(0o755)
        d.socket.chmod(0o666)
        status, body = _connect_as_nobody(d.socket)
        assert status == 200
        assert isinstance(body, dict) and body["pid"] == os.getpid()
    finally:
        d.stop()
