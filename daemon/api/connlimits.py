"""How many API connections may be open: in all, per user, and kept for the daemon's own.

Every open connection holds a file descriptor. A daemon out of descriptors
cannot open its database's write-ahead log, read a dropped file or load a
model, so the API takes at most `api.max_connections` at once, and never more
than half of the process's open-file limit: the other half is the watcher's,
DuckDB's and generation's. Each user (the peer's uid, from SO_PEERCRED) may
hold at most `api.max_connections_per_user`, and the last
`api.reserved_connections` are kept for the daemon's own user and root, so
that `gladtui` run as the service's user, and its health checks, still get in
while another admitted user's script holds every connection it may.

At start the daemon raises its soft open-file limit to the hard one (the
common practice: systemd's default soft limit of 1,024 exists for programs
that use select(), which the daemon does not).
"""

from __future__ import annotations

import resource
from collections import Counter
from dataclasses import dataclass

from daemon.api.unixsocket import user_name
from gladtui.config import ApiConfig

ROOT_UID = 0
MAX_NAMES = 256  # uids whose names are remembered for refusals


@dataclass(frozen=True)
class FileLimit:
    """The soft open-file limit before and after `raise_open_file_limit`."""

    before: int
    now: int


def raise_open_file_limit() -> FileLimit:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit, if it can."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
        return FileLimit(soft, soft)  # unlimited hard limits are refused for NOFILE anyway
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):  # a sandbox that forbids it: keep what we have
        return FileLimit(soft, soft)
    return FileLimit(soft, hard)


@dataclass(frozen=True)
class ConnectionLimits:
    total: int
    per_user: int
    reserved: int  # of `total`, for `privileged` only
    privileged: frozenset[int]  # the daemon's own uid and root

    @classmethod
    def from_config(cls, api: ApiConfig, open_files: int, own_uid: int) -> ConnectionLimits:
        """The configured caps, `total` lowered to half of `open_files` (the soft limit)."""
        total = max(2, min(api.max_connections, open_files // 2))
        reserved = min(api.reserved_connections, total // 2)
        return cls(total, api.max_connections_per_user, reserved, frozenset({own_uid, ROOT_UID}))

    def describe(self) -> str:
        uids = " and ".join(_who(uid) for uid in sorted(self.privileged))
        return (
            f"at most {self.total:,} connections, {self.per_user:,} per user, "
            f"the last {self.reserved:,} kept for {uids}"
        )


class Slot:
    """One admitted connection's place; `release` gives it back (once, however often called)."""

    def __init__(self, gate: ConnectionGate, uid: int) -> None:
        self.uid = uid
        self._gate: ConnectionGate | None = gate

    def release(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.give_back(self.uid)


class ConnectionGate:
    """Counts open connections per uid; `admit` hands out a Slot or says why not.

    Used from the API's event loop only, so it needs no lock.
    """

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._open: Counter[int] = Counter()
        self._total = 0
        self._names: dict[int, str] = {}

    @property
    def total(self) -> int:
        return self._total

    def open_for(self, uid: int) -> int:
        return self._open[uid]

    def admit(self, uid: int) -> Slot | str:
        """A Slot for a new connection from `uid`, or the refusal to send it."""
        limits = self.limits
        if self._open[uid] >= limits.per_user:
            return (
                f"{self.name(uid)} already has {self._open[uid]:,} connections open to the "
                f"daemon, the most one user may (api.max_connections_per_user); close some "
                "(a stuck script or a forgotten client?) and try again"
            )
        privileged = uid in limits.privileged
        room = limits.total if privileged else limits.total - limits.reserved
        if self._total >= room:
            kept = "" if privileged else f", less the {limits.reserved:,} api.reserved_connections"
            return (
                f"the daemon has {self._total:,} connections open, as many as it takes "
                f"(api.max_connections{kept}); try again in a moment"
            )
        self._open[uid] += 1
        self._total += 1
        return Slot(self, uid)

    def give_back(self, uid: int) -> None:
        self._open[uid] -= 1
        if self._open[uid] <= 0:
            del self._open[uid]
        self._total -= 1

    def name(self, uid: int) -> str:
        """`nobody (uid 65534)`: remembered, since refusals can come by the thousand."""
        known = self._names.get(uid)
        if known is None:
            if len(self._names) >= MAX_NAMES:
                self._names.clear()
            known = self._names[uid] = _who(uid)
        return known


def _who(uid: int) -> str:
    name = user_name(uid)
    return name if name.startswith("uid:") else f"{name} (uid {uid})"
