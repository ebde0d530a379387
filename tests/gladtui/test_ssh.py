"""`gladtui --ssh`: the daemon's socket forwarded by a real OpenSSH, to a real daemon.

One sshd (Debian's, tests/sshd.py) on 127.0.0.1 for the module, with a
generated host key and client key; the client is `ssh -F <its config>` through
$GLADTUI_SSH_COMMAND. The daemon (tests/apidaemon.py, the tiny model) listens
where a user daemon does, `$XDG_RUNTIME_DIR/gladtui/daemon.sock`, with the
remote session's XDG_RUNTIME_DIR set by sshd's `SetEnv`, so the probe finds it
as it would on a real host. The installed `gladtui` runs as a subprocess with
no local config; after every run no ssh of ours may remain (/proc).
"""

from __future__ import annotations

import os
import pty
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.generation.models import LoadedModel
from gladtui.cli import exits
from gladtui.cli import main as cli
from gladtui.sshforward import Target, parse_target
from tests.apidaemon import ApiDaemon, short_dir, task_yaml, wait_until
from tests.gladtui.tui.test_tui_tmux import Tmux, half_block_lines
from tests.sshd import Sshd, free_port, why_sshd_cannot_run

GLADTUI = Path(sys.executable).parent / "gladtui"
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def runtime_dir() -> Iterator[Path]:
    """The far side's XDG_RUNTIME_DIR (sshd's SetEnv gives it to the session)."""
    path = short_dir("gt-xdg-")
    yield path
    import shutil

    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def sshd(runtime_dir: Path) -> Iterator[Sshd]:
    reason = why_sshd_cannot_run()
    if reason:
        pytest.skip(reason)
    server = Sshd(SetEnv=f"XDG_RUNTIME_DIR={runtime_dir}").start()
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def live(tiny: LoadedModel, runtime_dir: Path) -> Iterator[ApiDaemon]:
    running = ApiDaemon(
        tiny, settings={"socket": str(runtime_dir / "gladtui" / "daemon.sock")}
    ).start()
    yield running
    running.cleanup()


@pytest.fixture(scope="module")
def muffins(live: ApiDaemon) -> str:
    task_id = live.submit(task_yaml("Muffins Over SSH", variations=2), "muffins.yaml")
    live.wait_status(task_id, "review")
    return task_id


