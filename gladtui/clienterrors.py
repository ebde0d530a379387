"""What can go wrong talking to the daemon, drawn once: the client's error hierarchy.

ClientError            anything that kept a request from an answer it could use
├── DaemonUnreachable  no daemon answers on the socket (the message says what to do)
└── ApiError           the daemon answered with an error: its status, code, message
"""

from __future__ import annotations


class ClientError(Exception):
    """Anything that kept a request from getting an answer it could use."""


class DaemonUnreachable(ClientError):
    """No daemon answers on the socket: missing, stale, someone else's, or silent."""


class ApiError(ClientError):
    """The daemon answered with an error (any non-2xx status)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code  # a shapes.ErrorCode's value, or one a newer daemon added
        self.message = message
