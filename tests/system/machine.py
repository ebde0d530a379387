"""A real systemd as PID 1 in namespaces of its own, on a throwaway overlay of the root.

`systemd-nspawn` refuses on this kind of machine, but systemd boots as PID 1
of new PID, mount, UTS, IPC and cgroup namespaces, chrooted into the root
(enter.sh lays out the mounts). The runner drives it from outside with
`nsenter` and reads its files through /proc/PID/root.

What it leaves on the host: nothing. Its mounts live in its own mount
namespace; its cgroups in a child of the runner's cgroup v2, removed at the
end; its processes die with its PID 1, which dies with the runner
(PR_SET_PDEATHSIG through setpriv and unshare --kill-child). Writes land in the
run's upper folder, removed at the end, so the cached root is never changed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.system.rootfs import CLEAN_PATH, CachedRoot

ENTER = Path(__file__).with_name("enter.sh")
CONTAINER = "gladtui-system-test"
# Units that would reach the host (its kernel's audit log and modules) or are
# noise in a test (a console login, daily timers).
MASKED = (
    "systemd-journald-audit.socket",
    "systemd-modules-load.service",
    "console-getty.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-fs-fuse-connections.mount",
)


class MachineError(Exception):
    """The machine could not boot or be driven; the message says what happened."""


def cgroup2_mount() -> Path:
    """Where the host mounts cgroup v2 (/sys/fs/cgroup, or its unified/ on hybrid hosts)."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[2] == "cgroup2":
            return Path(fields[1])
    raise MachineError("no cgroup v2 hierarchy is mounted; systemd needs one")


def own_cgroup() -> Path:
    """This process's cgroup v2, as a folder under the hierarchy's mount."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return cgroup2_mount() / line[3:].lstrip("/")
    raise MachineError("this process is in no cgroup v2")


class Machine:
    """One boot of the root: `boot()`, then `run()` commands inside, then `shutdown()`."""

    def __init__(self, cached: CachedRoot, run_dir: Path) -> None:
        self.cached = cached
        self.run_dir = run_dir
        self.upper = run_dir / "upper"
        self.console = run_dir / "console"
        self.cgroup = own_cgroup() / f"{CONTAINER}-{os.getpid()}"
        self.pid = 0
        self._launcher: subprocess.Popen[bytes] | None = None

    def prepare(self) -> None:
        """The run's folders, and the masked units, before the boot."""
        for name in ("upper", "work", "merged"):
            (self.run_dir / name).mkdir(parents=True)
        self.console.touch()
        units = self.upper / "etc/systemd/system"
        units.mkdir(parents=True)
        for unit in MASKED:
            (units / unit).symlink_to("/dev/null")

    def boot(self, timeout: float = 120) -> str:
        """Start systemd and wait until it has finished booting; its state (`running`)."""
        self.cgroup.mkdir()
        procs = self.cgroup / "cgroup.procs"
        command = ["setpriv", "--pdeathsig", "KILL", "--", "unshare", "--pid", "--mount"]
        command += ["--uts", "--ipc", "--cgroup", "--kill-child=SIGKILL"]
        command += ["--propagation", "private", "sh", str(ENTER)]
        command += [str(self.cached.root), str(self.run_dir), str(self.cached.wheels)]
        with self.console.open("ab") as log:
            self._launcher = subprocess.Popen(
                command,
                stdout=log,
                stderr=log,
                env={"PATH": CLEAN_PATH, "container": CONTAINER},
                # Into the child cgroup first, so --cgroup makes it the namespace's root.
                preexec_fn=lambda: procs.write_text("0"),
            )
        self.pid = self._wait_for_pid1(timeout)
        self._wait_for(self.path("/run/systemd/private"), timeout)  # systemctl's way in
        state = self.run("systemctl", "is-system-running", "--wait", check=False, timeout=timeout)
        return state.stdout.strip()

    def _wait_for(self, socket: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not socket.exists():
            ended = self._launcher is not None and self._launcher.poll() is not None
            if ended or time.monotonic() > deadline:
                raise MachineError(f"systemd made no {socket.name} socket; see {self.console}")
            time.sleep(0.1)

    def _wait_for_pid1(self, timeout: float) -> int:
        assert self._launcher is not None
        children = Path(f"/proc/{self._launcher.pid}/task/{self._launcher.pid}/children")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._launcher.poll() is not None:
                raise MachineError(f"the boot ended early; see {self.console}")
            pids = children.read_text().split() if children.exists() else []
            if pids and _program(int(pids[0])) == "systemd":
                return int(pids[0])
            time.sleep(0.1)
        raise MachineError(f"systemd did not start in {timeout:.0f} s; see {self.console}")

    def run(
        self,
        *argv: str,
        user: str | None = None,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """`argv` inside the machine, as root or as `user`, with a clean environment."""
        enter = ["nsenter", "-t", str(self.pid), "-p", "-m", "-u", "-i", "-C", "-r", "-w"]
        env = ["env", "-i", f"PATH={CLEAN_PATH}", "LANG=C.UTF-8"]
        as_user = [] if user is None else ["runuser", "-u", user, "--"]
        done = subprocess.run(
            [*enter, *env, *as_user, *argv],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            said = (done.stderr or done.stdout).strip()
            raise MachineError(f"`{' '.join(argv)}` failed (exit {done.returncode}): {said}")
        return done

    def path(self, inside: str) -> Path:
        """A path inside the machine, as the host reaches it (through its PID 1)."""
        return Path(f"/proc/{self.pid}/root") / inside.lstrip("/")

    def shutdown(self) -> list[str]:
        """Kill PID 1 (and so everything in it), clean up; what was left behind, if anything."""
        if self._launcher is not None:
            if self._launcher.poll() is None and self.pid:
                os.kill(self.pid, signal.SIGKILL)
            self._launcher.kill()
            self._launcher.wait(timeout=60)
        problems = []
        if self.cgroup.exists():
            problems += self._remove_cgroups()
        mounted = [line for line in mounts() if str(self.run_dir) in line]
        problems += [f"still mounted: {line}" for line in mounted]
        if not problems:
            shutil.rmtree(self.run_dir)
        return problems

    def _remove_cgroups(self) -> list[str]:
        """Remove the machine's cgroups, deepest first, once their processes are gone."""
        deadline = time.monotonic() + 30
        while (self.cgroup / "cgroup.events").read_text().find("populated 1") >= 0:
            if time.monotonic() > deadline:
                left = (self.cgroup / "cgroup.procs").read_text().split()
                return [f"processes still running in {self.cgroup}: {left}"]
            time.sleep(0.1)
        for folder in sorted(self.cgroup.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if folder.is_dir():
                folder.rmdir()
        self.cgroup.rmdir()
        return []


def _program(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/exe").readlink().name
    except OSError:  # gone, or between two execs
        return ""


def mounts() -> list[str]:
    return Path("/proc/self/mounts").read_text().splitlines()
