"""What the API's handlers read and act on, built once by the daemon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from daemon.api.eventstream import EventStreamServer
from daemon.api.peers import Peers
from daemon.api.taskjson import TaskViews
from daemon.generation.generator import GeneratorState
from daemon.generation.previews import PreviewBoard
from daemon.publishing.destinations.base import Destination
from daemon.review.actions import Actions
from daemon.store import Store
from gladtui.config import Config


@dataclass
class ApiContext:
    """What the handlers read and act on; built by the daemon, one per process."""

    config: Config
    store: Store
    views: TaskViews
    actions: Actions
    events: EventStreamServer
    model: GeneratorState
    destination: Destination  # where posts go
    peers: Peers  # who may connect
    socket_path: str
    started_at: datetime  # naive UTC, the store's clock
    started: float  # time.monotonic() at start, for the uptime
    previews: PreviewBoard | None = None  # live previews; None: the route answers 404
