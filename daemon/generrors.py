"""How a failed generation is told: the file being written named, the cause in words."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from daemon.models import ModelError


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """Make an OSError name `path`, the file being written, so the task's error says where.

    As raised, a full disk names no file at all (a failed write() has none) and a
    read-only or forbidden folder names the hidden temp file the write goes through.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc  # same subclass, by errno


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"cannot write the image{where}: {exc.strerror}"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, ModelError) else f"{type(exc).__name__}: {text}"
