"""Disk trouble under a real daemon: the preview folder full, then read-only.

The preview folder lives on its own small tmpfs, so "full" is a real ENOSPC
and "read-only" a real EROFS, which stop root too (a chmod would not: the tests
run as root). Each test also runs with the batch writer's PNG writer swapped
for one that raises the same errors as a failed write() does: that variant
runs everywhere, so where no tmpfs can be mounted (not root, or no
CAP_SYS_ADMIN in a container) and the tmpfs variant is skipped, the daemon's
handling is still run.

Generation retries wait 5 s and more, doubling; rather than wait, the store's
clock stands still and the test moves it on when it wants the retry to run,
so every attempt happens when the test says and never by itself.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

import daemon.generation.writeback as writeback_module
from daemon.generation.images import write_png_atomically
from daemon.generation.models import LoadedModel
from daemon.store import utc_now
from gladtui.atomicfiles import is_temp_name
from tests.apidaemon import ApiDaemon, short_dir, task_yaml, wait_until

ATTEMPTS = 2
NO_SPACE, READ_ONLY = os.strerror(errno.ENOSPC), os.strerror(errno.EROFS)


class HeldClock:
    """The store's clock, standing still until `advance`: a retry is due only then."""

    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self) -> None:
        self.now += timedelta(hours=1)  # past any backoff


class Disk(Protocol):
    def fill(self) -> None: ...
    def free(self) -> None: ...
    def read_only(self) -> None: ...
    def writable(self) -> None: ...
    def close(self) -> None: ...


class Tmpfs:
    """A 1 MiB tmpfs mounted at `where`: the real thing."""

    def __init__(self, where: Path) -> None:
        self.where, self.filler = where, where / "filler"
        self._mount("-t", "tmpfs", "-o", "size=1m,mode=0755", "gladtui-test")

    def _mount(self, *args: str) -> None:
        subprocess.run(["mount", *args, str(self.where)], check=True, capture_output=True)

    def fill(self) -> None:
        with self.filler.open("ab", buffering=0) as stream, contextlib.suppress(OSError):
            while True:  # until ENOSPC: a short write first, then the error
                stream.write(b"\0" * 65536)

    def free(self) -> None:
        self.filler.unlink()

    def read_only(self) -> None:
        self._mount("-o", "remount,ro")

    def writable(self) -> None:
        self._mount("-o", "remount,rw")

    def close(self) -> None:
        subprocess.run(["umount", str(self.where)], check=False, capture_output=True)


