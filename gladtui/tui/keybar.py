"""The bottom line of keys: `a Approve  r Reject  …`, drawn once from the bindings.

Textual's Footer rebuilds its keys whenever the bindings in force change (a
dialog opens or closes, the focus moves): measured here, that was most of the
time between a decision and the next task on screen. This bar shows the same
keys as one line of text that never changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static

from gladtui.keys import key_name

KEY = "bold reverse"


def key_line(bindings: Iterable[Binding]) -> Text:
    """The shown bindings: each key (its display form) and its short description."""
    text = Text(no_wrap=True, overflow="ellipsis")
    seen: set[str] = set()
    for binding in bindings:
        if not binding.show or binding.description in seen:
            continue
        seen.add(binding.description)
        key = binding.key_display or key_name(binding.key.split(",")[0])
        text.append(f" {key} ", style=KEY)
        text.append(f" {binding.description} ")
    return text


class KeyBar(Static):
    """One line of the keys a screen offers."""

    DEFAULT_CSS = "KeyBar { height: 1; dock: bottom; background: $panel; }"

    def __init__(self, bindings: Iterable[Binding]) -> None:
        super().__init__(key_line(bindings))
