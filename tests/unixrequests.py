"""A requests Session whose `http://gladtui/…` URLs go to a Unix socket.

Schemathesis sends its requests through requests; the daemon listens only on
a Unix socket. This adapter hands requests a urllib3 connection pool whose
connections connect to the socket instead of a host: everything above the
socket (HTTP framing, keep-alive) is urllib3's own.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool

BASE_URL = "http://gladtui"
TIMEOUT = 60.0


class _SocketConnection(HTTPConnection):
    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__("localhost", **kwargs)
        self._socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        sock.connect(self._socket_path)
        self.sock = sock


class _SocketPool(HTTPConnectionPool):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT)
        self._socket_path = path

    def _new_conn(self) -> HTTPConnection:
        return _SocketConnection(self._socket_path)


class UnixSocketAdapter(HTTPAdapter):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self._pool = _SocketPool(str(path))

    def get_connection_with_tls_context(self, *_: Any, **__: Any) -> HTTPConnectionPool:
        return self._pool

    def close(self) -> None:
        self._pool.close()
        super().close()


def unix_session(path: Path) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the socket is the server
    session.mount(f"{BASE_URL}/", UnixSocketAdapter(path))
    return session
