"""The TUI's Textual bindings, built from the shared key table (gladtui/keys.py)."""

from __future__ import annotations

from textual.binding import Binding, BindingType

from gladtui.keys import TABLE


def bindings(group: str) -> list[BindingType]:
    """The group's keys as Textual bindings, in the table's order."""
    return [
        Binding(
            key.keys,
            key.action,
            key.label,
            show=key.show,
            key_display=key.display,
            priority=key.priority,
            tooltip=key.help,
        )
        for key in TABLE[group]
    ]
