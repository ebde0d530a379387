"""The Debian root the system test boots, built once and cached by what goes into it.

debootstrap makes a minimal Debian with systemd and Python. A venv in
/opt/gladtui then gets torch's CPU wheel first and gladtui's dependencies
after it, as docs/operations.md tells an admin, from a wheelhouse that this machine's
own pip fills (so packages come from wherever pip finds them here, offline
inside the root). gladtui itself is never cached: each run installs the
current checkout (see checks.py).

The cache has two layers, each under a key of what goes into it: the
debootstrapped Debian (the package list) and the root with its venv (the
requirements as well). A changed key builds anew and removes the folders of
old keys that no run is using.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"
PACKAGES = ("systemd", "dbus", "python3", "python3-venv")
TORCH = "torch==2.13.0"
RECIPE = 1  # raise it when the way the root is built changes
VENV = "/opt/gladtui"
WHEELS_INSIDE = "/mnt/wheels"
MIRROR = os.environ.get("GLADTUI_SYSTEM_TEST_MIRROR", "http://deb.debian.org/debian")
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class BuildError(Exception):
    """The root could not be built; the message says which step and why."""


@dataclass(frozen=True)
class CachedRoot:
    """A built root: its file system and the wheelhouse its venv came from."""

    folder: Path

    @property
    def root(self) -> Path:
        return self.folder / "root"

    @property
    def wheels(self) -> Path:
        return self.folder / "wheels"

    @contextmanager
    def in_use(self) -> Iterator[None]:
        """Held while a run boots on this root, so no other run removes it meanwhile."""
        with locked(self.folder / "in-use", fcntl.LOCK_SH):
            yield


def requirements(project: Path) -> list[str]:
    """What the venv needs besides gladtui: torch first, its dependencies, its build backend."""
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    return [TORCH, *data["project"]["dependencies"], *data["build-system"]["requires"]]


def key_of(recipe: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def prepare(cache: Path, project: Path, say: Callable[[str], None]) -> CachedRoot:
    """The cached root for this checkout's requirements, built first if missing.

    Two layers, each with its own key: the debootstrapped Debian (the package
    list), and a copy of it with the venv (the requirements too), so a new
    dependency costs a venv, not a debootstrap.
    """
    wanted = requirements(project)
    debian_recipe = {"recipe": RECIPE, "suite": SUITE, "packages": PACKAGES}
    debian = cache / f"debian-{key_of(debian_recipe)}"
    cached = CachedRoot(cache / f"root-{key_of({**debian_recipe, 'requirements': wanted})}")
    cache.mkdir(parents=True, exist_ok=True)
    with locked(cache / "build.lock", fcntl.LOCK_EX):
        if cached.folder.is_dir():
            say(f"root: cached in {cached.folder}")
        else:
            build(cached, debian, wanted, say)
        remove_unused(cache, keep=(cached.folder, debian))
    return cached


def build(cached: CachedRoot, debian: Path, wanted: list[str], say: Callable[[str], None]) -> None:
    """Build into a temporary folder, renamed into place only once complete."""
    partial = CachedRoot(cached.folder.with_name(cached.folder.name + ".partial"))
    shutil.rmtree(partial.folder, ignore_errors=True)
    partial.wheels.mkdir(parents=True)
    (partial.wheels / "requirements.txt").write_text("\n".join(wanted) + "\n", encoding="utf-8")
    started = time.monotonic()
    say("root: the venv's wheels, from this machine's pip")
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    pip += ["--only-binary=:all:", "-d", str(partial.wheels), *wanted]
    wheels = Step(partial.folder / "pip-download.log", pip, env=dict(os.environ))
    if debian.is_dir():
        say(f"root: Debian cached in {debian}")
    else:  # meanwhile
        debootstrap(debian, say)
    subprocess.run(["cp", "-a", str(debian / "root"), str(partial.root)], check=True)
    wheels.finish()
    say(f"root: Debian and wheels ready in {time.monotonic() - started:.0f} s")
    started = time.monotonic()
    offline = f"{VENV}/bin/pip install --quiet --no-index --find-links {WHEELS_INSIDE}"
    inside = (
        f"python3 -m venv {VENV} && {offline} '{TORCH}'"
        f" && {offline} -r {WHEELS_INSIDE}/requirements.txt"
    )
    Step(partial.folder / "venv.log", chrooted(partial, inside)).finish()
    say(f"root: venv in {VENV} (torch first, then the rest) in {time.monotonic() - started:.0f} s")
    partial.folder.rename(cached.folder)


def debootstrap(debian: Path, say: Callable[[str], None]) -> None:
    partial = debian.with_name(debian.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    say(f"root: debootstrap {SUITE} ({', '.join(PACKAGES)}) from {MIRROR}")
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}"]
    Step(partial / "debootstrap.log", [*command, SUITE, str(partial / "root"), MIRROR]).finish()
    partial.rename(debian)


def chrooted(cached: CachedRoot, command: str) -> list[str]:
    """`command` in a chroot of the root, with /proc and the wheelhouse mounted privately."""
    root = str(cached.root)
    script = 'mkdir -p "$1$3" && mount --bind -o ro "$2" "$1$3" && exec chroot "$1" sh -c "$4"'
    namespaces = ["unshare", "--mount", "--pid", "--fork", "--propagation", "private"]
    namespaces.append(f"--mount-proc={root}/proc")
    return [*namespaces, "sh", "-c", script, "sh", root, str(cached.wheels), WHEELS_INSIDE, command]


class Step:
    """One build step, started at once, its output kept in `log`; finish() waits for it."""

    def __init__(self, log: Path, command: list[str], env: dict[str, str] | None = None) -> None:
        self.log = log
        with log.open("w", encoding="utf-8") as out:
            self.process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env or {"PATH": CLEAN_PATH, "LANG": "C.UTF-8"},
            )

    def finish(self) -> None:
        code = self.process.wait()
        if code != 0:
            tail = self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            name = self.log.stem
            raise BuildError(f"{name} failed (exit {code}), see {self.log}:\n" + "\n".join(tail))


def remove_unused(cache: Path, keep: tuple[Path, ...]) -> None:
    """Folders of older keys, except a root that a run is booted on right now."""
    for folder in [*cache.glob("root-*"), *cache.glob("debian-*")]:
        if folder in keep:
            continue
        try:
            with locked(folder / "in-use", fcntl.LOCK_EX | fcntl.LOCK_NB):
                shutil.rmtree(folder / "root", ignore_errors=True)
        except BlockingIOError:
            continue
        shutil.rmtree(folder)


@contextmanager
def locked(path: Path, mode: int) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, mode)
        yield
