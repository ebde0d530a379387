"""`gladtui service install|uninstall`: the rendered units and the install steps.

This machine has no running systemd, and the tests run as root: nothing here
may call the real useradd or systemctl, or write to /etc or ~/.config. The
install steps run against temporary folders and a runner that records the
commands; the printed units go through the real `systemd-analyze verify`.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.api.connlimits import ConnectionLimits
from gladtui.config import ApiConfig, load_config
from gladtui.systemd.install import Host, render_unit, run_command, service_command

GLADTUI = Path(sys.executable).parent / "gladtui"  # this venv's console script, unresolved
USERADD = "useradd --system --user-group --home-dir /var/lib/gladtui"
USERADD += " --shell /usr/sbin/nologin gladtui"


class Recorder:
    """Stands in for subprocess.run: records each command, fails those named in `fail`."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def __call__(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        line = " ".join(command)
        self.calls.append(line)
        if self.fail and self.fail in line:
            return subprocess.CompletedProcess(command, 1, "", "System has not been booted")
        return subprocess.CompletedProcess(command, 0, "", "")


def make_host(
    tmp_path: Path,
    run: Recorder,
    *,
    root: bool = True,
    user_present: bool = True,
    group_present: bool = True,
) -> Host:
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    return Host(
        env=env,
        is_root=root,
        command=[str(GLADTUI)],
        run=run,
        user_exists=lambda name: user_present and name == "gladtui",
        group_exists=lambda name: group_present and name == "gladtui-reviewers",
        system_unit_dir=tmp_path / "etc" / "systemd" / "system",
        system_config=tmp_path / "etc" / "gladtui" / "config.yaml",
        out=io.StringIO(),
        err=io.StringIO(),
    )


def output(host: Host) -> tuple[str, str]:
    assert isinstance(host.out, io.StringIO) and isinstance(host.err, io.StringIO)
    return host.out.getvalue(), host.err.getvalue()


def args(action: str, *, system: bool = False, config: Path | None = None) -> argparse.Namespace:
    return argparse.Namespace(action=action, system=system, print=False, config=config)


def write_config(
    folder: Path,
    *,
    socket: str | None = "/run/gladtui/daemon.sock",
    data: Path | None = None,
    group: str | None = None,
) -> Path:
    """A system-ready config in `folder` whose drop and preview folders exist in `data`."""
    data = data or folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("drop", "previews"):
        (data / name).mkdir(parents=True, exist_ok=True)
    lines = [
        f"drop_dir: {data / 'drop'}",
        f"preview_dir: {data / 'previews'}",
        "state_dir: /var/lib/gladtui",
        "cache_dir: /var/cache/gladtui",
    ]
    if socket is not None:
        lines.append(f"socket: {socket}")
    if group is not None:
        lines.append(f"api: {{group: {group}}}")
    path = folder / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def settings(unit: str) -> list[str]:
    return [line for line in unit.splitlines() if line and not line.startswith("#")]


