"""Who may call the API (daemon/api/peers.py), with callers whose uid and gid differ.

A caller's uid decides "the daemon's own user" and `api.allowed_users`; its
gid (and its groups) decide `api.group`. Callers whose uid and gid are both 0
or both the same number cannot tell one from the other, so every caller here
has a uid and a gid that differ: first against `Peers` directly (real passwd
and group lookups), then as real processes that dropped to those ids, over a
real daemon's socket (root only; tests/privileges.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.api.peers import Group, Peers
from tests.apidaemon import ApiDaemon, http_json, short_dir
from tests.privileges import NOBODY, run_as

NO_SUCH_UID = 4_000_417  # no passwd entry: no groups, named by number
OTHER_GID = 4_000_418
DAEMON_UID = 0  # the daemon's own user in the unit tests (as when run as root)


def test_a_caller_whose_gid_is_the_daemons_uid_is_not_the_daemons_user() -> None:
    peers = Peers(DAEMON_UID, frozenset(), None)
    peer = peers.identify(NOBODY, DAEMON_UID)
    assert (peer.uid, peer.name, peer.admitted) == (NOBODY, "nobody", False)
    assert peers.identify(NO_SUCH_UID, DAEMON_UID).admitted is False


def test_the_daemons_user_is_admitted_whatever_its_gid() -> None:
    peers = Peers(DAEMON_UID, frozenset(), None)
    assert peers.identify(DAEMON_UID, NOBODY).admitted
    assert peers.identify(DAEMON_UID, OTHER_GID).admitted


def test_allowed_users_are_matched_by_uid_not_gid() -> None:
    peers = Peers(DAEMON_UID, frozenset({NOBODY}), None)
    assert peers.identify(NOBODY, OTHER_GID).admitted
    assert not peers.identify(NO_SUCH_UID, NOBODY).admitted


def test_the_group_is_matched_by_gid_or_membership_not_by_uid() -> None:
    group = Group("outsiders", OTHER_GID)
    peers = Peers(DAEMON_UID, frozenset(), group)
    assert peers.identify(NO_SUCH_UID, OTHER_GID).admitted  # the connection's own gid
    assert not peers.identify(OTHER_GID, NOBODY).admitted  # a uid equal to the gid is nothing
    # nobody's passwd entry makes it a member of its primary group, whatever gid it calls with.
    primary = os.getgrouplist("nobody", NOBODY)[0]
    member = Peers(DAEMON_UID, frozenset(), Group("nogroup", primary))
    assert member.identify(NOBODY, OTHER_GID).admitted
    assert not member.identify(NO_SUCH_UID, OTHER_GID).admitted


def test_a_refusal_names_the_caller_the_daemons_user_and_the_way_in() -> None:
    peers = Peers(DAEMON_UID, frozenset(), Group("reviewers", OTHER_GID))
    named, nameless = peers.identify(NOBODY, DAEMON_UID), peers.identify(NO_SUCH_UID, NOBODY)
    assert peers.refusal(named) == (
        f"nobody (uid {NOBODY}) may not use this daemon (it runs as root); add the user to "
        "the group reviewers (sudo usermod -aG reviewers nobody, then log in again), or to "
        "api.allowed_users in the daemon's config"
    )
    assert peers.refusal(nameless) == (
        f"uid:{NO_SUCH_UID} may not use this daemon (it runs as root); add the user to the "
        "group reviewers (sudo usermod -aG reviewers USER, then log in again), or to "
        "api.allowed_users in the daemon's config"
    )  # no passwd entry: usermod needs a name the caller has to find
    groupless = Peers(DAEMON_UID, frozenset(), None)
    assert groupless.refusal(named) == (
        f"nobody (uid {NOBODY}) may not use this daemon (it runs as root); set api.group and "
        "add the user to that group, or add it to api.allowed_users in the daemon's config"
    )


# --- real callers over a real socket ---------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as other users")


@pytest.fixture
def folder() -> Iterator[Path]:
    path = short_dir("gtp-")
    yield path
    shutil.rmtree(path)


def opened(d: ApiDaemon) -> ApiDaemon:
    """The socket's modes opened to anyone (an admin's mistake): only the peer check guards."""
    d.root.chmod(0o755)
    d.socket.parent.chmod(0o755)
    d.socket.chmod(0o666)
    return d


def call_as(socket: Path, uid: int, gid: int) -> tuple[int, Any]:
    """GET /api/status from a process with `uid` and `gid` (no other groups)."""

    def attempt() -> tuple[int, Any]:
        try:
            return http_json(socket, "GET", "/api/status")
        except OSError as exc:
            return -1, exc.errno

    return run_as(attempt, uid, gid)


@needs_root
def test_a_process_with_the_daemons_gid_but_another_uid_is_refused(folder: Path) -> None:
    d = opened(ApiDaemon(None, root=folder).start())
    try:
        status, body = call_as(d.socket, NOBODY, os.getgid())
    finally:
        d.stop()
    assert status == 403, body
    assert f"nobody (uid {NOBODY}) may not use this daemon" in body["error"]["message"]


@needs_root
def test_the_daemons_uid_with_another_gid_is_admitted(folder: Path) -> None:
    d = opened(ApiDaemon(None, root=folder).start())
    try:
        status, body = call_as(d.socket, os.getuid(), NOBODY)
    finally:
        d.stop()
    assert status == 200 and body["pid"] == os.getpid()


@needs_root
def test_an_allowed_user_calling_with_another_gid_is_admitted(folder: Path) -> None:
    d = ApiDaemon(None, root=folder, settings={"api": {"allowed_users": ["nobody"]}})
    opened(d.start())
    try:
        admitted = call_as(d.socket, NOBODY, OTHER_GID)
        refused = call_as(d.socket, NO_SUCH_UID, NOBODY)  # nobody's number as a gid only
    finally:
        d.stop()
    assert admitted[0] == 200
    assert refused[0] == 403 and "uid:4000417 may not use this daemon" in str(refused[1])
