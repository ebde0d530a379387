"""`api.group`: reviewers reach the socket through a group and act as themselves.

A real group and real users are made with groupadd/useradd for each test
(root only), and each API call is made from a child process that has become
that user (tests/privileges.py), against a real daemon.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import secrets
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from daemon.api.peers import Group, Peers
from daemon.api.unixsocket import SocketError, bind_socket, closed_to_group, socket_group
from daemon.generation.models import LoadedModel
from tests.apidaemon import ApiDaemon, http_json, short_dir, task_yaml
from tests.privileges import run_as

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root to create a group and users and to act as them"
)


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int  # primary
    groups: tuple[int, ...]  # supplementary, as a fresh login would have them

    def call(self, socket: Path, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        """One API request from a process running as this user: (status, body) or (-1, errno)."""

        def attempt() -> tuple[int, Any]:
            try:
                return http_json(socket, method, url, body)
            except OSError as exc:
                return -1, exc.errno

        return run_as(attempt, self.uid, self.gid, self.groups)


@dataclass(frozen=True)
class Reviewers:
    group: str
    gid: int
    member: Account
    outsider: Account


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)


def _account(name: str) -> Account:
    entry = pwd.getpwnam(name)
    groups = tuple(g for g in os.getgrouplist(name, entry.pw_gid) if g != entry.pw_gid)
    return Account(name, entry.pw_uid, entry.pw_gid, groups)


@pytest.fixture
def reviewers() -> Iterator[Reviewers]:
    """A fresh group with one member, and a user outside it; all removed afterwards."""
    tag = secrets.token_hex(3)
    group, member, outsider = f"gtrev{tag}", f"gtmem{tag}", f"gtout{tag}"
    _run("groupadd", "--system", group)
    try:
        _run("useradd", "--system", "--no-create-home", "--groups", group, member)
        _run("useradd", "--system", "--no-create-home", outsider)
        yield Reviewers(group, grp.getgrnam(group).gr_gid, _account(member), _account(outsider))
    finally:
        for user in (member, outsider):
            subprocess.run(["userdel", user], capture_output=True, check=False)
        subprocess.run(["groupdel", group], capture_output=True, check=False)


@pytest.fixture
def folder() -> Iterator[Path]:
    path = short_dir("gtg-")
    yield path
    shutil.rmtree(path)


def _daemon(folder: Path, group: str, model: LoadedModel | None = None) -> ApiDaemon:
    return ApiDaemon(model, root=folder, settings={"api": {"group": group}}).start()


def test_the_folder_and_the_socket_belong_to_the_group(reviewers: Reviewers, folder: Path) -> None:
    d = _daemon(folder, reviewers.group)
    try:
        run, sock = d.socket.parent.stat(), d.socket.stat()
        assert (stat.S_IMODE(run.st_mode), run.st_gid) == (0o750, reviewers.gid)
        assert (stat.S_IMODE(sock.st_mode), sock.st_gid) == (0o660, reviewers.gid)
        assert stat.S_ISSOCK(sock.st_mode)
    finally:
        d.stop()


def test_a_member_reviews_as_themselves_without_reading_the_previews(
    reviewers: Reviewers, folder: Path, tiny: LoadedModel
) -> None:
    d = _daemon(folder, reviewers.group, tiny)
    member = reviewers.member
    try:
        task_id = d.submit(task_yaml("Muffins", variations=1))
        d.wait_status(task_id, "review")
        d.config.preview_dir.chmod(0o700)  # the previews are the daemon's alone

        def peek() -> list[Path]:
            return list(d.config.preview_dir.iterdir())

        with pytest.raises(PermissionError):
            run_as(peek, member.uid, member.gid, member.groups)
        status, page = member.call(d.socket, "GET", "/api/tasks")
        assert status == 200, page
        assert [task["id"] for task in page["tasks"]] == [task_id]
        status, body = member.call(
            d.socket, "POST", f"/api/tasks/{task_id}/approve", {"variation": 1}
        )
        assert status == 200, body
        assert d.daemon is not None
        history = d.daemon.store.events.for_task(task_id)
        [approval] = [event for event in history if event.to_status == "approved"]
        assert approval.actor == member.name
    finally:
        d.stop()


def test_an_outsider_cannot_reach_the_socket(reviewers: Reviewers, folder: Path) -> None:
    d = _daemon(folder, reviewers.group)
    try:
        assert reviewers.outsider.call(d.socket, "GET", "/api/status") == (-1, errno.EACCES)
    finally:
        d.stop()


def test_an_outsider_let_in_by_the_modes_is_told_how_to_get_in(
    reviewers: Reviewers, folder: Path
) -> None:
    d = _daemon(folder, reviewers.group)
    outsider, group = reviewers.outsider, reviewers.group
    try:
        d.socket.parent.chmod(0o755)  # as if an admin had opened the modes by mistake
        d.socket.chmod(0o666)
        status, body = outsider.call(d.socket, "GET", "/api/status")
        assert status == 403
        message = body["error"]["message"]
        assert message.startswith(f"{outsider.name} (uid {outsider.uid}) may not use this daemon")
        assert f"sudo usermod -aG {group} {outsider.name}, then log in again" in message
        assert "api.allowed_users" in message
    finally:
        d.stop()


def test_an_unknown_group_stops_the_start(folder: Path) -> None:
    d = ApiDaemon(None, root=folder, settings={"api": {"group": "no-such-group-gt"}})
    with pytest.raises(SocketError, match=r"api\.group: there is no group named 'no-such-gr"):
        d.start()
    d.stop()
    assert not d.socket.exists()


def test_a_daemon_user_outside_the_group_is_told_to_join_it(reviewers: Reviewers) -> None:
    outsider = reviewers.outsider

    def check() -> str:
        try:
            socket_group(reviewers.group)
        except SocketError as exc:
            return str(exc)
        return "accepted"

    said = run_as(check, outsider.uid, outsider.gid, outsider.groups)
    assert f"runs as {outsider.name}, who is not a member of {reviewers.group}" in said
    assert f"sudo usermod -aG {reviewers.group} {outsider.name}" in said
    member = reviewers.member
    assert run_as(check, member.uid, member.gid, member.groups) == "accepted"


def test_a_folder_owned_by_another_user_is_left_as_it_is(
    reviewers: Reviewers, folder: Path
) -> None:
    shared = folder / "shared"
    shared.mkdir(mode=0o755)
    os.chown(shared, reviewers.member.uid, -1)
    shared.chmod(0o1777)
    with bind_socket(shared / "d.sock", group=reviewers.gid):
        info = shared.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o1777, reviewers.member.uid)
        assert stat.S_IMODE((shared / "d.sock").stat().st_mode) == 0o660


def test_a_closed_folder_on_the_way_is_named(reviewers: Reviewers, folder: Path) -> None:
    closed = folder / "private"
    inner = closed / "run"
    inner.mkdir(parents=True)
    closed.chmod(0o700)
    assert closed_to_group(inner, reviewers.gid) == closed
    closed.chmod(0o750)
    assert closed_to_group(inner, reviewers.gid) == closed  # the group is root's, not theirs
    os.chown(closed, -1, reviewers.gid)
    assert closed_to_group(inner, reviewers.gid) is None


def test_membership_is_looked_up_again_after_the_cache_expires(reviewers: Reviewers) -> None:
    start = 1000.0  # a monotonic clock does not start at 0
    now = [start]
    peers = Peers(0, frozenset(), Group(reviewers.group, reviewers.gid), clock=lambda: now[0])
    outsider = reviewers.outsider
    first = peers.identify(outsider.uid, outsider.gid)
    assert (first.name, first.admitted) == (outsider.name, False)
    _run("gpasswd", "--add", outsider.name, reviewers.group)
    now[0] = start + peers.ttl / 2
    assert not peers.identify(outsider.uid, outsider.gid).admitted  # still the cached groups
    now[0] = start + peers.ttl
    assert peers.identify(outsider.uid, outsider.gid).admitted
    # The kernel's gid for the connection counts too (e.g. `sg GROUP` or newgrp).
    assert peers.identify(outsider.uid + 100_000, reviewers.gid).admitted


def test_a_uid_without_a_passwd_entry_is_named_by_its_number() -> None:
    uid = 4_000_321
    with pytest.raises(KeyError):
        pwd.getpwuid(uid)
    peer = Peers(0, frozenset({uid}), None).identify(uid, uid)
    assert (peer.name, peer.admitted) == (f"uid:{uid}", True)
