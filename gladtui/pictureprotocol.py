"""Which way the TUI draws pictures in this terminal, and why.

textual-image asks the terminal at start (a sixel query, then a kitty
graphics query) and falls back to coloured half blocks. The guess can be
wrong: tmux with passthrough, a browser terminal, a terminal that answers
one query but draws the other protocol better. `GLADTUI_PICTURES` (for this
terminal) or `tui.pictures` (in the config) forces one; the environment
wins, since it belongs to the terminal the reviewer is sitting at.

No Textual here: `gladtui status` reports the choice without starting a TUI.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from gladtui.config import ConfigError

Protocol = Literal["kitty", "sixel", "iterm2", "halfblocks"]
Setting = Literal["auto", "kitty", "sixel", "iterm2", "halfblocks"]
PROTOCOLS: tuple[str, ...] = get_args(Protocol)
ENV = "GLADTUI_PICTURES"

DESCRIPTIONS = {
    "kitty": "kitty graphics protocol (real pixels)",
    "sixel": "sixel (real pixels)",
    "iterm2": "iTerm2 inline images (real pixels)",
    "halfblocks": "coloured half blocks (two pixels per cell)",
}


class ProtocolError(ConfigError):
    """An unknown protocol name; the message lists the known ones."""


@dataclass(frozen=True, slots=True)
class Choice:
    protocol: Protocol
    why: str

    def describe(self) -> str:
        return f"{DESCRIPTIONS[self.protocol]}: {self.why}"


def choose(setting: str, env: Mapping[str, str] | None = None) -> Choice:
    """The protocol to draw with: $GLADTUI_PICTURES, else `setting`, else detection."""
    env = os.environ if env is None else env
    forced = env.get(ENV, "").strip()
    if forced and forced != "auto":
        return Choice(_checked(forced, f"${ENV}"), f"forced by ${ENV}={forced}")
    if setting != "auto":
        return Choice(_checked(setting, "tui.pictures"), f"forced by tui.pictures: {setting}")
    return detect(env)


def _checked(name: str, source: str) -> Protocol:
    if name not in PROTOCOLS:
        known = ", ".join(("auto", *PROTOCOLS))
        raise ProtocolError(f"{source}: unknown picture protocol {name!r}; known: {known}")
    return name  # type: ignore[return-value]  # checked against the Literal's values


def detect(env: Mapping[str, str]) -> Choice:
    """What textual-image found by asking this terminal (it asks once, on import)."""
    if not (sys.__stdout__ and sys.__stdout__.isatty()):
        return Choice("halfblocks", "not a terminal")
    # Imported here, not above: it writes queries to the terminal and reads answers.
    from textual_image.renderable import Image, SixelImage, TGPImage

    if Image is SixelImage:
        return Choice("sixel", "the terminal answered the sixel query")
    if Image is TGPImage:
        return Choice("kitty", "the terminal answered the kitty graphics query")
    why = "the terminal answered neither the sixel nor the kitty graphics query"
    if env.get("TMUX") or env.get("STY"):
        why += (
            "; inside tmux or screen the queries do not reach your terminal: "
            f"set {ENV}=kitty|sixel|iterm2 if it draws through passthrough, "
            "or run `gladtui --ssh HOST` from your own terminal"
        )
    return Choice("halfblocks", why)
