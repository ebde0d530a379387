"""`gladtui service install|uninstall`: the daemon's systemd unit for this installation.

The templates beside this module hold @PLACEHOLDERS@ filled in here: this
environment's `gladtui` command, the config file and, for the system unit, the
folders that ProtectSystem=strict would make read-only. What the steps touch
outside this process comes in a `Host`, so tests can pass temporary folders and
a recording runner; `run_service_command` passes the real ones.
"""

from __future__ import annotations

import argparse
import grp
import importlib.util
import os
import pwd
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TextIO

from gladtui.atomicfiles import replace_file
from gladtui.config import (
    MAX_CONFIG_BYTES,
    Config,
    ConfigError,
    find_config_file,
    load_config,
)
from gladtui.folders import written_folders
from gladtui.yamlsafe import load_yaml

UNIT_NAME = "gladtui.service"
SERVICE_USER = "gladtui"
REVIEWERS_GROUP = "gladtui-reviewers"  # `api.group` of the starter system config
SYSTEM_CONFIG = Path("/etc/gladtui/config.yaml")
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
# What StateDirectory=, CacheDirectory= and RuntimeDirectory= make writable.
SYSTEM_STATE = Path("/var/lib/gladtui")
SYSTEM_CACHE = Path("/var/cache/gladtui")
SYSTEM_RUNTIME = Path("/run/gladtui")
SYSTEM_SOCKET = SYSTEM_RUNTIME / "daemon.sock"

# The starter system config's folders, each in a directory systemd manages.
SYSTEM_FOLDERS = {
    "state_dir": SYSTEM_STATE,
    "cache_dir": SYSTEM_CACHE,
    "drop_dir": SYSTEM_STATE / "drop",
    "preview_dir": SYSTEM_STATE / "previews",
}
STARTER_SYSTEM_CONFIG = (
    "# gladtui as a system service: written by `gladtui service install --system`.\n"
    "# Other keys keep their defaults (see config.yaml in gladtui's sources). Keep\n"
    f"# paths absolute: the daemon runs as the {SERVICE_USER} user, not as you.\n"
    + "".join(f"{key}: {value}\n" for key, value in SYSTEM_FOLDERS.items())
    + f"# It must stay in {SYSTEM_RUNTIME}, the folder systemd makes for the service.\n"
    f"socket: {SYSTEM_SOCKET}\n"
    "api:\n"
    "  # Members of this group review as themselves (sudo usermod -aG GROUP USER,\n"
    "  # then log in again). Run the install again after changing it.\n"
    f"  group: {REVIEWERS_GROUP}\n"
)

Runner = Callable[[list[str]], subprocess.CompletedProcess[str]]


class InstallError(Exception):
    """Refused or failed; the message says why and what to do about it."""


