"""textual-image, loaded without asking the terminal anything.

On import textual-image asks the terminal what it draws (sixel, kitty
graphics) and its cell size, with 0.1 s timeouts that a slow SSH link misses
(the late answers then arrive as keystrokes); inside tmux its unwrapped
kitty query even becomes the pane's title (tmux 3.3a takes an APC string for
a title, measured). gladtui asks itself, before the app starts
(terminalfacts.py), and tells textual-image the cell size
(picturewidget.use). So textual-image is loaded here seeing no terminal.
"""

from __future__ import annotations

import importlib
import sys
from typing import TextIO


class _NoTerminal:
    """A stream that passes everything to `stream` but is no terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def import_textual_image() -> None:
    """Load textual-image's widgets (and its renderables) without a query."""
    real = sys.__stdout__
    if real is not None:
        # textual-image reads sys.__stdout__ (not sys.stdout) to find the terminal.
        setattr(sys, "__stdout__", _NoTerminal(real))  # noqa: B010  (a final name for mypy)
    try:
        importlib.import_module("textual_image.widget")
    finally:
        setattr(sys, "__stdout__", real)  # noqa: B010