def run_gladtui(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GLADTUI_CONFIG"}
    env.update(HOME=str(cwd / "home"), XDG_CONFIG_HOME=str(cwd / "xdg"))
    return subprocess.run(
        [str(GLADTUI), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_print_shows_the_user_unit_for_this_venv(tmp_path: Path) -> None:
    write_config(tmp_path)
    done = run_gladtui("service", "install", "--print", "--config", "config.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = settings(done.stdout)
    assert f"ExecStart={GLADTUI} daemon --config {tmp_path / 'config.yaml'}" in lines
    assert "Type=notify" in lines
    assert "WantedBy=default.target" in lines
    assert not [line for line in lines if line.startswith(("User=", "ProtectSystem="))]
    assert not (tmp_path / "xdg").exists()  # printed, not installed


def test_print_system_unit_opens_the_configured_folders_and_writes_nothing(
    tmp_path: Path,
) -> None:
    write_config(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    argv = ["service", "install", "--system", "--print", "--config", "config.yaml"]
    done = run_gladtui(*argv, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = settings(done.stdout)
    assert "User=gladtui" in lines
    assert f"ExecStart={GLADTUI} daemon --config {tmp_path / 'config.yaml'}" in lines
    rw = [line for line in lines if line.startswith("ReadWritePaths=")]
    # state_dir and cache_dir are the systemd-managed directories: not listed
    assert rw == [f"ReadWritePaths={tmp_path / 'drop'}", f"ReadWritePaths={tmp_path / 'previews'}"]
    assert not [line for line in lines if "PrivateDevices" in line]
    assert not [line for line in lines if "MemoryDenyWriteExecute" in line]
    assert "#DeviceAllow=/dev/nvidia0 rw" in done.stdout.splitlines()
    assert sorted(tmp_path.rglob("*")) == before


def test_the_system_unit_may_write_the_markdown_posts_folder(tmp_path: Path) -> None:
    write_config(tmp_path)
    site = tmp_path / "site" / "content" / "posts"
    with (tmp_path / "config.yaml").open("a") as config:
        config.write(f"publishing:\n  posts:\n    to: markdown\n    markdown: {{dir: {site}}}\n")
    argv = ["service", "install", "--system", "--print", "--config", "config.yaml"]
    done = run_gladtui(*argv, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"ReadWritePaths={site}" in settings(done.stdout)


def test_print_system_unit_without_config_writes_no_starter(tmp_path: Path) -> None:
    if Path("/etc/gladtui").exists():
        pytest.skip("/etc/gladtui exists on this machine; this test checks it is not created")
    done = run_gladtui("service", "install", "--system", "--print", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"ExecStart={GLADTUI} daemon --config /etc/gladtui/config.yaml" in done.stdout
    assert "ReadWritePaths=" not in done.stdout  # the starter's folders are all managed
    assert not Path("/etc/gladtui").exists()


def verify(unit: str, folder: Path, *, system: bool) -> str:
    """`systemd-analyze verify` of `unit`; its whole output, which must be empty."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    (folder / "unit").mkdir(exist_ok=True)
    path = folder / "unit" / "gladtui.service"
    path.write_text(unit)
    runtime = folder / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    command = ["systemd-analyze", *([] if system else ["--user"]), "verify", str(path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@pytest.mark.parametrize("system", [True, False], ids=["system", "user"])
def test_units_pass_systemd_analyze_verify(tmp_path: Path, system: bool) -> None:
    # Spaces, % and $ in the paths check the quoting and escaping too.
    config_path = write_config(
        tmp_path / "my $HOME", data=tmp_path / "100% folders", group="gladtui-reviewers"
    )
    config = load_config(config_path, {})
    unit = render_unit(system, config_path, config, [str(GLADTUI)])
    assert f'--config "{tmp_path}/my $$HOME/config.yaml"' in unit
    if system:
        assert f'ReadWritePaths="{tmp_path}/100%% folders/drop"' in unit
        assert "SupplementaryGroups=gladtui-reviewers" in settings(unit)
    assert verify(unit, tmp_path, system=system) == ""
    if system:  # the empty output means something: verify does report warnings
        nobody = unit.replace("User=gladtui", "User=nobody")
        assert "Special user nobody configured" in verify(nobody, tmp_path, system=True)


def test_user_install_writes_the_unit_then_reloads_and_enables(tmp_path: Path) -> None:
    config_path = write_config(tmp_path)
    runner = Recorder()
    host = make_host(tmp_path, runner)
    assert service_command(args("install", config=config_path), host) == 0
    unit = tmp_path / "xdg" / "systemd" / "user" / "gladtui.service"
    assert f"ExecStart={GLADTUI} daemon --config {config_path}" in unit.read_text()
    assert runner.calls == [
        "systemctl --user daemon-reload",
        "systemctl --user enable --now gladtui.service",
    ]
    out, _ = output(host)
    assert "journalctl --user -u gladtui -f" in out
    assert "loginctl enable-linger $USER" in out


def test_user_install_without_a_config_file_runs_on_defaults(tmp_path: Path) -> None:
    host = make_host(tmp_path, Recorder())
    assert service_command(args("install"), host) == 0
    unit = (tmp_path / "xdg" / "systemd" / "user" / "gladtui.service").read_text()
    assert f"ExecStart={GLADTUI} daemon\n" in unit


def test_failing_systemctl_is_named_and_the_unit_stays(tmp_path: Path) -> None:
    runner = Recorder(fail="enable")
    host = make_host(tmp_path, runner)
    assert service_command(args("install", config=write_config(tmp_path)), host) == 1
    unit = tmp_path / "xdg" / "systemd" / "user" / "gladtui.service"
    assert unit.exists()
    _, err = output(host)
    assert "`systemctl --user enable --now gladtui.service` failed (exit 1)" in err
    assert "System has not been booted" in err
    assert str(unit) in err


def test_a_missing_program_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    done = run_command([str(tmp_path / "no-such-systemctl"), "daemon-reload"])
    assert done.returncode == 127
    assert "no-such-systemctl" in done.stderr


def test_uninstall_disables_and_removes_the_unit(tmp_path: Path) -> None:
    config_path = write_config(tmp_path)
    installed = service_command(
        args("install", config=config_path), make_host(tmp_path, Recorder())
    )
    assert installed == 0
    unit = tmp_path / "xdg" / "systemd" / "user" / "gladtui.service"
    assert unit.exists()

    failing = Recorder(fail="disable")
    assert service_command(args("uninstall"), make_host(tmp_path, failing)) == 1
    assert unit.exists()  # kept, so that uninstalling again can work

    runner = Recorder()
    assert service_command(args("uninstall"), make_host(tmp_path, runner)) == 0
    assert not unit.exists()
    assert runner.calls == [
        "systemctl --user disable --now gladtui.service",
        "systemctl --user daemon-reload",
    ]


@pytest.mark.parametrize("user_present", [True, False])
def test_system_install_adds_the_user_only_when_missing(tmp_path: Path, user_present: bool) -> None:
    config_path = write_config(tmp_path)
    (tmp_path / "previews").rmdir()  # ReadWritePaths= needs it: the install creates it
    runner = Recorder()
    host = make_host(tmp_path, runner, user_present=user_present)
    assert service_command(args("install", system=True, config=config_path), host) == 0
    folder = f"install -d -o gladtui -g gladtui -m 0700 {tmp_path / 'previews'}"
    systemctl = ["systemctl daemon-reload", "systemctl enable --now gladtui.service"]
    assert runner.calls == [*([] if user_present else [USERADD]), folder, *systemctl]
    unit = (tmp_path / "etc" / "systemd" / "system" / "gladtui.service").read_text()
    assert "User=gladtui" in unit
    # A config without api.group: the socket stays the service user's alone.
    assert "RuntimeDirectoryMode=0700" in settings(unit)
    # The state and the cache are the service's alone, not systemd's default 0755.
    assert {"StateDirectoryMode=0700", "CacheDirectoryMode=0700"} <= set(settings(unit))
    assert not [line for line in settings(unit) if line.startswith("SupplementaryGroups=")]
    out, _ = output(host)
    assert "journalctl -u gladtui -f" in out
    assert f"sudo -u gladtui {GLADTUI} --config {config_path}" in out
    assert "set `api: {group: gladtui-reviewers}` in the config and install again" in out


@pytest.mark.parametrize("group_present", [True, False])
def test_system_install_makes_the_reviewers_group_once(tmp_path: Path, group_present: bool) -> None:
    config_path = write_config(tmp_path, group="gladtui-reviewers")
    runner = Recorder()
    host = make_host(tmp_path, runner, group_present=group_present)
    assert service_command(args("install", system=True, config=config_path), host) == 0
    groupadd = [] if group_present else ["groupadd --system gladtui-reviewers"]
    systemctl = ["systemctl daemon-reload", "systemctl enable --now gladtui.service"]
    assert runner.calls == [*groupadd, *systemctl]
    lines = settings((tmp_path / "etc" / "systemd" / "system" / "gladtui.service").read_text())
    assert "SupplementaryGroups=gladtui-reviewers" in lines
    assert "RuntimeDirectoryMode=0750" in lines
    assert "Group=gladtui" in lines  # the files it writes stay the service's own
    out, _ = output(host)
    assert f"review:  {GLADTUI} --config {config_path}\n" in out
    assert "sudo usermod -aG gladtui-reviewers USER, then log in again" in out
    assert "sudo -u" not in out


def test_a_failing_groupadd_installs_nothing(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, group="gladtui-reviewers")
    runner = Recorder(fail="groupadd")
    host = make_host(tmp_path, runner, group_present=False, user_present=False)
    assert service_command(args("install", system=True, config=config_path), host) == 1
    assert runner.calls == ["groupadd --system gladtui-reviewers"]
    _, err = output(host)
    assert "`groupadd --system gladtui-reviewers` failed (exit 1)" in err
    assert not (tmp_path / "etc").exists()


def test_system_install_writes_a_starter_config(tmp_path: Path) -> None:
    runner = Recorder()
    host = make_host(tmp_path, runner)
    assert service_command(args("install", system=True), host) == 0
    config = load_config(host.system_config, {})
    assert config.state_dir == Path("/var/lib/gladtui")
    assert config.drop_dir == Path("/var/lib/gladtui/drop")
    assert config.socket_path() == Path("/run/gladtui/daemon.sock")
    assert config.api.group == "gladtui-reviewers"
    unit = (tmp_path / "etc" / "systemd" / "system" / "gladtui.service").read_text()
    assert f"--config {host.system_config}" in unit
    assert "SupplementaryGroups=gladtui-reviewers" in settings(unit)
    assert runner.calls == ["systemctl daemon-reload", "systemctl enable --now gladtui.service"]


@pytest.mark.parametrize("socket", [None, "/tmp/gladtui.sock"])
def test_system_install_refuses_a_socket_outside_the_runtime_directory(
    tmp_path: Path, socket: str | None
) -> None:
    runner = Recorder()
    host = make_host(tmp_path, runner)
    config_path = write_config(tmp_path, socket=socket)
    assert service_command(args("install", system=True, config=config_path), host) == 1
    _, err = output(host)
    assert "set `socket: /run/gladtui/daemon.sock`" in err
    assert runner.calls == []
    assert not (tmp_path / "etc").exists()


def test_system_install_refuses_folders_left_to_their_defaults(tmp_path: Path) -> None:
    config_path = tmp_path / "config.yaml"
    config_path.write_text("socket: /run/gladtui/daemon.sock\ndrop_dir: /srv/drop\n")
    host = make_host(tmp_path, Recorder())
    assert service_command(args("install", system=True, config=config_path), host) == 1
    _, err = output(host)
    assert "preview_dir: /var/lib/gladtui/previews" in err
    assert "drop_dir" not in err  # it is set


def test_system_install_needs_root(tmp_path: Path) -> None:
    runner = Recorder()
    host = make_host(tmp_path, runner, root=False)
    assert service_command(args("install", system=True), host) == 1
    _, err = output(host)
    assert f"needs root (try: sudo {GLADTUI} service install --system)" in err
    assert runner.calls == []
    assert not (tmp_path / "etc").exists()


@pytest.mark.parametrize("system", [True, False], ids=["system", "user"])
def test_units_leave_the_daemon_files_to_spare_beyond_its_connections(
    tmp_path: Path, system: bool
) -> None:
    """Without LimitNOFILE= the soft limit is 1,024, and idle connections once took them all."""
    config_path = write_config(tmp_path, data=tmp_path / "data")
    unit = render_unit(system, config_path, load_config(config_path, {}), [str(GLADTUI)])
    [limit] = [line for line in settings(unit) if line.startswith("LimitNOFILE=")]
    files = int(limit.removeprefix("LimitNOFILE="))
    api = ApiConfig()
    caps = ConnectionLimits.from_config(api, files, own_uid=os.geteuid())
    assert caps.total == api.max_connections  # the unit's limit does not lower the cap
    assert files - caps.total >= 60_000  # and leaves the rest of the process plenty
