"""How one task looks as a row of the task list: pure functions to Rich segments.

Kept apart from the widget so the columns are tested without a terminal, and
so the widget's hot path (one row per repainted line) stays a plain function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style

from gladtui.humanize import age, parse_time
from gladtui.shapes import ProgressJSON, TaskStatus, TaskSummaryJSON

STATUS_WIDTH = 12  # "● generating", or the progress bar that replaces it
COMPACT_STATUS_WIDTH = 4  # "●", or "57%", when the list is narrow
COMPACT_BELOW = 48  # list widths under this get the compact status column
COUNT_WIDTH = 3
AGE_WIDTH = 4
BAR_CELLS = 7
MIN_ID_WIDTH = 8  # a title shared by two rows gives what tells the ids apart this much

STATUS_STYLES: dict[str, Style] = {
    TaskStatus.QUEUED: Style(color="bright_black"),
    TaskStatus.GENERATING: Style(color="cyan"),
    TaskStatus.REVIEW: Style(color="yellow", bold=True),
    TaskStatus.APPROVED: Style(color="green"),
    TaskStatus.PUBLISHING: Style(color="green"),
    TaskStatus.PUBLISHED: Style(color="bright_green"),
    TaskStatus.REJECTED: Style(color="magenta"),
    TaskStatus.FAILED: Style(color="red", bold=True),
    TaskStatus.INVALID: Style(color="red", bold=True),
}
ICONS = {
    TaskStatus.QUEUED: "◌",
    TaskStatus.GENERATING: "◐",
    TaskStatus.REVIEW: "●",
    TaskStatus.APPROVED: "↑",
    TaskStatus.PUBLISHING: "↑",
    TaskStatus.PUBLISHED: "✓",
    TaskStatus.REJECTED: "✗",
    TaskStatus.FAILED: "!",
    TaskStatus.INVALID: "!",
}
DIM = Style(dim=True)
HEADER = Style(bold=True, dim=True)

# The glyphs of the status column, explained by `?` (screens.py).
LEGEND: list[tuple[str, str]] = [
    ("●", "awaiting review"),
    ("◌ ◐", "queued, generating (a bar or a percentage shows how far)"),
    ("↑", "approved, being published"),
    ("✓", TaskStatus.PUBLISHED),
    ("✗", TaskStatus.REJECTED),
    ("!", "failed, or a task file that was refused"),
    ("↑ 7s  ✗ 7s", "a decision that takes effect in 7 s: u undoes it"),
]


@dataclass(frozen=True, slots=True)
class Columns:
    """The widths of a row's cells for a list `width` cells wide."""

    status: int
    title: int

    @classmethod
    def for_width(cls, width: int) -> Columns:
        status = COMPACT_STATUS_WIDTH if width < COMPACT_BELOW else STATUS_WIDTH
        return cls(status, max(width - status - COUNT_WIDTH - AGE_WIDTH - 3, 1))


def progress_fraction(progress: ProgressJSON) -> float:
    return min(max(progress["step"] / progress["steps"], 0.0), 1.0) if progress["steps"] else 0.0


def progress_bar(progress: ProgressJSON, cells: int = BAR_CELLS) -> str:
    """`━━━━╺──  57%`: the whole generation (every batch), not one image."""
    fraction = progress_fraction(progress)
    done = round(fraction * cells)
    return "━" * done + "─" * (cells - done) + f"{round(fraction * 100):>4}%"


def countdown(task: TaskSummaryJSON, now: datetime) -> str | None:
    """`7s` while a decision waits out its grace period (undoable), else None."""
    until = task.get("undo_until")
    if not until:
        return None
    left = max(0.0, (parse_time(until) - now).total_seconds())
    return f"{left:.0f}s"


def status_cell(
    task: TaskSummaryJSON, width: int = STATUS_WIDTH, now: datetime | None = None
) -> tuple[str, Style]:
    """The status word and icon; the progress bar while generating; the undo countdown.

    Narrow: the icon, a percentage, or the icon and the countdown.
    """
    status, progress = task["status"], task["progress"]
    style = STATUS_STYLES.get(status, Style())
    left = countdown(task, now) if now is not None else None
    if left is not None:
        icon = ICONS.get(status, "?")
        text = f"{icon}{left}" if width < STATUS_WIDTH else f"{icon} undo {left}"
    elif width < STATUS_WIDTH:
        if status == TaskStatus.GENERATING and progress:
            text = f"{round(progress_fraction(progress) * 100)}%"
        else:
            text = ICONS.get(status, "?")
    elif status == TaskStatus.GENERATING and progress:
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


def row_segments(
    task: TaskSummaryJSON, width: int, now: datetime, *, tell_apart: str | None = None
) -> list[Segment]:
    """status · title · variations · age, exactly `width` cells wide.

    `tell_apart`: the title is shared with another row, and this end of the
    task's id tells them apart (TaskWindow.tell_apart): it follows the title.
    """
    columns = Columns.for_width(width)
    status, style = status_cell(task, columns.status, now)
    count = str(task["variation_count"]) if task["variation_count"] else ""
    return [
        Segment(" "),
        Segment(status, style),
        Segment(" "),
        *title_segments(task, columns.title, tell_apart),
        Segment(count.rjust(COUNT_WIDTH), DIM),
        Segment(" "),
        Segment(age(task["created_at"], now).rjust(AGE_WIDTH), DIM),
    ]


def title_segments(task: TaskSummaryJSON, width: int, tell_apart: str | None) -> list[Segment]:
    """The title; with `tell_apart`, the task's id after it: whole when both fit, else
    only the end that tells it from the others (`…002`), so the title keeps the room."""
    if tell_apart is None:
        return [Segment(fit(task["title"], width))]
    ident = task["id"]
    title = " ".join(task["title"].split())
    fits_whole = cell_len(title) + 1 + cell_len(ident) <= width
    label = ident if fits_whole or tell_apart == ident else "…" + tell_apart
    id_width = min(cell_len(label), max(MIN_ID_WIDTH, width - cell_len(title) - 1), width - 2)
    id_width = max(id_width, 1)
    title_width = max(width - id_width - 1, 0)
    shown = label if cell_len(label) <= id_width else "…" + label[-(id_width - 1) :]
    return [Segment(fit(title, title_width) + " "), Segment(fit(shown, id_width), DIM)]


def header_segments(width: int) -> list[Segment]:
    """The column titles above the rows, in the rows' widths."""
    columns = Columns.for_width(width)
    status = "" if columns.status < STATUS_WIDTH else "status"
    return [
        Segment(" "),
        Segment(status.ljust(columns.status), HEADER),
        Segment(" "),
        Segment(fit("title", columns.title), HEADER),
        Segment("img".rjust(COUNT_WIDTH), HEADER),
        Segment(" "),
        Segment("age".rjust(AGE_WIDTH), HEADER),
    ]


def placeholder_segments(width: int) -> list[Segment]:
    """A row whose page has not arrived yet."""
    return [Segment(fit("  …", width), DIM)]
