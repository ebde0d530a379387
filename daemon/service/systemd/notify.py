"""The sd_notify protocol: newline-separated `KEY=value` lines in one datagram.

systemd gives a `Type=notify` service the address of its socket in
$NOTIFY_SOCKET: a filesystem path, or an abstract name written with a leading
`@`. That is the whole protocol (sd_notify(3)), so no compiled library is
needed. Outside systemd the variable is unset and every call does nothing.

A notification that cannot be sent is logged once and otherwise ignored: the
daemon must keep working when systemd is restarted or the socket is gone.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends state changes to the service manager; thread-safe, never raises."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._lock = threading.Lock()
        self._warned = False

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Notifier:
        return cls(env.get("NOTIFY_SOCKET") or None)

    def send(self, *lines: str) -> bool:
        """Send `KEY=value` lines as one message; False when it did not go out."""
        if self.address is None:
            return False
        # An abstract socket name starts with a NUL byte, which systemd writes as "@".
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        message = "\n".join(lines).encode()
        with self._lock:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                    s.sendto(message, target)
            except OSError as exc:
                if not self._warned:
                    log.warning("cannot notify systemd at %s: %s", self.address, exc)
                    self._warned = True
                return False
        return True

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def extend_timeout(self, seconds: float) -> None:
        """Ask for `seconds` more before the current start (or stop) times out."""
        self.send(f"EXTEND_TIMEOUT_USEC={round(seconds * 1_000_000)}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self, status: str) -> None:
        self.send("STOPPING=1", f"STATUS={status}")


def watchdog_interval(env: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between keep-alive pings (half the deadline), or None when not asked.

    systemd sets WATCHDOG_USEC, and WATCHDOG_PID when the variable may have been
    inherited: a child that is not the service's main process must not ping.
    """
    pid = os.getpid() if pid is None else pid
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
        watchdog_pid = int(env.get("WATCHDOG_PID", str(pid)))
    except ValueError:
        return None
    if usec <= 0 or watchdog_pid != pid:
        return None
    return usec / 2_000_000
