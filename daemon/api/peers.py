"""Who is calling the API: a user name for the audit trail, and whether to answer.

The kernel gives the caller's uid and gid (SO_PEERCRED, see unixsocket.py).
A caller is admitted if it is the daemon's own user, is listed in
`api.allowed_users`, or belongs to the reviewers' group `api.group` (its
gid, its passwd entry's primary group, or its supplementary groups in the
group database). Looking a user up reads /etc/passwd and /etc/group (or
asks NSS), too slow for every request of a TUI, so each uid's name and
groups are kept for a short while: a user added to or removed from the group
is seen within `ttl` seconds.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable
from dataclasses import dataclass

from daemon.api.unixsocket import user_name

CACHE_SECONDS = 10.0
MAX_CACHED = 256  # distinct uids; past this the cache starts over


@dataclass(frozen=True)
class Group:
    name: str
    gid: int


@dataclass(frozen=True)
class Peer:
    uid: int
    name: str  # the user name, or "uid:N" without a passwd entry
    admitted: bool


class Peers:
    """Decides on callers by uid; `identify` is cheap after a uid's first request."""

    def __init__(
        self,
        own_uid: int,
        allowed_uids: frozenset[int],
        group: Group | None,
        *,
        ttl: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.own_uid = own_uid
        self.allowed_uids = allowed_uids
        self.group = group
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[int, tuple[float, str, frozenset[int]]] = {}

    def identify(self, uid: int, gid: int) -> Peer:
        """The caller with kernel-given `uid` and `gid`: its name, and whether it is admitted."""
        name, groups = self._lookup(uid)
        admitted = uid == self.own_uid or uid in self.allowed_uids
        if not admitted and self.group is not None:
            admitted = gid == self.group.gid or self.group.gid in groups
        return Peer(uid, name, admitted)

    def _lookup(self, uid: int) -> tuple[str, frozenset[int]]:
        now = self.clock()
        cached = self._cache.get(uid)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1], cached[2]
        name, groups = user_name(uid), _groups_of(uid)
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[uid] = (now, name, groups)
        return name, groups

    def refusal(self, peer: Peer) -> str:
        """Why `peer` is refused, and how it could get in."""
        nameless = peer.name.startswith("uid:")  # no passwd entry: usermod cannot name it
        who = peer.name if nameless else f"{peer.name} (uid {peer.uid})"
        own = user_name(self.own_uid)
        if self.group is not None:
            user = "USER" if nameless else peer.name
            way = (
                f"add the user to the group {self.group.name} (sudo usermod -aG "
                f"{self.group.name} {user}, then log in again), or to api.allowed_users"
            )
        else:
            way = "set api.group and add the user to that group, or add it to api.allowed_users"
        return f"{who} may not use this daemon (it runs as {own}); {way} in the daemon's config"


def _groups_of(uid: int) -> frozenset[int]:
    """The uid's primary and supplementary groups in the user and group databases."""
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return frozenset()
    try:
        return frozenset(os.getgrouplist(entry.pw_name, entry.pw_gid))
    except OSError:
        return frozenset({entry.pw_gid})
