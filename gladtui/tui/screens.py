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

from gladtui.client import START_HINT
from gladtui.tui.picturewidget import chosen
from gladtui.tui.rows import LEGEND

KEYS_WIDTH = 13  # the help's key column

KEY_NAMES = {
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "enter": "Enter",
    "escape": "Esc",
    "tab": "Tab",
    "slash": "/",
    "question_mark": "?",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "shift+up": "Shift+↑",
    "shift+down": "Shift+↓",
    "shift+left": "Shift+←",
    "shift+right": "Shift+→",
}


def key_name(key: str) -> str:
    return KEY_NAMES.get(key, key)


def help_rows(bindings: Iterable[Binding]) -> list[tuple[str, str]]:
    """One row per action: its keys and what it does, in the order the bindings come.

    Built from the bindings themselves, so the help cannot drift from the keys: a
    binding's tooltip is its help text (the footer shows the short description),
    and bindings with the same text share a row. The numbers 1-9 make one row.
    """
    rows: dict[str, list[str]] = {}  # description -> keys, in the bindings' order
    for binding in bindings:
        description = binding.tooltip or binding.description
        keys = rows.setdefault(description, [])
        if binding.action.startswith("pick("):
            if "1-9" not in keys:
                keys.append("1-9")
            continue
        for key in binding.key.split(","):
            name = key_name(key.strip())
            if name not in keys:
                keys.append(name)
    return [(" ".join(keys), description) for description, keys in rows.items()]


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
