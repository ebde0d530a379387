"""The API's times, ages and progress in words, as the TUI and the CLI both say them.

Pure functions of the JSON of gladtui/shapes.py (and `now`), so the two clients
cannot drift apart: the CLI's human output (gladtui/cli/cliformat.py) and the TUI's
rows and detail pane import these, and the TUI imports nothing of the CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gladtui.shapes import ProgressJSON


def parse_time(text: str) -> datetime:
    """An API time (ISO 8601, UTC, "Z") as an aware datetime."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def duration(seconds: float) -> str:
    """The largest whole unit: 5s, 3m, 2h, 4d."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def age(created_at: str, now: datetime) -> str:
    return duration((now - parse_time(created_at)).total_seconds())


def format_progress(progress: ProgressJSON) -> str:
    return (
        f"step {progress['step']}/{progress['steps']}, "
        f"{progress['images_done']}/{progress['images_total']} images done"
    )
