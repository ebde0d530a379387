"""A daemon on another machine, reached through its Unix socket forwarded by OpenSSH.

`SshForward(target).open()` logs in once (an `ssh -M -N` master on a private
control socket, so a passphrase or password is asked at most once), finds the
daemon's socket on the far side with a short `sh` probe unless it is given,
adds `-L LOCAL.sock:REMOTE.sock` to the master, proves the forward with a
health request, and returns LOCAL.sock; `close()` stops ssh. Everything lives
in a private temp folder (0700), removed on close.

The user's ssh config, keys and agent apply: this is the user's `ssh`, or the
program and options of `$GLADTUI_SSH_COMMAND` (split like a shell would), as
`GIT_SSH_COMMAND` is for git. Non-interactive runs add BatchMode=yes, so a
script fails at once instead of hanging at a prompt; in a terminal ssh asks
on /dev/tty as usual.

A refused channel looks the same in ssh's output whether the remote sshd
forbids socket forwarding or nothing listens on the socket ("connect failed:
open failed", OpenSSH 9.2), so a failed health request is explained by asking
the far side what the socket is (a second, multiplexed session).
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gladtui.closing import Closing

SSH_COMMAND_ENV = "GLADTUI_SSH_COMMAND"
# Where a daemon listens when its config names no socket (Config.socket_path), then
# the system service's socket (gladtui/systemd/install.py SYSTEM_SOCKET). A session
# run by ssh for a command may have no XDG_RUNTIME_DIR: /run/user/UID stands in.
PROBE = (
    'uid=$(id -u); for s in ${XDG_RUNTIME_DIR:+"$XDG_RUNTIME_DIR/gladtui/daemon.sock"} '
    '"/run/user/$uid/gladtui/daemon.sock" "${TMPDIR:-/tmp}/gladtui-$uid/daemon.sock" '
    "/run/gladtui/daemon.sock; do "
    'if [ -S "$s" ]; then echo "gladtui-socket:$s"; exit 0; fi; echo "gladtui-looked:$s"; '
    "done"
)
# What the far side's socket is, when the forward to it failed ($1: its path).
INSPECT = (
    'if [ ! -e "$1" ]; then echo gladtui-state:missing; '
    'elif [ ! -S "$1" ]; then echo gladtui-state:not-a-socket; '
    "elif command -v python3 >/dev/null 2>&1; then python3 -c "
    '"import errno, socket, sys; e = socket.socket(socket.AF_UNIX).connect_ex(sys.argv[1]); '
    "print('gladtui-state:' + (errno.errorcode.get(e, str(e)) if e else 'listening'))\" \"$1\"; "
    "else echo gladtui-state:unknown; fi"
)
STOP_SECONDS = 5.0  # ssh gets this long to end on SIGTERM before SIGKILL
HEALTH_SECONDS = 15.0  # the first request through the forward


class SshError(Exception):
    """ssh could not give us a working forward; the message says why and what to do."""


class BadSshCommand(SshError):
    """$GLADTUI_SSH_COMMAND cannot be used (a usage error)."""


class HostUnreachable(SshError):
    """No ssh connection: the name, the network, the port, or ssh itself."""


class LoginRefused(SshError):
    """Connected, but not logged in: authentication refused, or the host key rejected."""


class ForwardingRefused(SshError):
    """Logged in, but the remote sshd refuses to forward a Unix socket."""


class NoRemoteDaemon(SshError):
    """Logged in, but no daemon answers on the far side's socket."""


@dataclass(frozen=True)
class Target:
    """`[USER@]HOST[:PORT]`, IPv6 literals in brackets (`[::1]:2222`)."""

    host: str
    user: str | None = None
    port: int | None = None

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    @property
    def ssh_command(self) -> str:
        """The ssh command line that logs in there by hand: `ssh -p 22777 root@127.0.0.1`."""
        port = f"-p {self.port} " if self.port else ""
        return f"ssh {port}{shlex.quote(self.destination)}"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and self.port else self.host
        text = f"{self.user}@{host}" if self.user else host
        return f"{text}:{self.port}" if self.port else text


def parse_target(text: str) -> Target:
    """`[USER@]HOST[:PORT]` -> Target; ValueError naming what is wrong.

    ssh splits a destination at its last `@`, so the user part may hold one too.
    """
    user, at, rest = text.rpartition("@")
    host, port = _host_and_port(text, rest)
    if not host or host.startswith("-") or any(c.isspace() for c in host):
        raise ValueError(f"{text!r}: expected [USER@]HOST[:PORT]")
    if at and (not user or user.startswith("-") or any(c.isspace() for c in user)):
        raise ValueError(f"{text!r}: the user name before @ is not valid")
    return Target(host=host, user=user or None, port=port)


