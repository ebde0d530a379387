"""The review keys, one table for the TUI and the web page (`gladtui web`).

Each row is a key (or keys), the action it runs, its short label (the key
bar's), what it does (the help's text) and where it applies. The TUI builds
its Textual bindings from these rows (gladtui/tui/bindings.py) and the page
gets them as JSON (GET /keys.json), so `?` lists the same keys in both, from
`help_rows` here. Key names are Textual's (`question_mark`, `shift+left`);
`browser_key` names them as a browser's KeyboardEvent does.

Where: `app` (everywhere), `list` (the task list's cursor), `decide` (the
decisions, in the list and the large view), `view` (large view and compare),
`review` (the review screen's own), `large` (the large view and its loupe).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Key:
    keys: str  # Textual key names, comma-separated: "up,k"
    action: str  # the action it runs: "cursor(-1)"
    label: str  # the key bar's short word
    help: str  # what it does, in the help
    show: bool = True  # in the key bar
    priority: bool = False  # Textual: handled before a focused input sees it
    display: str | None = None  # shown instead of the first key's name


MOVE = "move in the task list"
PICK = "select a variation: ← → or its number (as in gladtui approve --variation N)"
SCROLL = "scroll the details down / up, from the list"
APPROVE = "approve the selected variation (A: always with the dialog)"
REJECT = "reject: keep or delete the files, or regenerate with a new prompt (R: the dialog)"
LARGE_PICK = "the other variation: previous / next, or its number (the loupe stays in place)"
PAN = "pan the loupe a quarter of the view (it stops at the edges)"
LARGE_APPROVE = "approve the selected variation (the right one in compare); the dialog says which"
HELP = Key("question_mark", "help", "Help", "this help", display="?")


def _numbers(label: str, help_text: str, action: str = "pick") -> tuple[Key, ...]:
    return tuple(
        Key(str(n), f"{action}({n})", label.format(n=n), help_text, show=False)
        for n in range(1, 10)
    )


TABLE: dict[str, tuple[Key, ...]] = {
    "app": (Key("q", "quit", "Quit", "quit (the daemon keeps running)"), HELP),
    "list": (
        Key("up,k", "cursor(-1)", "Up", MOVE, show=False),
        Key("down,j", "cursor(1)", "Down", MOVE, show=False),
        Key("pageup", "page(-1)", "Page up", MOVE, show=False),
        Key("pagedown", "page(1)", "Page down", MOVE, show=False),
        Key("home", "jump(0)", "First", MOVE, show=False),
        Key("end", "jump(-1)", "Last", MOVE, show=False),
    ),
    "decide": (
        Key("a", "approve", "Approve", APPROVE),
        Key("A", "approve(True)", "Approve…", APPROVE, show=False),
        Key("r", "reject", "Reject", REJECT),
        Key("R", "reject(True)", "Reject…", REJECT, show=False),
        Key(
            "u",
            "undo",
            "Undo",
            "undo a decision during its grace period (the task's, else the last one)",
        ),
        Key("g", "generate", "More", "more variations, optionally a new prompt"),
        Key("c", "cancel", "Cancel", "cancel a queued or running generation", show=False),
    ),
    "view": (
        Key(
            "z",
            "zoom",
            "100 %",
            "the selected variation at 100 % (the loupe: h j k l pan; z or Esc: back)",
            show=False,
        ),
        Key(
            "p",
            "pin",
            "Pin",
            "pin the selected variation and compare another beside it; p again: unpin",
            show=False,
        ),
    ),
    "review": (
        Key("f", "filter(1)", "Filter", "next / previous filter"),
        Key("F", "filter(-1)", "Filter back", "next / previous filter", show=False),
        # priority, like enter below: "/" and the text typed after it in one burst
        # (a paste, a fast typist) must reach the search box, not the list.
        Key(
            "slash",
            "search",
            "Search",
            "search titles as you type; Enter keeps the search, Esc drops it",
            priority=True,
        ),
        Key("left", "variation(-1)", "Prev image", PICK, show=False),
        Key("right", "variation(1)", "Next image", PICK, show=False),
        *_numbers("Variation {n}", PICK),
        # priority: handled as the key arrives. Left to the search box, Enter
        # would be queued there, and a key typed right after it would land in
        # the box too instead of acting on the list.
        Key(
            "enter",
            "enter",
            "View",
            "the selected variation, large; beside the pinned one, if any (Esc: back)",
            show=False,
            priority=True,
        ),
        Key(
            "tab",
            "details",
            "Details",
            "↑ ↓ scroll the details (a long prompt); Tab or Esc: back to the list",
            show=False,
        ),
        Key(
            "right_square_bracket,shift+down",
            "scroll_details(1)",
            "Details down",
            SCROLL,
            show=False,
        ),
        Key(
            "left_square_bracket,shift+up",
            "scroll_details(-1)",
            "Details up",
            SCROLL,
            show=False,
        ),
        Key("escape", "escape", "Back", "drop the search; leave details", show=False),
        Key(
            "s",
            "figures",
            "Figures",
            "the desk's figures: decisions an hour, waits, rounds, reasons",
            show=False,
        ),
    ),
    "large": (
        Key("escape", "back", "Back", "leave the loupe, else back to the list"),
        Key("enter,q", "dismiss(None)", "List", "back to the list", show=False),
        Key(
            "z",
            "zoom",
            "100 %",
            "the loupe: 100 %, one image pixel per screen pixel, centred at first;"
            " z again (or Esc): back",
        ),
        Key(
            "p",
            "pin",
            "Pin",
            "pin the variation shown and compare another beside it (← →); p again: unpin",
        ),
        Key("left", "step(-1)", "Prev", LARGE_PICK, show=False),
        Key("right", "step(1)", "Next", LARGE_PICK, show=False),
        *(Key(str(n), f"pick({n})", str(n), LARGE_PICK, show=False) for n in range(1, 10)),
        Key("h,shift+left", "pan(-1, 0)", "Pan", PAN, show=False),
        Key("l,shift+right", "pan(1, 0)", "Pan", PAN, show=False),
        Key("k,shift+up", "pan(0, -1)", "Pan", PAN, show=False),
        Key("j,shift+down", "pan(0, 1)", "Pan", PAN, show=False),
        Key("a", "approve", "Approve", LARGE_APPROVE),
        Key("A", "approve(True)", "Approve…", LARGE_APPROVE, show=False),
        HELP,
    ),
}

# The help of each screen: the groups in force there, in the order the help lists them.
SCREENS = {
    "review": ("list", "decide", "view", "review", "app"),
    "large": ("large",),
}

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

# Textual's names that a browser's KeyboardEvent.key spells otherwise.
BROWSER_KEYS = {
    "up": "ArrowUp",
    "down": "ArrowDown",
    "left": "ArrowLeft",
    "right": "ArrowRight",
    "pageup": "PageUp",
    "pagedown": "PageDown",
    "home": "Home",
    "end": "End",
    "enter": "Enter",
    "escape": "Escape",
    "tab": "Tab",
    "slash": "/",
    "question_mark": "?",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}


def key_name(key: str) -> str:
    """How the help and the key bar write a key."""
    return KEY_NAMES.get(key, key)


def browser_key(key: str) -> str:
    """The key as the page matches it: KeyboardEvent.key, `shift+` before it if held
    (for keys whose shifted form is not a character of its own: the arrows)."""
    shift, _, base = key.rpartition("+")
    name = BROWSER_KEYS.get(base, base)
    return f"{shift}+{name}" if shift else name


def help_rows(entries: Iterable[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """One row per action: its keys and what it does, in the order the entries come.

    `entries`: (keys, action, text) in the order they are in force. Built from the
    bindings themselves, so the help cannot drift from the keys; entries with the
    same text share a row. The numbers 1-9 make one row.
    """
    rows: dict[str, list[str]] = {}  # text -> keys, in the entries' order
    for keys, action, text in entries:
        names = rows.setdefault(text, [])
        if action.startswith("pick("):
            if "1-9" not in names:
                names.append("1-9")
            continue
        for key in keys.split(","):
            name = key_name(key.strip())
            if name not in names:
                names.append(name)
    return [(" ".join(names), text) for text, names in rows.items()]


def screen_help(screen: str) -> list[tuple[str, str]]:
    """The help of `screen` ("review" or "large"), as the TUI's `?` lists it."""
    keys = [key for group in SCREENS[screen] for key in TABLE[group]]
    return help_rows((key.keys, key.action, key.help) for key in keys)


def table_json() -> dict[str, Any]:
    """What the page gets: every group's keys (with their browser names) and each
    screen's help rows."""
    return {
        "groups": {
            group: [
                {**asdict(key), "browser": [browser_key(k) for k in key.keys.split(",")]}
                for key in keys
            ]
            for group, keys in TABLE.items()
        },
        "help": {screen: screen_help(screen) for screen in SCREENS},
    }
