"""A free TCP port on the loopback, for the servers tests start (S3, sshd, Ray)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now. The kernel picked it; another process may take
    it before the caller binds, which on a test machine is rare enough to retry by hand."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
