"""The daemon's connection to a Ray cluster it joins, made again after the cluster goes away.

Measured here with Ray 2.60: a driver (the daemon) whose cluster's GCS has been
unreachable for 60 s exits its whole process (Ray's
`gcs_rpc_server_reconnect_timeout_s`), so a head node that dies would take the
daemon, its API and its reviewers' screens with it. The daemon must outlive
its cluster: for a cluster it joins, that timeout is raised to a year, and
instead the daemon knocks on the cluster's GCS port before each job. A cluster
that does not answer fails the job with a retryable error without a single Ray
call (each would now wait on the raised timeout). Once it answers again, the
daemon leaves the lost session and connects anew (a restarted head is a new
cluster), and the replicas are made again there: each runner compares the
connection's `epoch` with the one its actor was made in.

A Ray the daemon starts itself (`address: local`) is not this module's: it
lives and dies with the daemon.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

from daemon.generation.models import ModelError

__all__ = ["ClusterConnection", "gcs_endpoint"]

log = logging.getLogger(__name__)

RECONNECT_TIMEOUT_ENV = "RAY_gcs_rpc_server_reconnect_timeout_s"
A_YEAR = str(365 * 24 * 3600)
KNOCK_SECONDS = 3.0


def gcs_endpoint(address: str) -> tuple[str, int] | None:
    """(host, port) of `HOST:PORT` or `ray://HOST:PORT`; None for `auto` (asked of Ray)."""
    if address == "auto":
        return None
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.hostname is None or parts.port is None:
        return None
    return parts.hostname, parts.port


def answers(endpoint: tuple[str, int]) -> bool:
    """Does something accept connections on the cluster's port? (No Ray call.)"""
    try:
        with socket.create_connection(endpoint, timeout=KNOCK_SECONDS):
            return True
    except OSError:
        return False


class ClusterConnection:
    """Connect, notice the cluster is gone, connect again; shared by every runner."""

    def __init__(self, ray: Any, address: str) -> None:
        self._ray = ray
        self.address = address
        self._endpoint = gcs_endpoint(address)
        self._lock = threading.Lock()
        self._connected = False
        self.epoch = 0  # bumped at each new session; actors of an older one are gone

    def connect(self) -> None:
        """Join the cluster now, or raise ModelError saying it cannot be reached."""
        with self._lock:
            self._connect()

    def ensure(self) -> int:
        """The session's epoch, connecting again first if the cluster was lost.

        ModelError (retryable) when the cluster does not answer.
        """
        with self._lock:
            if self._endpoint is not None and not answers(self._endpoint):
                self._connected = False
                host, port = self._endpoint
                raise ModelError(f"the Ray cluster at {host}:{port} does not answer")
            if not self._connected:
                self._connect()
            return self.epoch

    def ready(self) -> bool:
        """Worth claiming a job for: joined, or the cluster answers (or its address is
        not known yet: joining will tell)."""
        return self._connected or self._endpoint is None or answers(self._endpoint)

    def answers(self) -> bool:
        """Is the cluster there now? (Unknown address: not joined yet, so no.)"""
        return self._endpoint is not None and answers(self._endpoint)

    def lost(self) -> None:
        """A runner's call failed as if the cluster went: the next job connects anew."""
        with self._lock:
            self._connected = False

    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            log.info("leaving the lost Ray session")
            ray.shutdown()
        # Before init: Ray reads it when the driver starts (see the module docstring).
        os.environ.setdefault(RECONNECT_TIMEOUT_ENV, A_YEAR)
        log.info("joining Ray at %s", self.address)
        try:
            ray.init(address=self.address, log_to_driver=False)  # a cluster's own settings stand
        except Exception as exc:  # ConnectionError, a refused token, a bad address
            raise ModelError(f"cannot reach Ray at {self.address!r}: {exc}") from exc
        if self._endpoint is None:  # auto: now Ray knows where its GCS is
            self._endpoint = gcs_endpoint(ray.get_runtime_context().gcs_address)
        self._connected = True
        self.epoch += 1
        log.info("Ray joined (session %d): %s", self.epoch, ray.cluster_resources())
