"""A real OpenSSH server for tests: Debian's sshd on 127.0.0.1, keys made here.

`Sshd.start()` generates a host key and a client key (ssh-keygen), writes an
sshd_config of its own (its authorized keys file, no PAM, no strict modes, a
pid file in its folder) and runs `sshd -D` on a free port. `ssh_command` is
what `$GLADTUI_SSH_COMMAND` should hold: `ssh -F <client config>`, because
OpenSSH reads ~/.ssh/config from the passwd home, not $HOME. The client config
trusts the generated host key and offers only the generated client key.
"""

from __future__ import annotations

import contextlib
import getpass
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.apidaemon import short_dir
from tests.ports import free_port

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # Debian's sshd refuses to start without it


def why_sshd_cannot_run() -> str | None:
    """None if sshd can run here, else why not (for a skip)."""
    if not SSHD.exists():
        return "sshd is not installed (apt-get install openssh-server; .ci/run does)"
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "ssh is not installed (apt-get install openssh-client; .ci/run does)"
    try:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    except OSError as exc:
        return f"sshd needs its privilege separation folder {PRIVSEP_DIR}: {exc}"
    return None


def keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


class Sshd:
    """One sshd: `settings` add to its sshd_config; `restart(**changes)` changes them
    for a while (`AllowStreamLocalForwarding="no"`), `restart()` goes back."""

    def __init__(self, **settings: str) -> None:
        self.settings = settings
        self.folder = short_dir("gt-sshd-")
        self.port = free_port()
        self.user = getpass.getuser()
        self.host_key = keygen(self.folder / "host_key")
        self.client_key = keygen(self.folder / "client_key")
        self.other_key = keygen(self.folder / "other_key")  # never authorized
        self.authorized = self.folder / "authorized_keys"
        self.authorized.write_text(Path(f"{self.client_key}.pub").read_text())
        self.config = self.folder / "sshd_config"
        self.client_config = self.folder / "ssh_config"
        self.process: subprocess.Popen[bytes] | None = None
        self._write_client_config(self.client_config, self.client_key)

    @property
    def ssh_command(self) -> str:
        return shlex.join(["ssh", "-F", str(self.client_config)])

    def ssh_command_with(self, key: Path) -> str:
        """The same client offering another key (one the server does not know)."""
        config = self.folder / f"ssh_config-{key.name}"
        self._write_client_config(config, key)
        return shlex.join(["ssh", "-F", str(config)])

    @property
    def target(self) -> str:
        return f"{self.user}@127.0.0.1:{self.port}"

    def _write_client_config(self, path: Path, key: Path) -> None:
        known = self.folder / "known_hosts"
        public = Path(f"{self.host_key}.pub").read_text().split()
        known.write_text(f"[127.0.0.1]:{self.port} {public[0]} {public[1]}\n")
        path.write_text(
            "Host *\n"
            f"  IdentityFile {key}\n"
            "  IdentitiesOnly yes\n"
            "  IdentityAgent none\n"
            f"  UserKnownHostsFile {known}\n"
            "  StrictHostKeyChecking yes\n"
            "  PasswordAuthentication no\n"
            "  KbdInteractiveAuthentication no\n"
        )

    def start(self, **changes: str) -> Sshd:
        lines = {
            "Port": str(self.port),
            "ListenAddress": "127.0.0.1",
            "HostKey": str(self.host_key),
            "AuthorizedKeysFile": str(self.authorized),
            "PidFile": str(self.folder / "sshd.pid"),
            "StrictModes": "no",
            "UsePAM": "no",
            "PermitRootLogin": "prohibit-password",
            "PasswordAuthentication": "no",
            "KbdInteractiveAuthentication": "no",
            "AllowStreamLocalForwarding": "yes",
            "LogLevel": "VERBOSE",
            **self.settings,
            **changes,
        }
        self.config.write_text("".join(f"{key} {value}\n" for key, value in lines.items()))
        self.process = subprocess.Popen(
            [str(SSHD), "-D", "-f", str(self.config), "-E", str(self.folder / "sshd.log")]
        )
        self._wait_listening()
        return self

    def _wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"sshd exited {self.process.returncode}: {self.log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"sshd did not listen in {timeout} s: {self.log()}")
            time.sleep(0.05)

    def restart(self, **changes: str) -> Sshd:
        self.stop()
        return self.start(**changes)

    def log(self) -> str:
        path = self.folder / "sshd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