def run_command(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `command` and capture its output; a missing program is a failure, not a crash."""
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        return subprocess.CompletedProcess(command, 127, "", f"{command[0]}: {exc.strerror}")


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def gladtui_command(python: Path) -> list[str]:
    """The command that starts gladtui in the environment of `python`."""
    # Not resolved: a venv's bin/python is a symlink out of the venv, and the
    # venv's `gladtui` script sits beside the link, not beside its target.
    script = python.parent / "gladtui"
    if not os.access(script, os.X_OK) and importlib.util.find_spec("gladtui.__main__"):
        return [str(python), "-m", "gladtui"]
    return [str(script)]


@dataclass(frozen=True)
class Host:
    """The world outside this process; every field is required so no test writes to /etc."""

    env: Mapping[str, str]
    is_root: bool
    command: list[str]
    run: Runner
    user_exists: Callable[[str], bool]
    group_exists: Callable[[str], bool]
    system_unit_dir: Path
    system_config: Path
    out: TextIO
    err: TextIO

    @classmethod
    def real(cls) -> Host:
        return cls(
            env=os.environ,
            is_root=os.geteuid() == 0,
            command=gladtui_command(Path(sys.executable).absolute()),
            run=run_command,
            user_exists=user_exists,
            group_exists=group_exists,
            system_unit_dir=SYSTEM_UNIT_DIR,
            system_config=SYSTEM_CONFIG,
            out=sys.stdout,
            err=sys.stderr,
        )

    def unit_path(self, system: bool) -> Path:
        if system:
            return self.system_unit_dir / UNIT_NAME
        xdg = self.env.get("XDG_CONFIG_HOME")
        base = Path(xdg) if xdg else Path(self.env.get("HOME") or Path.home()) / ".config"
        return base / "systemd" / "user" / UNIT_NAME

    def systemctl(self, system: bool, *args: str) -> list[str]:
        return ["systemctl", *([] if system else ["--user"]), *args]

    def check(self, command: list[str], aftermath: str) -> None:
        """Run `command`; on failure, say which one failed and where things stand."""
        done = self.run(command)
        if done.returncode != 0:
            reason = (done.stderr or done.stdout or "").strip() or "no message"
            raise InstallError(
                f"`{shlex.join(command)}` failed (exit {done.returncode}): {reason}\n{aftermath}"
            )


def render_unit(
    system: bool, config_path: Path | None, config: Config, command: Sequence[str]
) -> str:
    """The unit file for this installation (`config_path` None: the user's default config)."""
    name = "gladtui.service" if system else "gladtui-user.service"
    text = resources.files("gladtui.systemd").joinpath(name).read_text(encoding="utf-8")
    config_word = "" if config_path is None else unit_word(str(config_path), exec_line=True)
    rw_lines = [f"ReadWritePaths={unit_word(str(path))}" for path in writable_paths(config)]
    group = config.api.group
    values = {
        "@GLADTUI@": " ".join(unit_word(word, exec_line=True) for word in command),
        "@CONFIG@": config_word,
        "@CONFIG_OPTION@": f" --config {config_word}" if config_word else "",
        "@USER@": SERVICE_USER,
        "@READ_WRITE_PATHS@": "\n".join(rw_lines) or "# (none: all are in the folders above)",
        # The daemon gives /run/gladtui and the socket to the reviewers' group
        # itself (systemd makes the folder the service user's): it must be a member.
        "@REVIEWERS@": (
            f"SupplementaryGroups={unit_word(group)}"
            if group
            else f"# (no api.group: only {SERVICE_USER} may reach the socket)"
        ),
        "@RUNTIME_MODE@": "0750" if group else "0700",
    }
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def unit_word(text: str, *, exec_line: bool = False) -> str:
    """`text` as one word of a unit file setting: specifiers escaped, quoted when needed."""
    if "\n" in text or "\r" in text:
        raise InstallError(f"a unit file cannot hold a line break: {text!r}")
    text = text.replace("%", "%%")
    if exec_line:  # ExecStart= expands $VARIABLES
        text = text.replace("$", "$$")
    if re.search(r"[\s\"'\\;]", text):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def writable_paths(config: Config) -> list[Path]:
    """The folders the daemon writes that the system unit must open with ReadWritePaths=."""
    wanted = written_folders(config).values()
    managed = (SYSTEM_STATE, SYSTEM_CACHE, SYSTEM_RUNTIME)
    paths: list[Path] = []
    for path in wanted:
        if not any(path.is_relative_to(root) for root in managed) and path not in paths:
            paths.append(path)
    return paths


def system_config(host: Host, explicit: Path | None) -> tuple[Path, Config, Path | None]:
    """The system config's path, its contents, and where to write the starter (if needed)."""
    path = (explicit or host.system_config).absolute()
    starter = path if explicit is None and not path.exists() else None
    if starter is not None:
        data = load_yaml(STARTER_SYSTEM_CONFIG.encode(), max_bytes=MAX_CONFIG_BYTES)
        context = {"base_dir": path.parent, "env": host.env}
        config = Config.model_validate(data, context=context)
    else:
        config = load_config(path, host.env)
    if config.socket is None or not config.socket.is_relative_to(SYSTEM_RUNTIME):
        shown = "not set" if config.socket is None else f"{config.socket}"
        raise InstallError(
            f"{path}: the socket is {shown}, but a system service's socket must be in "
            f"{SYSTEM_RUNTIME} (its RuntimeDirectory): set `socket: {SYSTEM_SOCKET}`"
        )
    # A default folder depends on the home of whoever reads the config: root
    # here, the service user in the daemon. Both must see the same folders.
    given = config.model_fields_set
    unset = [f"{key}: {value}" for key, value in SYSTEM_FOLDERS.items() if key not in given]
    if unset:
        raise InstallError(
            f"{path}: set the folders, e.g. `{'`, `'.join(unset)}`: their defaults "
            "depend on the home of the user who reads the config"
        )
    return path, config, starter


def user_config(host: Host, explicit: Path | None) -> tuple[Path | None, Config]:
    """The file the user's commands read now, pinned for the service (None: defaults)."""
    found = find_config_file(explicit, host.env)
    path = None if found is None else found.absolute()
    return path, load_config(path, host.env)


def warn_unreachable(host: Host, paths: Sequence[Path]) -> None:
    # The service user is not the installer: a venv under /root, or one built
    # on a Python under /root, fails at start with a bare "permission denied".
    for path in paths:
        parents = reversed(path.parents)  # from / down, so a closed folder is seen first
        closed = next((f for f in parents if f.exists() and not f.stat().st_mode & 0o001), None)
        if closed is not None:
            print(
                f"warning: the {SERVICE_USER} user cannot reach {path} ({closed} is closed "
                "to other users); install gladtui where every user can read it, "
                "e.g. in a venv under /opt",
                file=host.err,
            )


def install(host: Host, *, system: bool, print_only: bool, explicit: Path | None) -> int:
    if system and not print_only and not host.is_root:
        again = [*host.command, "service", "install", "--system"]
        again += [] if explicit is None else ["--config", str(explicit.absolute())]
        raise InstallError(f"the system service needs root (try: sudo {shlex.join(again)})")
    config_path: Path | None
    if system:
        config_path, config, starter = system_config(host, explicit)
        programs = [Path(host.command[0]).resolve(), Path(sys.executable).resolve()]
        warn_unreachable(host, [*programs, config_path, *writable_paths(config)])
    else:
        (config_path, config), starter = user_config(host, explicit), None
    if not os.access(host.command[0], os.X_OK):
        print(f"warning: {host.command[0]} is missing; reinstall gladtui", file=host.err)
    unit = render_unit(system, config_path, config, host.command)
    if print_only:
        host.out.write(unit)
        return 0
    if system:
        prepare_system(host, config, starter)
    path = host.unit_path(system)
    write_file(path, unit)
    aftermath = f"The unit file is written at {path}; once systemd runs, install again."
    host.check(host.systemctl(system, "daemon-reload"), aftermath)
    host.check(host.systemctl(system, "enable", "--now", UNIT_NAME), aftermath)
    print_hints(host, system, path, config_path, config.api.group)
    return 0


def prepare_system(host: Host, config: Config, starter: Path | None) -> None:
    """The reviewers' group, the service's user, config and folders, before systemd starts it."""
    group = config.api.group
    if group and not host.group_exists(group):  # SupplementaryGroups= needs it to start
        host.check(["groupadd", "--system", group], "Nothing installed.")
    if not host.user_exists(SERVICE_USER):
        home = str(SYSTEM_STATE)
        useradd = ["useradd", "--system", "--user-group", "--home-dir", home]
        host.check([*useradd, "--shell", "/usr/sbin/nologin", SERVICE_USER], "Nothing installed.")
    if starter is not None:
        write_file(starter, STARTER_SYSTEM_CONFIG)
        print(f"wrote a starter config: {starter}", file=host.out)
    # ReadWritePaths= refuses to start the service when a folder is missing.
    for folder in writable_paths(config):
        if not folder.exists():
            # The service's alone, as the folders the daemon makes (gladtui/filemodes.py).
            owner = ["-o", SERVICE_USER, "-g", SERVICE_USER, "-m", "0700"]
            host.check(["install", "-d", *owner, str(folder)], "The unit is not installed.")


def write_file(path: Path, text: str) -> None:
    """Readable by all (no secrets in either file), replaced whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, text.encode("utf-8"), permissions=0o644)


def print_hints(
    host: Host, system: bool, path: Path, config_path: Path | None, group: str | None
) -> None:
    user = "" if system else " --user"
    gladtui = shlex.join(host.command)
    config = "" if config_path is None else f" --config {shlex.quote(str(config_path))}"
    lines = [
        f"installed {path}; gladtui is starting",
        f"  status:  systemctl{user} status gladtui",
        f"  logs:    journalctl{user} -u gladtui -f",
    ]
    if not system:
        lines.append(f"  review:  {gladtui}{config}")
        lines.append("  to keep it running after you log out: loginctl enable-linger $USER")
    elif group:
        lines.append(f"  review:  {gladtui}{config}")
        lines.append(f"  as a reviewer: sudo usermod -aG {group} USER, then log in again")
    else:
        lines.append(f"  review:  sudo -u {SERVICE_USER} {gladtui}{config}")
        lines.append(
            f"  to let reviewers work as themselves: set `api: {{group: {REVIEWERS_GROUP}}}` "
            "in the config and install again"
        )
    print("\n".join(lines), file=host.out)


def uninstall(host: Host, *, system: bool) -> int:
    if system and not host.is_root:
        again = shlex.join([*host.command, "service", "uninstall", "--system"])
        raise InstallError(f"the system service needs root (try: sudo {again})")
    path = host.unit_path(system)
    if not path.exists():
        print(f"nothing to remove: {path} does not exist", file=host.out)
        return 0
    host.check(host.systemctl(system, "disable", "--now", UNIT_NAME), f"{path} is still there.")
    path.unlink()
    host.check(host.systemctl(system, "daemon-reload"), f"{path} is removed.")
    print(f"stopped, disabled and removed {path}", file=host.out)
    if system:  # its tasks and images are the reviewers' work: never deleted here
        kept = f"the {SERVICE_USER} user, the reviewers' group, {SYSTEM_STATE} and the config"
        print(f"kept: {kept}", file=host.out)
    return 0


def service_command(args: argparse.Namespace, host: Host) -> int:
    explicit: Path | None = getattr(args, "config", None)
    try:
        if args.action == "install":
            print_only = bool(getattr(args, "print", False))
            return install(host, system=args.system, print_only=print_only, explicit=explicit)
        if args.action == "uninstall":
            return uninstall(host, system=args.system)
    except (InstallError, ConfigError, OSError) as exc:
        print(f"gladtui service {args.action}: {exc}", file=host.err)
        return 1
    print(f"gladtui service: unknown action {args.action!r}", file=host.err)
    return 2


def run_service_command(args: argparse.Namespace) -> int:
    """`gladtui service …` on this machine."""
    return service_command(args, Host.real())
