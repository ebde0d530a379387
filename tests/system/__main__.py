"""Run the system test: `python -m tests.system` (as root; scripts/system-test runs it).

Builds or reuses the cached root, copies the checkout in, boots systemd once,
runs every check on that boot, shuts it down, and ends with the line
`system-test: N passed, M failed` (exit 1 if anything failed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tests.system.checks import CHECKS, SOURCE, install
from tests.system.machine import Machine, MachineError
from tests.system.rootfs import prepare
from tests.system.service import Service

PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = Path(os.environ.get("GLADTUI_SYSTEM_TEST_CACHE", "/var/cache/gladtui-system-test"))


class Tally:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def record(self, name: str, seconds: float, error: str | None, note: str = "") -> None:
        if error is None:
            self.passed += 1
            say(f"ok    {name} ({seconds:.1f} s){': ' + note if note else ''}")
        else:
            self.failed += 1
            say(f"FAIL  {name} ({seconds:.1f} s)")
            for line in error.splitlines():
                say(f"        {line}")

    def timed(self, name: str, step: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            note = step()
        except Exception as exc:  # a check's failure is reported, never fatal to the run
            self.record(name, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
            return False
        self.record(name, time.monotonic() - started, None, note)
        return True


def say(line: str) -> None:
    print(line, flush=True)


def copy_checkout(project: Path, target: Path) -> int:
    """The checkout's files (tracked, and new ones not ignored), as they are on disk."""
    listing = subprocess.run(
        ["git", "-C", str(project), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    )
    copied = 0
    for name in listing.stdout.decode().split("\0"):
        source = project / name
        if name and source.is_file():  # a deleted tracked file is not part of the checkout
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name, follow_symlinks=False)
            copied += 1
    return copied


def run(cache: Path) -> Tally:
    tally = Tally()
    cached = None

    def build() -> str:
        nonlocal cached
        started = time.monotonic()
        cached = prepare(cache, PROJECT, lambda line: say(f"      {line}"))
        return f"{cached.root} ({time.monotonic() - started:.0f} s)"

    if not tally.timed("root file system", build) or cached is None:
        return tally
    run_dir = cache / "runs" / str(os.getpid())
    shutil.rmtree(run_dir, ignore_errors=True)
    machine = Machine(cached, run_dir)
    with cached.in_use():
        machine.prepare()
        copy_checkout(PROJECT, machine.upper / SOURCE.lstrip("/"))
        try:
            if tally.timed("boot: systemd as PID 1", lambda: boot(machine)):
                run_checks(tally, Service(machine))
            else:
                for name, _ in CHECKS:
                    tally.record(name, 0, "not run: the machine did not boot")
        finally:
            keep_journal(machine, cache / "last-run.journal")
            tally.timed("nothing left running, nothing mounted", lambda: shut_down(machine))
    return tally


def run_checks(tally: Tally, service: Service) -> None:
    """Each check in order; none after a failed install, which all of them need."""
    blocked = False
    for name, check in CHECKS:
        if blocked:
            tally.record(name, 0, "not run: the install failed")
        elif not tally.timed(name, partial(check, service)) and check is install:
            blocked = True


def keep_journal(machine: Machine, target: Path) -> None:
    """The machine's whole journal, for reading after a failure."""
    if not machine.pid:
        return
    journal = machine.run("journalctl", "--no-pager", "-o", "short-precise", check=False)
    target.write_text(journal.stdout, encoding="utf-8")
    say(f"      the machine's journal: {target}")


def boot(machine: Machine) -> str:
    state = machine.boot()
    version = machine.run("systemctl", "--version").stdout.splitlines()[0]
    if state != "running":
        failed = machine.run("systemctl", "--failed", "--no-legend", check=False).stdout
        raise MachineError(f"systemd is {state!r}, not 'running'; failed units:\n{failed}")
    release = machine.path("/etc/debian_version").read_text().strip()
    return f"{version}, Debian {release}, PID 1 is host pid {machine.pid}"


def shut_down(machine: Machine) -> str:
    problems = machine.shutdown()
    if problems:
        raise MachineError("\n".join(problems))
    return "PID 1 killed, its cgroups and run folder removed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/system-test", description=__doc__)
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help=f"where roots are kept ({DEFAULT_CACHE})"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        say("system-test: skipped (it needs root to boot systemd in namespaces of its own)")
        return 0
    started = time.monotonic()
    tally = run(args.cache)
    say(f"system-test took {time.monotonic() - started:.0f} s")
    say(f"system-test: {tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