def our_ssh(sshd: Sshd) -> list[int]:
    """The ssh clients run with this sshd's client config that are still alive."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        ours = str(sshd.folder).encode() in b" ".join(argv)
        if Path(argv[0].decode()).name == "ssh" and ours and state != "Z":
            found.append(int(entry.name))
    return found


def environment(sshd: Sshd, ssh_command: str | None = None) -> dict[str, str]:
    """No local config at all: the far daemon is all there is."""
    home = short_dir("gt-home-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLADTUI", "XDG_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        GLADTUI_SSH_COMMAND=ssh_command or sshd.ssh_command,
    )
    return env


def gladtui(
    sshd: Sshd, *args: str, target: str | None = None, ssh_command: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(GLADTUI), "--ssh", target or sshd.target, *args],
        env=environment(sshd, ssh_command),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert our_ssh(sshd) == [], f"ssh left running after gladtui {args}"
    return result


# -- against the daemon -------------------------------------------------------------


def test_lists_shows_and_approves_through_the_forward(
    sshd: Sshd, live: ApiDaemon, muffins: str
) -> None:
    listed = gladtui(sshd, "tasks")
    assert listed.returncode == 0, listed.stderr
    assert "Muffins Over SSH" in listed.stdout and muffins in listed.stdout, listed.stdout

    shown = gladtui(sshd, "show", muffins)
    assert shown.returncode == 0, shown.stderr
    assert "Muffins Over SSH" in shown.stdout and "seed 43" in shown.stdout, shown.stdout

    approved = gladtui(sshd, "approve", muffins, "--variation", "2")
    assert approved.returncode == 0, approved.stderr
    assert muffins in approved.stdout, approved.stdout
    task = live.wait_status(muffins, "published", timeout=TIMEOUT)
    assert task["selected_variation"] == 2


def test_submit_sends_the_file_through_the_api(sshd: Sshd, live: ApiDaemon) -> None:
    folder = short_dir("gt-files-")
    good = folder / "scones.yaml"
    good.write_bytes(task_yaml("Scones Over SSH", variations=1))
    bad = folder / "bad.yaml"
    bad.write_text("title: no prompt\n")
    result = gladtui(sshd, "submit", str(good), str(bad))
    assert result.returncode == exits.EXIT_REFUSED, result
    assert f"submitted: {good} -> {sshd.target}" in result.stdout, result.stdout
    assert f"refused: {bad}: " in result.stderr and "prompt" in result.stderr, result.stderr
    titles = [t["title"] for t in live.client.tasks(limit=100)["tasks"]]
    assert "Scones Over SSH" in titles and "no prompt" not in titles


def test_remote_socket_overrides_the_probe(sshd: Sshd, live: ApiDaemon) -> None:
    status = gladtui(sshd, "--remote-socket", str(live.socket), "status")
    assert status.returncode == 0, status.stderr
    # A path given is used as given, even with a daemon where the probe would look.
    missing = "/tmp/gladtui-nowhere/daemon.sock"
    result = gladtui(sshd, "--remote-socket", missing, "status")
    assert result.returncode == exits.EXIT_UNREACHABLE, result
    assert f"{missing} on {sshd.target} is missing" in result.stderr, result.stderr


# -- failures: message and exit code ---------------------------------------------------


def test_nothing_listening_on_the_port(sshd: Sshd) -> None:
    target = f"{sshd.user}@127.0.0.1:{free_port()}"
    result = gladtui(sshd, "tasks", target=target)
    assert result.returncode == exits.EXIT_SSH_HOST == 4, result
    assert f"cannot reach {target} over ssh" in result.stderr, result.stderr
    assert "Connection refused" in result.stderr, result.stderr


def test_a_key_the_server_does_not_know(sshd: Sshd) -> None:
    result = gladtui(sshd, "tasks", ssh_command=sshd.ssh_command_with(sshd.other_key))
    assert result.returncode == exits.EXIT_SSH_LOGIN == 5, result
    assert f"ssh could not log in to {sshd.target}" in result.stderr, result.stderr
    assert "Permission denied" in result.stderr and "authorized_keys" in result.stderr
    assert f"try `ssh -p {sshd.port} {sshd.user}@127.0.0.1` by hand" in result.stderr


def test_an_unknown_host_key_says_how_to_connect_once_with_the_port(sshd: Sshd) -> None:
    unknown = f"{sshd.ssh_command} -o UserKnownHostsFile=/dev/null"  # ours: trusted by none
    result = gladtui(sshd, "tasks", ssh_command=unknown)
    assert result.returncode == exits.EXIT_SSH_LOGIN == 5, result
    said = result.stderr
    assert f"ssh does not trust {sshd.target}'s host key" in said, said
    assert f"connect once with `ssh -p {sshd.port} {sshd.user}@127.0.0.1`" in said, said


def test_no_daemon_at_the_far_end(sshd: Sshd) -> None:
    elsewhere = [Path("/run/gladtui/daemon.sock"), Path("/run/user/0/gladtui/daemon.sock")]
    if os.getuid() != 0 or any(p.exists() for p in elsewhere):
        pytest.skip("a daemon socket of this machine would be found by the probe")
    empty = short_dir("gt-empty-")
    sshd.restart(SetEnv=f"XDG_RUNTIME_DIR={empty} TMPDIR={empty}")
    try:
        result = gladtui(sshd, "tasks")
    finally:
        sshd.restart()
    assert result.returncode == exits.EXIT_UNREACHABLE == 3, result
    said = result.stderr
    assert f"no gladtui daemon on {sshd.target}" in said, said
    assert f"{empty}/gladtui/daemon.sock" in said and "/run/gladtui/daemon.sock" in said, said
    assert "--remote-socket" in said, said


def test_sshd_that_refuses_socket_forwarding(sshd: Sshd, live: ApiDaemon) -> None:
    sshd.restart(AllowStreamLocalForwarding="no")
    try:
        result = gladtui(sshd, "tasks")
    finally:
        sshd.restart()
    assert result.returncode == exits.EXIT_SSH_FORWARDING == 6, result
    assert f"the sshd on {sshd.target} refuses to forward Unix sockets" in result.stderr
    assert "AllowStreamLocalForwarding" in result.stderr, result.stderr


def test_ctrl_c_while_ssh_is_logging_in(sshd: Sshd) -> None:
    """A host that takes the connection and never answers: Ctrl-C ends it all."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    target = f"{sshd.user}@127.0.0.1:{silent.getsockname()[1]}"
    controller, terminal = pty.openpty()  # as at a terminal: ssh may prompt there
    process = subprocess.Popen(
        [str(GLADTUI), "--ssh", target, "tasks"],
        env=environment(sshd),
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: accepted and our_ssh(sshd), TIMEOUT)
        process.send_signal(signal.SIGINT)
        process.wait(TIMEOUT)
        assert our_ssh(sshd) == [], "ssh left running after Ctrl-C"
        assert process.returncode != 0
    finally:
        process.kill()
        process.wait()
        assert process.stderr is not None
        process.stderr.close()
        os.close(controller)
        os.close(terminal)
        silent.close()
        for connection in accepted:
            connection.close()


