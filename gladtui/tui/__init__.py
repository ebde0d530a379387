"""The review TUI (Textual). Importing this package loads Textual and textual-image.

`run` asks the terminal what it can draw (gladtui/terminalfacts.py) before
Textual takes it over, then starts the app. textual-image is loaded first,
without asking the terminal itself (quietimport.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from gladtui.tui.quietimport import import_textual_image

import_textual_image()  # before any module below loads it

from gladtui.client import Remote, client_for
from gladtui.config import Config
from gladtui.picturecache import DiskCache, default_folder
from gladtui.pictureprotocol import Choice, choose
from gladtui.picturesize import picture_cell, wanted_thumbnail_width
from gladtui.tui.app import ReviewApp
from gladtui.tui.gallery import gallery_layout
from gladtui.tui.modals import APPROVE_PICTURE_WIDTH
from gladtui.tui.pictures import THUMBNAIL_WIDTH, Pictures
from gladtui.tui.picturewidget import use as use_protocol

STREAM_TIMEOUT_HEARTBEATS = 3  # silence of this many heartbeats: the daemon is gone


QUIT = "quit (the daemon keeps running)"


def make_app(
    config: Config,
    *,
    quit_note: str = QUIT,
    socket_path: Path | None = None,
    remote: Remote | None = None,
    thumbnail_width: int = THUMBNAIL_WIDTH,
) -> ReviewApp:
    """`quit_note`: what q does, for the help (the demo's q also ends its daemon);
    `socket_path`: the daemon's socket, if not the config's (`gladtui --ssh`: a
    forward to `remote`);
    `thumbnail_width`: the pixels to ask the daemon for (`thumbnail_width_for`)."""
    timeout = config.api.heartbeat_seconds * STREAM_TIMEOUT_HEARTBEATS
    client = client_for(config, socket=socket_path, remote=remote)
    return ReviewApp(
        client,
        stream_timeout=timeout,
        confirm=config.tui.confirm_decisions,
        quit_note=quit_note,
        pictures=Pictures(client, DiskCache(default_folder()), width=thumbnail_width),
    )


def thumbnail_width_for(choice: Choice, columns: int, rows: int) -> int:
    """The thumbnail width for a gallery in a terminal of `columns` x `rows` cells:
    its widest picture box there (it has the whole width at most), or the approve
    dialog's if wider, times the pixels a cell shows. Set at start; after a resize
    the same pictures are drawn scaled."""
    if choice.facts is None:
        return THUMBNAIL_WIDTH
    box = max(gallery_layout(columns, rows).picture_width, APPROVE_PICTURE_WIDTH)
    return wanted_thumbnail_width(box, picture_cell(choice.protocol, choice.facts.cell).width)


def run(
    config: Config,
    *,
    quit_note: str = QUIT,
    socket_path: Path | None = None,
    remote: Remote | None = None,
) -> None:
    """Choose how pictures are drawn (ProtocolError for an unknown name), then run."""
    choice = choose(config.tui.pictures)
    use_protocol(choice)
    columns, rows = shutil.get_terminal_size()
    width = thumbnail_width_for(choice, columns, rows)
    app = make_app(
        config, quit_note=quit_note, socket_path=socket_path, remote=remote, thumbnail_width=width
    )
    app.run()


__all__ = ["ReviewApp", "make_app", "run"]
