"""The review TUI (Textual). Importing this package loads Textual and textual-image.

textual-image asks the terminal what it can draw (kitty graphics, sixel, else
half blocks) when it is imported, which only works before Textual takes the
terminal over: so it is imported here, first, and `run` starts the app after.
"""

from __future__ import annotations

from pathlib import Path

import textual_image.widget  # noqa: F401  (first: it queries the terminal)

from gladtui.client import client_for
from gladtui.config import Config
from gladtui.picturecache import DiskCache, default_folder
from gladtui.pictureprotocol import choose
from gladtui.tui.app import ReviewApp
from gladtui.tui.pictures import Pictures
from gladtui.tui.picturewidget import use as use_protocol

STREAM_TIMEOUT_HEARTBEATS = 3  # silence of this many heartbeats: the daemon is gone


QUIT = "quit (the daemon keeps running)"


def make_app(
    config: Config, *, quit_note: str = QUIT, socket_path: Path | None = None
) -> ReviewApp:
    """`quit_note`: what q does, for the help (the demo's q also ends its daemon);
    `socket_path`: the daemon's socket, if not the config's (`gladtui --ssh`)."""
    timeout = config.api.heartbeat_seconds * STREAM_TIMEOUT_HEARTBEATS
    client = client_for(config, socket=socket_path)
    return ReviewApp(
        client,
        stream_timeout=timeout,
        confirm=config.tui.confirm_decisions,
        quit_note=quit_note,
        pictures=Pictures(client, DiskCache(default_folder())),
    )


def run(config: Config, *, quit_note: str = QUIT, socket_path: Path | None = None) -> None:
    """Choose how pictures are drawn (ProtocolError for an unknown name), then run."""
    use_protocol(choose(config.tui.pictures).protocol)
    make_app(config, quit_note=quit_note, socket_path=socket_path).run()


__all__ = ["ReviewApp", "make_app", "run"]
