"""Runs the API (daemon/api/routes.py) on the Unix socket, on an event loop in its own thread.

The daemon's other parts are threads working on the store; the API is the
one asyncio part, so it gets its own loop in its own thread. The socket is
bound by `start()` in the caller's thread, before the worker threads exist
(see daemon/api/unixsocket.py for why), and the loop accepts on that socket
(daemon/api/acceptor.py: within the caps of daemon/api/connlimits.py), each
connection served by aiohttp within the deadlines of daemon/api/connections.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from pathlib import Path

from aiohttp import web

from daemon.api.acceptor import Acceptor
from daemon.api.connections import Deadlines, make_protocol, track_requests
from daemon.api.connlimits import ConnectionGate, ConnectionLimits, raise_open_file_limit
from daemon.api.context import ApiContext
from daemon.api.eventstream import EventHub, EventStreamServer
from daemon.api.lograte import RateLimitedLog
from daemon.api.peers import Group, Peers
from daemon.api.routes import build_app
from daemon.api.taskjson import TaskViews
from daemon.api.unixsocket import (
    bind_socket,
    closed_to_group,
    remove_socket,
    resolve_users,
    socket_group,
)
from daemon.generation.generator import GeneratorState
from daemon.generation.previews import PreviewBoard
from daemon.generation.progress import ProgressBoard
from daemon.publishing.destinations.base import Destination
from daemon.publishing.slugs import SlugPreviewer
from daemon.review.actions import Actions
from daemon.store import Store
from gladtui.config import Config

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0
SHUTDOWN_SECONDS = 5.0  # requests still running after this are cut off


class ApiServer:
    """`start()` binds and serves; `stop()` ends the streams, closes the socket, joins."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        actions: Actions,
        progress: ProgressBoard,
        model: GeneratorState,
        socket_path: Path,
        destination: Destination,
        previews: PreviewBoard | None = None,
    ) -> None:
        self.config = config
        self.previews = previews
        self.destination = destination
        self.store = store
        self.actions = actions
        self.progress = progress
        self.model = model
        self.socket_path = socket_path
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def is_serving(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Bind the socket (SocketError if it cannot be), then serve in a new thread."""
        limits = self._connection_limits()
        peers = self._peers()
        gid = None if peers.group is None else peers.group.gid
        sock = bind_socket(self.socket_path, group=gid)
        if peers.group is not None:
            self._warn_if_unreachable(peers.group)
        self._thread = threading.Thread(target=self._serve, args=(sock, peers, limits), name="api")
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"the API did not start within {START_TIMEOUT:.0f} s")
        if self._failure is not None:
            raise self._failure
        log.info("API listening on %s", self.socket_path)

    def _connection_limits(self) -> ConnectionLimits:
        """The caps on connections, from the config and the open-file limit (raised to
        the hard limit first: the process's, but the API is why it needs more)."""
        files = raise_open_file_limit()
        limits = ConnectionLimits.from_config(self.config.api, files.now, os.geteuid())
        raised = f" (raised from {files.before:,})" if files.now != files.before else ""
        log.info(
            "the API takes %s; the daemon may open %s files%s",
            limits.describe(),
            f"{files.now:,}",
            raised,
        )
        return limits

    def _peers(self) -> Peers:
        """Who may connect, from the config (SocketError for an unknown user or group)."""
        allowed = resolve_users(self.config.api.allowed_users)
        name = self.config.api.group
        gid = socket_group(name)
        group = None if name is None or gid is None else Group(name, gid)
        return Peers(os.geteuid(), allowed, group)

    def _warn_if_unreachable(self, group: Group) -> None:
        closed = closed_to_group(self.socket_path.parent, group.gid)
        if closed is not None:
            log.warning(
                "members of %s cannot reach %s: %s is closed to them; put the socket in a "
                "folder they can enter (`socket:` in the config)",
                group.name,
                self.socket_path,
                closed,
            )

    def _serve(self, sock: socket.socket, peers: Peers, limits: ConnectionLimits) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(sock, peers, limits))
            # End the worker threads of to_thread now: each holds a DuckDB cursor
            # that must be released before the store closes.
            loop.run_until_complete(loop.shutdown_default_executor())
        except BaseException as exc:  # reported to start(), or logged if it happens later
            self._failure = exc
            self._ready.set()
            log.exception("the API stopped")
        finally:
            loop.close()

    async def _main(self, sock: socket.socket, peers: Peers, limits: ConnectionLimits) -> None:
        self._stopping = asyncio.Event()
        hub = EventHub(asyncio.get_running_loop())
        slugs = SlugPreviewer(
            self.store, self.destination, self.config.publishing.on_duplicate_slug
        )
        views = TaskViews(self.store, self.progress, slugs)
        remove_listener = self.store.add_commit_listener(hub.notify)
        unsubscribe = self.progress.subscribe(hub.publish_progress)
        context = ApiContext(
            config=self.config,
            store=self.store,
            views=views,
            actions=self.actions,
            events=EventStreamServer(self.store, views, hub, self.config.api.heartbeat_seconds),
            model=self.model,
            destination=self.destination,
            peers=peers,
            socket_path=str(self.socket_path),
            started_at=self.store.now(),
            started=time.monotonic(),
            previews=self.previews,
        )
        runner = web.AppRunner(
            build_app(context, outer=[track_requests]),
            access_log=None,
            shutdown_timeout=SHUTDOWN_SECONDS,
        )
        await runner.setup()
        # Requests late or not valid HTTP: said at most once a minute, with a count.
        notes = RateLimitedLog(log, logging.INFO)
        acceptor = self._acceptor(sock, runner, ConnectionGate(limits), notes)
        try:
            acceptor.start()
            self._ready.set()
            await self._stopping.wait()
        finally:
            acceptor.close()
            notes.flush()
            hub.close()
            remove_listener()
            unsubscribe()
            await runner.cleanup()
            remove_socket(self.socket_path)

    def _acceptor(
        self,
        sock: socket.socket,
        runner: web.AppRunner,
        gate: ConnectionGate,
        notes: RateLimitedLog,
    ) -> Acceptor:
        """Connections admitted by the gate, each served by aiohttp within deadlines."""
        api = self.config.api
        assert runner.server is not None  # set up
        deadlines = Deadlines(api.header_seconds, api.body_seconds, api.idle_seconds)
        protocol = make_protocol(runner.server, deadlines, notes)
        loop = asyncio.get_running_loop()
        return Acceptor(sock, gate, protocol, loop)

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(SHUTDOWN_SECONDS * 2)
            if self._thread.is_alive():
                log.warning("the API thread did not stop in %.0f s", SHUTDOWN_SECONDS * 2)
