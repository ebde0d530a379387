"""The CLI's exit codes, the failure that carries one, and the daemon a command reaches.

0 success, 1 the request was refused (the reason on stderr), 2 usage error,
3 daemon not reachable. With `--ssh [USER@]HOST[:PORT]` (gladtui/sshforward.py),
also: 3 no daemon at the far end, 4 the host cannot be reached over ssh, 5 ssh
could not log in (authentication refused, or the host key not trusted), 6 the
remote sshd refuses to forward Unix sockets.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gladtui.client import Remote

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_SSH_HOST = 4
EXIT_SSH_LOGIN = 5
EXIT_SSH_FORWARDING = 6


class CommandFailed(Exception):
    """A failure already explained: `main` prints the message and exits with `code`."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def daemon_socket(args: argparse.Namespace) -> Iterator[tuple[Path, Remote] | None]:
    """With --ssh, the forwarded socket for as long as the command runs, and where it
    leads (for the messages: which host, which socket there); else None.

    ssh is stopped when the block ends, however it ends (Ctrl-C included).
    """
    if args.ssh is None:
        yield None
        return
    from gladtui import sshforward as ssh

    codes: dict[type[ssh.SshError], int] = {
        ssh.BadSshCommand: EXIT_USAGE,
        ssh.LoginRefused: EXIT_SSH_LOGIN,
        ssh.ForwardingRefused: EXIT_SSH_FORWARDING,
        ssh.NoRemoteDaemon: EXIT_UNREACHABLE,
    }
    try:
        # A person at a terminal can answer ssh's prompts; a script must not hang on one.
        forward = ssh.SshForward(args.ssh, args.remote_socket, interactive=sys.stdin.isatty())
        path = forward.open()
    except ssh.SshError as exc:
        raise CommandFailed(str(exc), codes.get(type(exc), EXIT_SSH_HOST)) from None
    from gladtui.client import Remote

    try:
        yield path, Remote(str(args.ssh), forward.found or "the daemon's socket")
    finally:
        forward.close()