# -- the TUI -------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["q", "SIGINT"])
def test_the_tui_through_the_forward(
    sshd: Sshd, live: ApiDaemon, tmux: Tmux, muffins: str, ending: str
) -> None:
    """The TUI shows the far daemon's tasks and thumbnails; q, or Ctrl-C, stops ssh."""
    pending = live.submit(task_yaml("Crumpets Over SSH", variations=3), "crumpets.yaml")
    live.wait_status(pending, "review")
    env = environment(sshd)
    report = '"$0" "$@"; echo "[gladtui exited with status $?]"; exec sleep 600'
    tmux.start(
        "env",
        f"HOME={env['HOME']}",
        f"XDG_CONFIG_HOME={env['XDG_CONFIG_HOME']}",
        f"GLADTUI_SSH_COMMAND={sshd.ssh_command}",
        "sh",
        "-c",
        report,
        str(GLADTUI),
        "--ssh",
        sshd.target,
    )
    tmux.wait_for(
        "the task list and its thumbnails",
        lambda s: "Crumpets Over SSH" in s and len(half_block_lines(s)) >= 3,
        timeout=TIMEOUT,
    )
    [ssh] = our_ssh(sshd)
    if ending == "q":
        tmux.send("q")
    else:  # SIGINT to gladtui itself, as `kill -INT` (the TUI reads Ctrl-C as a key)
        os.kill(parent_of(ssh), signal.SIGINT)
    after = tmux.wait_for("the TUI to exit", lambda s: "[gladtui exited with status" in s)
    assert "[gladtui exited with status 0]" in after, after
    assert "Traceback" not in after, after
    assert our_ssh(sshd) == [], f"ssh left running after {ending}"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


# -- the command line, without ssh running -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("host", Target("host")),
        ("review:22777", Target("review", None, 22777)),  # issue 29: refused as a bad user
        ("host.example:1", Target("host.example", None, 1)),
        ("127.0.0.1:65535", Target("127.0.0.1", None, 65535)),
        ("alice@host.example", Target("host.example", "alice")),
        ("alice@host:2222", Target("host", "alice", 2222)),
        ("[::1]:2222", Target("::1", None, 2222)),
        ("[::1]", Target("::1")),
        ("bob@[fe80::1]", Target("fe80::1", "bob")),
        ("bob@[fe80::1%eth0]:22", Target("fe80::1%eth0", "bob", 22)),
        ("::1", Target("::1")),
        ("me@work@bastion:2200", Target("bastion", "me@work", 2200)),  # ssh splits at the last @
    ],
)
def test_targets(text: str, target: Target) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "expected"),
        ("-oProxyCommand=x", "expected"),
        ("-oProxyCommand=x:22", "expected"),
        (":22", "expected"),
        ("alice@:22", "expected"),
        ("[]:22", "expected"),
        ("host:", "port"),
        ("host:0", "port"),
        ("host:65536", "port"),
        ("host:99999", "port"),
        ("host:-1", "port"),
        ("host:22a", "port"),
        ("host: 22", "port"),
        ("alice@host:", "port"),
        ("[::1]:", "port"),
        ("[::1]:http", "port"),
        ("@host", "user"),
        ("@host:22", "user"),
        ("-l@host", "user"),
        ("al ice@host:22", "user"),
        ("[::1", "bracket"),
        ("[::1]22", "bracket"),
        ("bad:host:x", "expected"),
        ("ho st:22", "expected"),
    ],
)
def test_bad_targets(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as raised:
        parse_target(text)
    assert repr(text) in str(raised.value)  # the message names what was given


def test_a_host_with_a_port_and_no_user_reaches_the_daemon(sshd: Sshd, live: ApiDaemon) -> None:
    """`--ssh HOST:PORT`, as the README writes it: ssh logs in as the local user."""
    result = gladtui(sshd, "status", target=f"127.0.0.1:{sshd.port}")
    assert result.returncode == 0, result.stderr
    assert f"socket:   {live.socket}" in result.stdout, result.stdout


@pytest.mark.parametrize("command", ["daemon", "check", "config", "demo"])
def test_ssh_with_a_command_that_runs_here(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["x.yaml"] if command == "check" else []
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--ssh", "reviewhost", command, *extra])
    assert exit_.value.code == exits.EXIT_USAGE
    said = capsys.readouterr().err
    assert f"--ssh cannot be used with `{command}`" in said and "reviewhost" in said, said


def test_remote_socket_needs_ssh(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--remote-socket", "/run/gladtui/daemon.sock", "tasks"])
    assert exit_.value.code == exits.EXIT_USAGE
    assert "--remote-socket goes with --ssh" in capsys.readouterr().err


def test_a_target_after_the_command_too() -> None:
    args = cli.build_parser().parse_args(["tasks", "--ssh", "alice@host:2200"])
    assert args.ssh == Target("host", "alice", 2200)
