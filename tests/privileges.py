"""Run a check as an unprivileged user, so permission tests mean something as root.

CI runs as root, and root reads any file whatever its mode. A forked child that
drops to `nobody` sees permissions as an ordinary user does.
"""

from __future__ import annotations

import encodings.utf_8_sig  # noqa: F401  (see run_as)
import os
import pickle
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

NOBODY = 65534


def run_unprivileged(check: Callable[[], T]) -> T:
    """`check()` in a child process as uid/gid nobody (directly when not root)."""
    if os.geteuid() != 0:
        return check()
    return run_as(check, NOBODY, NOBODY)


def run_as(check: Callable[[], T], uid: int, gid: int, groups: Sequence[int] = ()) -> T:
    """`check()` in a child process as `uid`, with primary `gid` and supplementary `groups`.

    Root only (setuid needs it). The child is forked, not exec'd: root's Python
    installation is not readable by other users, so the child can only use
    modules already imported here. Codecs are imported lazily on first use,
    hence the utf-8-sig import above.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, run, send back the outcome
        os.close(read_end)
        try:
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            outcome: tuple[bool, object] = (True, check())
        except BaseException as exc:
            outcome = (False, exc)
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(pickle.dumps(outcome))
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        ok, value = pickle.loads(pipe.read())
    os.waitpid(pid, 0)
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]
