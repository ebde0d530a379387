"""The screens around the review screen: help, the large image, no daemon."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Label, Static
from textual_image.widget import Image

from gladtui.client import START_HINT

KEYS: list[tuple[str, str]] = [
    ("↑ ↓  j k", "move in the task list (PgUp PgDn Home End too)"),
    ("f  F", "next / previous filter: review, all, generating, published, rejected, failed"),
    ("/", "search titles as you type; Enter or Esc returns to the list"),
    ("1-9  ← →", "select a variation"),
    ("Enter", "the selected variation, large"),
    ("a", "approve the selected variation (asks first: slug and destination)"),
    ("r", "reject: delete or keep the files, optionally regenerate with a new prompt"),
    ("g", "generate more variations, optionally with a new prompt"),
    ("c", "cancel a queued or running generation"),
    ("?", "this help"),
    ("q", "quit (the daemon keeps running)"),
]


def keys_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for keys, what in KEYS:
        table.add_row(keys, what)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss(None)", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Label("gladtui: keys", classes="dialog-title")
            yield Static(keys_table())
            yield Label("Esc: close", classes="hint")


class ImageScreen(Screen[None]):
    """One variation as large as the terminal allows."""

    BINDINGS = [Binding("escape,enter,q", "dismiss(None)", "Back")]

    def __init__(self, path: Path, caption: str) -> None:
        super().__init__()
        self.path = path
        self.caption = caption

    def compose(self) -> ComposeResult:
        yield Label(self.caption, id="caption")
        yield Image(self.path, id="large")
        yield Footer()


class DisconnectedScreen(Screen[None]):
    """Shown while no daemon answers; the app leaves it by itself on reconnection."""

    BINDINGS = [Binding("q", "app.quit", "Quit")]

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog disconnected"):
            yield Label("No daemon", classes="dialog-title")
            yield Static(Text(self.reason), id="reason")
            yield Static(Text(f"To start one: {START_HINT}."))
            yield Label("Reconnecting by itself…  q: quit", classes="hint")
        yield Footer()

    def set_reason(self, reason: str) -> None:
        self.reason = reason
        if self.is_mounted:
            self.query_one("#reason", Static).update(Text(reason))