class FailingWriter:
    """The batch writer's PNG writer fails as a full or read-only disk does."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.error: int | None = None

        def write(image: Any, path: Path, *, parameters: str, additions: str | None = None) -> None:
            if self.error is not None:  # as a failed write() raises it: no file named
                raise OSError(self.error, os.strerror(self.error))
            write_png_atomically(image, path, parameters=parameters, additions=additions)

        # raising=True (the default): if the writer moves again, this fails loudly
        monkeypatch.setattr(writeback_module, "write_png_atomically", write)

    def fill(self) -> None:
        self.error = errno.ENOSPC

    def read_only(self) -> None:
        self.error = errno.EROFS

    def free(self) -> None:
        self.error = None

    writable = free

    def close(self) -> None:
        pass


@dataclass
class Trouble:
    d: ApiDaemon
    disk: Disk
    clock: HeldClock

    def retry_now(self) -> None:
        self.clock.advance()
        assert self.d.daemon is not None
        self.d.daemon.generator.wake()  # rather than wait for its next poll


def make_disk(kind: str, where: Path, monkeypatch: pytest.MonkeyPatch) -> Disk:
    if kind == "failing-writer":
        return FailingWriter(monkeypatch)
    try:
        return Tmpfs(where)
    except (OSError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(where.parent)
        pytest.skip(f"no tmpfs here ({exc}); the failing-writer variant runs instead")


@pytest.fixture(params=["tmpfs", "failing-writer"])
def trouble(
    tiny: LoadedModel, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Trouble]:
    root = short_dir()
    (root / "disk").mkdir()
    disk = make_disk(request.param, root / "disk", monkeypatch)
    (root / "disk" / "previews").mkdir()  # the folder exists; writing into it is the trouble
    clock = HeldClock()
    settings = {"preview_dir": "disk/previews", "generation": {"max_attempts": ATTEMPTS}}
    d = ApiDaemon(tiny, root=root, settings=settings, clock=clock).start()
    try:
        yield Trouble(d, disk, clock)
    finally:
        d.stop()
        disk.close()  # unmounted before the folder is removed
        d.cleanup()


def submit(d: ApiDaemon, title: str) -> str:
    return d.submit(task_yaml(title, variations=3), "task.yaml")


def wait_for_note(d: ApiDaemon, task_id: str, attempt: int) -> dict[str, Any]:
    """The task once it is queued again after failed attempt `attempt`."""
    seen: dict[str, Any] = {}

    def noted() -> bool:
        seen.update(d.raw("GET", f"/api/tasks/{task_id}")[1])
        return str(seen["error"]).startswith(f"attempt {attempt} of ")

    wait_until(noted)
    return seen


def cannot_write(d: ApiDaemon, task_id: str, reason: str) -> str:
    """The task's message: the variation's own path (not a temp file) and the reason."""
    image = rf"sdxl-{task_id}-variation-\d+-\d{{8}}_\d{{6}}\.png"
    return rf"cannot write the image \({re.escape(str(d.config.preview_dir))}/{image}\): {reason}"


def previews(d: ApiDaemon) -> list[str]:
    return sorted(path.name for path in d.config.preview_dir.iterdir())


def assert_exactly_the_three(d: ApiDaemon, task: dict[str, Any]) -> None:
    """Variations 1-3, each a file, and nothing else in the folder: no temp, no orphan."""
    assert task["status"] == "review" and task["error"] is None
    variations = task["variations"]
    assert [(v["index"], v["seed"]) for v in variations] == [(1, 42), (2, 43), (3, 44)]
    assert previews(d) == sorted(Path(v["path"]).name for v in variations)
    assert not any(is_temp_name(name) for name in previews(d))


def test_a_full_preview_disk_fails_the_task_then_generate_makes_them(trouble: Trouble) -> None:
    d = trouble.d
    trouble.disk.fill()
    task_id = submit(d, "Disk full")

    queued = wait_for_note(d, task_id, attempt=1)
    assert queued["status"] == "queued"
    note = rf"attempt 1 of {ATTEMPTS} failed, retrying: " + cannot_write(d, task_id, NO_SPACE)
    assert re.fullmatch(note, queued["error"]), queued["error"]
    assert previews(d) == []  # the temp files of the failed writes are gone too

    trouble.retry_now()
    failed = d.wait_status(task_id, "failed")
    assert re.fullmatch(cannot_write(d, task_id, NO_SPACE), failed["error"]), failed["error"]
    assert failed["variations"] == [] and previews(d) == []

    # Space is freed; the reviewer asks for the variations again.
    trouble.disk.free()
    status, body = d.raw("POST", f"/api/tasks/{task_id}/generate", {})
    assert status == 200, body
    assert_exactly_the_three(d, d.wait_status(task_id, "review"))


def test_a_read_only_preview_folder_recovers_on_the_retry(trouble: Trouble) -> None:
    d = trouble.d
    trouble.disk.read_only()
    task_id = submit(d, "Read only")

    queued = wait_for_note(d, task_id, attempt=1)
    note = rf"attempt 1 of {ATTEMPTS} failed, retrying: " + cannot_write(d, task_id, READ_ONLY)
    assert queued["status"] == "queued"
    assert re.fullmatch(note, queued["error"]), queued["error"]
    assert previews(d) == []

    trouble.disk.writable()  # cleared before the retry: that one succeeds
    trouble.retry_now()
    assert_exactly_the_three(d, d.wait_status(task_id, "review"))
    assert d.daemon is not None
    to = [e.to_status for e in d.daemon.store.events.for_task(task_id) if e.to_status]
    assert [str(s) for s in to].count("generating") == 2  # the failed attempt, then the retry
