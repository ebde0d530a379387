"""The processes of a Ray the daemon started, reaped at the next start if the daemon was killed.

Measured with Ray 2.60: after a SIGKILL of the process that ran
`ray.init(address="local")`, the GCS, the raylet and the workers die with it,
but the raylet's agents (ray::DashboardAgent, ray::RuntimeEnvAgent) live on
for a minute or two. Under systemd the unit's cgroup takes them all; run by
hand, the daemon notes its Ray's processes (pid and start time, so a reused pid
is never mistaken) in the state folder and ends those still running at its
next start. A clean stop removes the note.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
from pathlib import Path

from gladtui.atomicfiles import replace_file
from gladtui.filemodes import PRIVATE_FILE

__all__ = ["forget", "note", "reap"]

log = logging.getLogger(__name__)


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, starttime, in clock ticks


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def note(path: Path) -> None:
    """Write down this process's children and theirs (the Ray it has just started)."""
    processes = {pid: _start_time(pid) for pid in _descendants(os.getpid())}
    text = json.dumps({str(pid): start for pid, start in processes.items() if start})
    replace_file(path, text.encode(), permissions=PRIVATE_FILE)


def reap(path: Path) -> None:
    """End the processes a killed daemon's Ray left running, if any."""
    try:
        processes = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    for pid_text, start in processes.items():
        pid = int(pid_text)
        if _start_time(pid) == start:  # the same process, not a reused pid
            log.info("ending process %d, left by the Ray of a daemon that was killed", pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    forget(path)


def forget(path: Path) -> None:
    path.unlink(missing_ok=True)
