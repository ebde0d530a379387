"""The screens around the review screen: help, no daemon (the large view: largeview.py)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Label, Static

from gladtui import keys as key_table
from gladtui.client import START_HINT
from gladtui.tui.picturewidget import chosen
from gladtui.tui.rows import LEGEND

KEYS_WIDTH = 13  # the help's key column


def help_rows(bindings: Iterable[Binding]) -> list[tuple[str, str]]:
    """One row per action: its keys and what it does (gladtui/keys.py, which the web
    page's help uses too); a binding's tooltip is its help text."""
    return key_table.help_rows((b.key, b.action, b.tooltip or b.description) for b in bindings)


def help_table(rows: list[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", max_width=KEYS_WIDTH)  # long lists of keys wrap
    table.add_column()
    for keys, what in rows:
        table.add_row(keys, what)
    return table


class HelpScreen(ModalScreen[None]):
    """The keys (from the bindings in force), what the list's glyphs mean, and how
    pictures are drawn here (with what would give real pixels, when it is not)."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss(None)", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Label("gladtui: keys    (↑ ↓ PgDn: scroll · Esc: close)", classes="dialog-title")
            yield Static(help_table(self.keys))
            yield Label("The task list's status column", classes="dialog-title legend")
            yield Static(help_table(LEGEND))
            choice = chosen()
            if choice is not None:  # how this terminal draws pictures, and why
                yield Label("Pictures", classes="dialog-title legend")
                pictures = f"{choice.describe()}\ncells: {choice.describe_cells()}"
                yield Static(Text(pictures), id="pictures-choice")
            yield Label("Esc: close", classes="hint")


class DisconnectedScreen(Screen[None]):
    """Shown while no daemon answers; the app leaves it by itself on reconnection."""

    BINDINGS = [Binding("q", "app.quit", "Quit")]

    def __init__(self, reason: str, hint: str = START_HINT) -> None:
        """`hint`: how to start the daemon (on which host, under `gladtui --ssh`)."""
        super().__init__()
        self.reason = reason
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog disconnected"):
            yield Label("No daemon", classes="dialog-title")
            yield Static(Text(self.reason), id="reason")
            yield Static(Text(f"{self.hint[0].upper()}{self.hint[1:]}."), id="hint")
            yield Label("Reconnecting by itself…  q: quit", classes="hint")
        yield Footer()

    def set_reason(self, reason: str) -> None:
        self.reason = reason
        # Mounted is not composed: until compose has run there is no #reason yet, and
        # compose reads `reason` (seen under load: the dialog pushed, then a new reason).
        for shown in self.query("#reason").results(Static):
            shown.update(Text(reason))