def _host_and_port(text: str, rest: str) -> tuple[str, int | None]:
    """HOST[:PORT] (`rest`, after any USER@) split; `text` is the whole target, for errors."""
    if rest.startswith("["):
        host, bracket, after = rest[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError(f"{text!r}: an IPv6 address goes in brackets, as [::1]:22")
        return host, _port(text, after[1:]) if after else None
    if rest.count(":") == 1:
        host, _colon, port_text = rest.partition(":")
        return host, _port(text, port_text)
    # No port, or a bare IPv6 address (which cannot have one).
    if ":" in rest and not set(rest.lower()) <= set("0123456789abcdef:.%"):
        raise ValueError(f"{text!r}: expected [USER@]HOST[:PORT] (IPv6 as [::1]:22)")
    return rest, None


def _port(text: str, port_text: str) -> int:
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    return int(port_text)


def ssh_program(env: Mapping[str, str]) -> list[str]:
    """`ssh`, or $GLADTUI_SSH_COMMAND split as a shell would (`ssh -F ~/work/ssh_config`)."""
    text = env.get(SSH_COMMAND_ENV, "").strip()
    if not text:
        return ["ssh"]
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise BadSshCommand(f"${SSH_COMMAND_ENV} is not a valid command line: {exc}") from None
    return [str(Path(word).expanduser()) if word.startswith("~") else word for word in words]


class SshForward(Closing[Path]):
    """One ssh master with the daemon's socket forwarded; `open()`, then `close()`."""

    def __init__(
        self,
        target: Target,
        remote_socket: str | None = None,
        *,
        interactive: bool = False,
        login_timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`interactive`: ssh may prompt on the terminal (else BatchMode=yes);
        `login_timeout`: the longest wait for the login, prompts included."""
        self.target = target
        self.remote_socket = remote_socket
        self.interactive = interactive
        self.login_timeout = login_timeout
        self._program = ssh_program(os.environ if env is None else env)
        self._folder: Path | None = None
        self._master: subprocess.Popen[bytes] | None = None
        self.found: str | None = None  # the daemon's socket on the far side, once open

    def __enter__(self) -> Path:
        return self.open()

    def open(self) -> Path:
        """Log in, forward, check; the local socket's path. On any failure ssh is stopped."""
        self._folder = Path(tempfile.mkdtemp(prefix="gladtui-ssh-"))  # 0700
        try:
            self._log_in()
            remote = self.remote_socket or self._find_socket()
            local = self._forward(remote)
            self._check(local, remote)
            self.found = remote
        except BaseException:  # Ctrl-C included: no ssh left behind
            self.close()
            raise
        return local

    def close(self) -> None:
        """Stop ssh (SIGTERM, then SIGKILL) and remove the private folder. Idempotent."""
        master, self._master = self._master, None
        if master is not None and master.poll() is None:
            master.terminate()
            try:
                master.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    # -- the steps -------------------------------------------------------------------

    @property
    def _control(self) -> Path:
        assert self._folder is not None
        return self._folder / "control"

    @property
    def _log(self) -> Path:
        assert self._folder is not None
        return self._folder / "ssh.log"

    def _options(self) -> list[str]:
        # Given after $GLADTUI_SSH_COMMAND's own: ssh keeps the first value of an option.
        port = ["-p", str(self.target.port)] if self.target.port else []
        batch = [] if self.interactive else ["-o", "BatchMode=yes"]
        return [*batch, *port, "-S", str(self._control)]

    def _log_in(self) -> None:
        """Start the master; it is logged in when its control socket appears."""
        command = [
            *self._program,
            *self._options(),
            "-M",
            "-N",
            "-o",
            "ControlPersist=no",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "StreamLocalBindUnlink=yes",
            "--",
            self.target.destination,
        ]
        with self._log.open("wb") as log:
            try:
                # stdin /dev/null, but prompts still reach the user: ssh asks on /dev/tty.
                self._master = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log
                )
            except OSError as exc:
                raise HostUnreachable(
                    f"cannot run {self._program[0]!r}: {exc.strerror}; install OpenSSH's "
                    f"client, or set ${SSH_COMMAND_ENV} to the ssh to use"
                ) from None
        self._wait_for(self._control, self.login_timeout, "log in")

    def _wait_for(self, path: Path, timeout: float, what: str) -> None:
        """Until `path` is a socket; ssh ending first is reported at once, from its output."""
        assert self._master is not None
        waited, pause = 0.0, 0.005
        while not path.is_socket():
            try:
                self._master.wait(pause)  # returns as soon as ssh ends
            except subprocess.TimeoutExpired:
                waited += pause
                pause = min(pause * 2, 0.05)
                if waited > timeout:
                    raise HostUnreachable(
                        f"ssh to {self.target} did not {what} within {timeout:g} s"
                        f"{self._said()}; try `ssh {self.target.destination}` by hand"
                    ) from None
                continue
            raise self._failure()

    def _find_socket(self) -> str:
        """The first daemon socket the far side has, in the order the daemon picks them."""
        out = self._run_remote(PROBE)
        found = [line.split(":", 1)[1] for line in out if line.startswith("gladtui-socket:")]
        if found:
            return found[0]
        looked = [line.split(":", 1)[1] for line in out if line.startswith("gladtui-looked:")]
        raise NoRemoteDaemon(
            f"no gladtui daemon on {self.target}: no socket at {', '.join(looked)}; start "
            "one there (`gladtui daemon`, or the service), or give its path with "
            "--remote-socket PATH"
        )

    def _forward(self, remote: str) -> Path:
        if ":" in remote:
            raise SshError(f"cannot forward {remote}: ssh's -L cannot take a path with ':'")
        assert self._folder is not None
        local = self._folder / "daemon.sock"
        result = self._mux(["-O", "forward", "-L", f"{local}:{remote}"], [])
        if result.returncode != 0:
            raise self._failure(result.stderr)
        self._wait_for(local, self.login_timeout, "open the forward")
        return local

    def _check(self, local: Path, remote: str) -> None:
        """A health request through the forward; if it fails, find out why."""
        from gladtui.client import Client, ClientError

        try:
            Client(local, timeout=HEALTH_SECONDS).health()
        except ClientError as exc:
            raise self._explain(remote, exc) from None

    def _explain(self, remote: str, exc: Exception) -> SshError:
        if "open failed" not in self._log.read_text(errors="replace"):
            return NoRemoteDaemon(f"the daemon at {remote} on {self.target} failed: {exc}")
        [state, *_] = [
            line.split(":", 1)[1]
            for line in self._run_remote(INSPECT, remote)
            if line.startswith("gladtui-state:")
        ] or ["unknown"]
        where = f"{remote} on {self.target}"
        if state in ("missing", "not-a-socket"):
            what = "missing" if state == "missing" else "not a socket"
            return NoRemoteDaemon(
                f"no gladtui daemon: {where} is {what}; "
                "start the daemon there, or give its socket with --remote-socket PATH"
            )
        if state == errno.errorcode[errno.ECONNREFUSED]:
            return NoRemoteDaemon(
                f"no daemon is listening on {where} (a socket left by a daemon that stopped); "
                "start the daemon there"
            )
        if state in (errno.errorcode[errno.EACCES], errno.errorcode[errno.EPERM]):
            return NoRemoteDaemon(
                f"permission denied on {where}: log in as the daemon's user (or a user it "
                f"admits), e.g. `--ssh USER@{self.target.host}`"
            )
        maybe = "" if state == "listening" else "probably "  # unknown: no python3 there
        return ForwardingRefused(
            f"the sshd on {self.target} {maybe}refuses to forward Unix sockets "
            f"(`AllowStreamLocalForwarding no` in its sshd_config, or `restrict` / "
            f"`no-port-forwarding` on your key): ask its administrator to allow "
            f"`AllowStreamLocalForwarding local` for your account"
        )

    # -- plumbing --------------------------------------------------------------------

    def _mux(
        self, options: Sequence[str], command: Sequence[str]
    ) -> subprocess.CompletedProcess[str]:
        """A session on the master's connection: no new login."""
        return subprocess.run(
            [
                *self._program,
                *self._options(),
                "-o",
                "ControlMaster=no",
                "-o",
                "BatchMode=yes",  # the master is logged in; never prompt again
                *options,
                "--",
                self.target.destination,
                *command,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=self.login_timeout,
            check=False,
        )

    def _run_remote(self, script: str, *args: str) -> list[str]:
        """Run a POSIX sh script on the far side (whatever the login shell); its lines."""
        remote = shlex.join(["sh", "-c", script, "sh", *args])
        result = self._mux([], [remote])
        if result.returncode == 255:  # ssh's own failure: the connection is gone
            raise self._failure(result.stderr)
        return result.stdout.splitlines()

    def _failure(self, stderr: str = "") -> SshError:
        """What ssh's output says went wrong, as the error to raise."""
        said = "\n".join([self._log.read_text(errors="replace"), stderr])
        lines = [line.strip() for line in said.splitlines() if line.strip()]
        last = lines[-1] if lines else "ssh ended without a word"
        if any("Permission denied" in line or "Too many authentication" in line for line in lines):
            return LoginRefused(
                f"ssh could not log in to {self.target}: {last}; check that your key is in "
                f"the remote ~/.ssh/authorized_keys and loaded (ssh-add -l), then try "
                f"`{self.target.ssh_command}` by hand"
            )
        if any("Host key verification failed" in line for line in lines):
            return LoginRefused(
                f"ssh does not trust {self.target}'s host key ({last}); connect once with "
                f"`{self.target.ssh_command}` to check and accept it"
            )
        return HostUnreachable(
            f"cannot reach {self.target} over ssh: {last}; check the host name, the port "
            "and that sshd runs there"
        )

    def _said(self) -> str:
        text = self._log.read_text(errors="replace").strip()
        return f" (ssh said: {text.splitlines()[-1]})" if text else ""
