"""Run a check as an unprivileged user, so permission tests mean something as root.

CI runs as root, and root reads any file whatever its mode. A forked child that
drops to `nobody` sees permissions as an ordinary user does.

The child is forked, not exec'd, and it can import nothing new: root's Python
installation is not readable by other users, nor is a checkout that sits in a
private folder (a 0700 temp folder, a home). So a module it needs must be
imported before the fork, and that holds wherever the checkout is: the child
refuses every import of a module not loaded yet (only built-in and frozen
modules, which are not files, still load), and says which it refused.
"""

from __future__ import annotations

import encodings.utf_8_sig  # noqa: F401  (codecs are imported lazily on first use)
import importlib.abc
import importlib.machinery
import os
import pickle
import sys
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TypeVar, cast

T = TypeVar("T")

NOBODY = 65534


def run_unprivileged(check: Callable[[], T]) -> T:
    """`check()` in a child process as uid/gid nobody (directly when not root)."""
    if os.geteuid() != 0:
        return check()
    return run_as(check, NOBODY, NOBODY)


def run_as(check: Callable[[], T], uid: int, gid: int, groups: Sequence[int] = ()) -> T:
    """`check()` in a child process as `uid`, with primary `gid` and supplementary `groups`.

    Root only (setuid needs it). What `check` raises is raised here, with the
    child's traceback and the imports it was refused as notes.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, run, send back the outcome
        os.close(read_end)
        refused = _import_nothing_new()
        try:
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            outcome: tuple[bool, object] = (True, check())
        except BaseException as exc:
            outcome = (False, _explained(exc, uid, refused))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(_pickled(outcome))
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    assert data, f"the child running as uid {uid} died without an outcome"
    ok, value = pickle.loads(data)
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return cast(T, value)


class _Refuser(importlib.abc.MetaPathFinder):
    """Finds nothing, and remembers what it was asked for."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        self.names.append(fullname)
        return None


def _import_nothing_new() -> list[str]:
    """From now on in this process, only modules already imported (or built in) load."""
    refused: list[str] = []
    kept = [
        finder
        for finder in sys.meta_path
        if finder in (importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter)
    ]
    sys.meta_path[:] = [*kept, _Refuser(refused)]
    return refused


def _explained(exc: BaseException, uid: int, refused: list[str]) -> BaseException:
    """The child's exception with what the parent cannot see: where, and what was refused."""
    exc.add_note(f"in the child running as uid {uid}:\n" + "".join(traceback.format_exception(exc)))
    if refused:
        exc.add_note(f"imports refused there (not imported before the fork): {', '.join(refused)}")
    return exc


def _pickled(outcome: tuple[bool, object]) -> bytes:
    try:
        return pickle.dumps(outcome)
    except Exception as exc:  # a value or an exception pickle cannot carry: say what it was
        value = outcome[1]
        text = (
            "".join(traceback.format_exception(value))
            if isinstance(value, BaseException)
            else repr(value)
        )
        return pickle.dumps((False, RuntimeError(f"cannot send back ({exc}):\n{text}")))
