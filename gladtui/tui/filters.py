"""The task list's filters, and the bar that shows them with their counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from gladtui.shapes import IN_GENERATION, StatusJSON, TaskStatus


@dataclass(frozen=True)
class TaskFilter:
    key: str
    label: str
    statuses: tuple[str, ...] | None  # None: every status
    # Decisions still in their grace period stay in the list (with their countdown),
    # so the reviewer sees what `u` would undo.
    undoable: bool = False
    # Listed but counted apart ("Review 2+1"): the tasks being generated, shown where
    # the reviewer is, with their live previews, but not awaiting review yet.
    apart: tuple[str, ...] = ()


FILTERS: tuple[TaskFilter, ...] = (
    TaskFilter(
        "review",
        "Review",
        (TaskStatus.REVIEW, *IN_GENERATION),
        undoable=True,
        apart=IN_GENERATION,
    ),
    TaskFilter("all", "All", None),
    TaskFilter("generating", "Generating", IN_GENERATION),
    TaskFilter(
        "published", "Published", (TaskStatus.APPROVED, TaskStatus.PUBLISHING, TaskStatus.PUBLISHED)
    ),
    TaskFilter("rejected", "Rejected", (TaskStatus.REJECTED,)),
    TaskFilter("failed", "Failed", (TaskStatus.FAILED, TaskStatus.INVALID)),
)


@dataclass(frozen=True)
class Counts:
    """What the daemon's status counts: tasks by status, and the decisions in their grace
    period (approved or rejected, and still undoable: the Review list shows them)."""

    by_status: Mapping[str, int]
    undoable: int = 0


def counts_of(status: StatusJSON) -> Counts:
    # .get: a daemon from before `undoable` counted none
    return Counts(status["tasks"], status.get("undoable", 0))


def count_for(task_filter: TaskFilter, counts: Counts) -> int:
    """The tasks the filter lists (its statuses, the undoable decisions if it shows them),
    but for those it counts apart."""
    if task_filter.statuses is None:
        return sum(counts.by_status.values())
    counted = [s for s in task_filter.statuses if s not in task_filter.apart]
    listed = sum(counts.by_status.get(status, 0) for status in counted)
    return listed + (counts.undoable if task_filter.undoable else 0)


def count_text(task_filter: TaskFilter, counts: Counts) -> str:
    """`2`, or `2+1` when the filter also lists 1 task it counts apart (being generated)."""
    apart = sum(counts.by_status.get(status, 0) for status in task_filter.apart)
    return f"{count_for(task_filter, counts)}" + (f"+{apart}" if apart else "")


@dataclass(frozen=True)
class EmptyWords:
    """What an empty list says (one short line: the list is narrow), and what the
    gallery beside it says (several lines: the drop folder's path may be long)."""

    line: str
    note: str


def empty_words(
    current: TaskFilter, counts: Counts | None, query: str, drop_dir: str | None
) -> EmptyWords:
    """Why the list is empty, and what to do about it."""
    if counts is None:
        return EmptyWords("connecting to the daemon…", "")
    if not sum(counts.by_status.values()):  # a new instance: how tasks come in
        folder = drop_dir or "the daemon's drop folder (gladtui status says where)"
        return EmptyWords(
            "no tasks yet",
            f"No tasks yet. Drop a task file (YAML) into\n{folder}\n"
            'or run: gladtui submit FILE.yaml\n(see docs/formats.md, "Task files")',
        )
    if query:
        return EmptyWords(f"no title contains “{query}”", "Esc: drop the search")
    return EmptyWords(f"no tasks in {current.label}", "f / F: the other filters")


def bar_text(current: TaskFilter, counts: Counts | None, query: str) -> Text:
    text = Text()
    for task_filter in FILTERS:
        count = "" if counts is None else f" {count_text(task_filter, counts)}"
        label = f" {task_filter.label}{count} "
        text.append(label, style="reverse bold" if task_filter == current else "")
        text.append(" ")
    if query:
        text.append(f" title contains “{query}”", style="italic")
    return text


class FilterBar(Static):
    """`Review 3  All 12  Generating 1 …`, the current filter highlighted."""

    def show(self, current: TaskFilter, counts: Counts | None, query: str) -> None:
        # one line, the screen's width (gladtui.tcss): a recount needs no layout of the
        # screen, which would compete with the reviewer's next key
        self.update(bar_text(current, counts, query), layout=False)
