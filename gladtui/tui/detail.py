"""The detail pane: what a reviewer checks before approving, as Rich text.

`detail_text` is a pure function of the API's JSON (a summary, or the full
task once it has been fetched, which adds the seeds), tested without a terminal.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from gladtui.humanize import format_progress
from gladtui.shapes import SlugOutcome, TaskJSON, TaskStatus, TaskSummaryJSON
from gladtui.tui.rows import STATUS_STYLES, countdown

LABEL = "bold"


def slug_line(task: TaskSummaryJSON) -> str:
    """The slug approving would give, and why it is that one."""
    slug, taken_by, outcome = task["slug"], task["slug_taken_by"], task["slug_outcome"]
    base = slug.rsplit("-", 1)[0] if outcome == SlugOutcome.SUFFIXED else slug
    other = f"task {taken_by}" if taken_by else "another post"
    if outcome == SlugOutcome.PUBLISHED:
        return f"{slug} (published)"
    if outcome == SlugOutcome.SUFFIXED:
        return f"{slug}  ('{base}' is taken by {other}'s post)"
    if outcome == SlugOutcome.TAKES_OVER:
        return f"{slug}  (replaces the image of {other}'s post: on_duplicate_slug update)"
    if outcome == SlugOutcome.LINKS:
        return f"{slug}  (already {other}'s post: approving links to it, on_duplicate_slug skip)"
    return f"{slug}  (free)"


def detail_text(task: TaskSummaryJSON | TaskJSON | None, now: datetime | None = None) -> Text:
    """What a reviewer checks, the short facts first: at 80x24 the size and seeds
    lines stay in view above a long prompt. `now`: for the undo countdown."""
    if task is None:
        return Text("No task selected.", style="dim")
    text = Text()
    text.append(task["title"] + "\n", style="bold")
    text.append(task["status"], style=STATUS_STYLES.get(task["status"], ""))
    text.append(f"  {task['id']}\n", style="dim")
    left = countdown(task, now) if now is not None else None
    if left is not None:
        what = "publishes" if task["status"] == TaskStatus.APPROVED else "takes effect"
        _field(text, "undo", f"{what} in {left}; u undoes it", "bold")
    if task["error"]:
        _field(text, "error", task["error"], "red")
    if task["status"] == TaskStatus.INVALID and task["source_file"]:
        _field(text, "file", task["source_file"])
    if task["status"] == TaskStatus.INVALID:
        return text  # nothing below means anything for a file that was refused
    if task["progress"]:
        _field(text, "progress", format_progress(task["progress"]))
    if task["post"]:
        _field(text, "post", task["post"]["featured_image_url"])
    _field(text, "slug", slug_line(task))
    size = (
        f"{task['width']}x{task['height']}, {task['steps']} steps, cfg {task['guidance_scale']:g}"
    )
    _field(text, "size", size)
    missing = _missing(task)
    if missing:
        _field(text, "missing", missing, "red")
    _field(text, "seeds", _seeds(task))
    _field(text, "prompt", task["prompt"])
    _field(text, "negative", task["negative_prompt"] or "(none)")
    return text


def _seeds(task: TaskSummaryJSON | TaskJSON) -> str:
    variations = task.get("variations")
    if isinstance(variations, list) and variations:
        return ", ".join(
            f"{v['index']}:{v['seed']}" + (" (missing)" if v.get("missing") else "")
            for v in variations
            if not v["removed_at"]
        )
    return "random" if task["seed"] is None else f"from {task['seed']}"


def _missing(task: TaskSummaryJSON | TaskJSON) -> str:
    """The variations whose file is gone from its path, and what to do; "" when none."""
    variations = task.get("variations")
    if not isinstance(variations, list):
        return ""  # a summary: the full task, when it arrives, says
    gone = [str(v["index"]) for v in variations if v.get("missing")]
    if not gone:
        return ""
    return (
        f"the file of variation(s) {', '.join(gone)} is not at its path: it cannot be "
        "approved; put it back, or g for more variations"
    )


def _field(text: Text, label: str, value: str, style: str = "") -> None:
    text.append(f"{label}: ", style=LABEL)
    text.append(f"{value}\n", style=style)


class TaskDetail(Static):
    """Shows `detail_text` of the task it is given.

    A layout of the screen only when the text's height changed: the next task's
    details mostly have as many lines, and a layout is most of what a decision's
    frame costs (bench/review.py)."""

    _shown: Text | None = None

    def show(self, task: TaskSummaryJSON | TaskJSON | None, now: datetime | None = None) -> None:
        text = detail_text(task, now)
        if text == self._shown:
            return
        self._shown = text
        self.update(text, layout=False)
        width = self.size.width
        if not width or self.get_content_height(self.size, self.size, width) != self.size.height:
            self.refresh(layout=True)
