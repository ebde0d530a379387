"""How one task looks as a row of the task list: pure functions to Rich segments.

Kept apart from the widget so the columns are tested without a terminal, and
so the widget's hot path (one row per repainted line) stays a plain function.
"""

from __future__ import annotations

from datetime import datetime

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style

from gladtui.cliformat import age
from gladtui.shapes import ProgressJSON, TaskSummaryJSON

STATUS_WIDTH = 12  # "● generating", or the progress bar that replaces it
COMPACT_STATUS_WIDTH = 4  # "●", or "57%", when the list is narrow
COMPACT_BELOW = 48  # list widths under this get the compact status column
COUNT_WIDTH = 3
AGE_WIDTH = 4
BAR_CELLS = 7

STATUS_STYLES: dict[str, Style] = {
    "queued": Style(color="bright_black"),
    "generating": Style(color="cyan"),
    "review": Style(color="yellow", bold=True),
    "approved": Style(color="green"),
    "publishing": Style(color="green"),
    "published": Style(color="bright_green"),
    "rejected": Style(color="magenta"),
    "failed": Style(color="red", bold=True),
    "invalid": Style(color="red", bold=True),
}
ICONS = {
    "queued": "◌",
    "generating": "◐",
    "review": "●",
    "approved": "↑",
    "publishing": "↑",
    "published": "✓",
    "rejected": "✗",
    "failed": "!",
    "invalid": "!",
}
DIM = Style(dim=True)


def progress_fraction(progress: ProgressJSON) -> float:
    return min(max(progress["step"] / progress["steps"], 0.0), 1.0) if progress["steps"] else 0.0


def progress_bar(progress: ProgressJSON, cells: int = BAR_CELLS) -> str:
    """`━━━━╺──  57%`: the whole generation (every batch), not one image."""
    fraction = progress_fraction(progress)
    done = round(fraction * cells)
    return "━" * done + "─" * (cells - done) + f"{round(fraction * 100):>4}%"


def status_cell(task: TaskSummaryJSON, width: int = STATUS_WIDTH) -> tuple[str, Style]:
    """The status word and icon; the progress bar while generating. Narrow: icon or %."""
    status, progress = task["status"], task["progress"]
    style = STATUS_STYLES.get(status, Style())
    if width < STATUS_WIDTH:
        if status == "generating" and progress:
            text = f"{round(progress_fraction(progress) * 100)}%"
        else:
            text = ICONS.get(status, "?")
    elif status == "generating" and progress:
        text = progress_bar(progress)
    else:
        text = f"{ICONS.get(status, '?')} {status}"
    return text.ljust(width)[:width], style


def fit(text: str, width: int) -> str:
    """One line of exactly `width` cells (titles are cut with an ellipsis)."""
    line = " ".join(text.split())
    if cell_len(line) > width:  # cells, not characters: CJK and emoji take two
        line = set_cell_size(line, max(width - 1, 0)) + "…"
    return set_cell_size(line, width)


def row_segments(task: TaskSummaryJSON, width: int, now: datetime) -> list[Segment]:
    """status · title · variations · age, exactly `width` cells wide."""
    status_width = COMPACT_STATUS_WIDTH if width < COMPACT_BELOW else STATUS_WIDTH
    title_width = max(width - status_width - COUNT_WIDTH - AGE_WIDTH - 3, 1)
    status, style = status_cell(task, status_width)
    count = str(task["variation_count"]) if task["variation_count"] else ""
    return [
        Segment(" "),
        Segment(status, style),
        Segment(" "),
        Segment(fit(task["title"], title_width)),
        Segment(count.rjust(COUNT_WIDTH), DIM),
        Segment(" "),
        Segment(age(task["created_at"], now).rjust(AGE_WIDTH), DIM),
    ]


def placeholder_segments(width: int) -> list[Segment]:
    """A row whose page has not arrived yet."""
    return [Segment(fit("  …", width), DIM)]
