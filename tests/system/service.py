"""gladtui's unit and its command line inside the machine, as an admin and a reviewer use them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from subprocess import CompletedProcess
from typing import Any, TypeVar

from tests.system.machine import Machine
from tests.system.rootfs import VENV

T = TypeVar("T")

UNIT = "gladtui"
SERVICE_USER = "gladtui"
CONFIG = "/etc/gladtui/config.yaml"
GLADTUI = f"{VENV}/bin/gladtui"
STATE = "/var/lib/gladtui"
DROP = f"{STATE}/drop"
PREVIEWS = f"{STATE}/previews"
# Waits are for conditions, never fixed sleeps; this only bounds a wait that
# would otherwise hang (the machine is shared, generation can be slow).
WAIT = 240.0


class CheckFailed(AssertionError):
    """A check saw something other than what the README promises."""


class Service:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    # -- systemd ------------------------------------------------------------------

    def systemctl(self, *args: str, check: bool = True) -> CompletedProcess[str]:
        return self.machine.run("systemctl", "--no-pager", *args, check=check, timeout=WAIT)

    def show(self, *properties: str) -> dict[str, str]:
        """Properties of the unit, e.g. show("ActiveState", "NRestarts")."""
        wanted = [f"--property={name}" for name in properties]
        lines = self.systemctl("show", *wanted, UNIT).stdout.splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def restart(self) -> CompletedProcess[str]:
        """Restart on purpose; reset-failed first, as an admin would after a failure.

        It also clears the start counter (StartLimitBurst=5 in 10 min), which
        these checks would otherwise exhaust with the restarts they provoke.
        """
        self.systemctl("reset-failed", UNIT, check=False)
        return self.systemctl("restart", UNIT, check=False)

    def wait_restarted(self, restarts_before: int, pid_before: str) -> dict[str, str]:
        """Until systemd has restarted the unit by itself and the new daemon is READY."""

        def again() -> dict[str, str] | None:
            now = self.show("NRestarts", "ActiveState", "SubState", "MainPID")
            back = now["ActiveState"] == "active" and now["SubState"] == "running"
            counted = int(now["NRestarts"]) > restarts_before
            return now if back and counted and now["MainPID"] != pid_before else None

        return self.wait_for("systemd to restart gladtui", again)

    def journal(self, *args: str) -> list[dict[str, Any]]:
        """The unit's journal entries (the daemon's lines and systemd's about it)."""
        out = self.machine.run("journalctl", "--no-pager", "-u", UNIT, "-o", "json", *args)
        return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]

    def cursor(self) -> list[str]:
        """Arguments that make journal() return only what is logged from now on."""
        last = self.journal("-n", "1")
        return ["--after-cursor", last[-1]["__CURSOR"]] if last else []

    def messages(self, *args: str) -> list[str]:
        return [str(entry.get("MESSAGE", "")) for entry in self.journal(*args)]

    # -- gladtui --------------------------------------------------------------------

    def cli(
        self, *args: str, user: str = SERVICE_USER, check: bool = True
    ) -> CompletedProcess[str]:
        """The `gladtui` command as `user` (the service user, or a reviewer in its group)."""
        return self.machine.run(GLADTUI, "--config", CONFIG, *args, user=user, check=check)

    def cli_json(self, *args: str, user: str = SERVICE_USER) -> Any:
        return json.loads(self.cli(*args, "--json", user=user).stdout)

    def task(self, task_id: str) -> dict[str, Any] | None:
        """The task as the API shows it; None while the daemon does not know it yet."""
        shown = self.cli("show", task_id, "--json", check=False)
        if shown.returncode == 1 and "no task" in shown.stderr:
            return None
        if shown.returncode != 0:
            raise CheckFailed(f"gladtui show {task_id}: {shown.stderr.strip()}")
        task: dict[str, Any] = json.loads(shown.stdout)
        return task

    def wait_task(self, task_id: str, status: str) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            task = self.task(task_id)
            if task is None:
                return None
            if task["status"] in ("failed", "invalid") and status != task["status"]:
                raise CheckFailed(f"task {task_id} is {task['status']}: {task['error']}")
            return task if task["status"] == status else None

        return self.wait_for(f"task {task_id} to be {status}", reached)

    def drop(self, name: str, text: str) -> None:
        """Place a task file in the drop folder whole (written as .part, then renamed)."""
        path = f"{DROP}/{name}"
        script = 'cat > "$1.part" && mv "$1.part" "$1"'
        self.machine.run("sh", "-c", script, "sh", path, input=text)

    def task_files(self, task_id: str) -> dict[str, tuple[int, int]]:
        """The task's images in the preview folder: name -> (inode, mtime), seen from the host."""
        folder = self.machine.path(PREVIEWS)
        found = {}
        for path in folder.glob(f"sdxl-{task_id}-variation-*.png"):
            stat = path.stat()
            found[path.name] = (stat.st_ino, stat.st_mtime_ns)
        return found

    def wait_for(
        self,
        what: str,
        condition: Callable[[], T | None],
        every: float = 1.0,
        timeout: float = WAIT,
    ) -> T:
        """Poll `condition` until it returns something other than None.

        Every second by default: a poll that runs `gladtui` costs half a second
        of CPU, which the daemon needs on a two-core machine. Reading a file
        from the host is cheap enough for a tighter `every`.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise CheckFailed(f"waited {timeout:.0f} s for {what}")
            time.sleep(every)
