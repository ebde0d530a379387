"""The task list's model: a window onto one filtered, ordered list the daemon holds.

The daemon may hold 100,000 tasks; the TUI never asks for them all. It keeps
the rows it has fetched by position, asks for the pages the screen needs, and
applies each event's task summary in place: the row changes, appears where
the order puts it, or goes when it no longer matches the filter.

Positions shift when a task enters or leaves the list, so a page fetched
before such a change would land one row off. Every membership change bumps
`version`; a page answered for an older version is dropped and asked again.

Pure Python (no Textual), so it is tested on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum

from gladtui.shapes import ProgressJSON, TaskPageJSON, TaskSummaryJSON

MAX_CACHED = 5_000  # rows kept; the ones farthest from the cursor go first


class Change(Enum):
    NONE = "none"  # the task is not in this list, and does not belong in it
    UPDATED = "updated"  # same place, new content
    INSERTED = "inserted"  # a new row at `position`
    REMOVED = "removed"  # the row at `position` left
    MOVED_UNSEEN = "unseen"  # total changed at a position not fetched yet


@dataclass(frozen=True)
class Applied:
    change: Change
    position: int | None = None


@dataclass(frozen=True)
class PageRequest:
    offset: int
    limit: int
    version: int


@dataclass(frozen=True)
class ListQuery:
    """What to ask the daemon for (GET /api/tasks): the window's filter as it is now."""

    statuses: frozenset[str] | None
    query: str
    undoable: bool
    keep: str | None


def order_key(task: TaskSummaryJSON) -> tuple[str, str]:
    """The daemon's order is newest first: created_at, then id, both descending."""
    return (task["created_at"], task["id"])


class TaskWindow:
    """Rows by position for one filter (statuses, title search, undoable decisions).

    `keep` is the task the reviewer looks at: it stays in the list whatever its
    status becomes (the daemon's page includes it too, so positions agree), and
    leaves only once the cursor has moved on. So a task never slips from under
    the cursor between two keys.
    """

    def __init__(
        self, statuses: Collection[str] | None = None, query: str = "", *, undoable: bool = False
    ) -> None:
        self.statuses: frozenset[str] | None = None
        self.query = ""
        self.undoable = False  # decisions still in their grace period match too
        self.keep: str | None = None
        self.total = 0
        self.loaded = False  # a first page has answered: `total` is known
        self.version = 0
        self._rows: dict[int, TaskSummaryJSON] = {}
        self._positions: dict[str, int] = {}
        self._titles: dict[str, Counter[str]] = {}  # title: the ids of its loaded rows
        self.reset(statuses, query, undoable=undoable)

    # -- filter ---------------------------------------------------------------------

    def reset(
        self, statuses: Collection[str] | None, query: str, *, undoable: bool = False
    ) -> None:
        """A new filter: nothing is known until its first page answers."""
        self.statuses = frozenset(statuses) if statuses else None
        self.query = query.strip()
        self.undoable = undoable
        self.keep = None
        self.total, self.loaded = 0, False
        self._forget_all()

    def matches(self, task: TaskSummaryJSON) -> bool:
        """Whether the daemon's page for this filter holds `task` (mirrors GET /api/tasks)."""
        if task["id"] == self.keep:
            return True
        if self.query and self.query.lower() not in task["title"].lower():
            return False
        if self.statuses is None or task["status"] in self.statuses:
            return True
        return self.undoable and "undo" in task["actions"]

    def set_keep(self, task_id: str | None) -> Applied:
        """Keep `task_id` in the list; the task kept before leaves if it no longer matches."""
        old, self.keep = self.keep, task_id
        position = None if old is None or old == task_id else self._positions.get(old)
        if position is None or self.matches(self._rows[position]):
            return Applied(Change.NONE)
        self._remove(position)
        return Applied(Change.REMOVED, position)

    @property
    def list_query(self) -> ListQuery:
        return ListQuery(self.statuses, self.query, self.undoable, self.keep)

    def tell_apart(self, task: TaskSummaryJSON) -> str | None:
        """What of its id tells the row from the others with its title; None: no other.

        The ids' common start is left out up to a `-`, `_` or `.`: `002` for
        muffins-002 beside muffins-001, the whole id when one id starts another.
        """
        ids = sorted(+self._titles.get(task["title"], Counter()))
        if len(ids) < 2:
            return None
        common = next(
            (i for i, chars in enumerate(zip(*ids, strict=False)) if len(set(chars)) > 1),
            min(map(len, ids)),
        )
        cut = max((i + 1 for i, c in enumerate(ids[0][:common]) if c in "-_."), default=0)
        tail = task["id"][cut:]
        return tail or task["id"]

    # -- reading --------------------------------------------------------------------

    def __len__(self) -> int:
        return self.total

    def get(self, position: int) -> TaskSummaryJSON | None:
        return self._rows.get(position)

    def position_of(self, task_id: str) -> int | None:
        return self._positions.get(task_id)

    def missing(self, start: int, stop: int, page: int) -> PageRequest | None:
        """The page to ask for so rows start..stop-1 are known; None when they are."""
        if self.loaded:
            stop = min(stop, self.total)
        first = next((p for p in range(max(start, 0), stop) if p not in self._rows), None)
        if first is None:
            return None if self.loaded else PageRequest(0, page, self.version)
        return PageRequest(first, page, self.version)

    # -- writing --------------------------------------------------------------------

    def fill(self, request: PageRequest, answer: TaskPageJSON, keep_near: int = 0) -> bool:
        """Store a page; False (and nothing stored) when the list moved since it was asked."""
        if request.version != self.version:
            return False
        if self.loaded and answer["total"] != self.total:
            # Tasks came or went between events and this read: positions known
            # so far may be off. Trust the daemon's count and start over.
            self._forget_all()
        self.total, self.loaded = answer["total"], True
        for position, task in enumerate(answer["tasks"], start=answer["offset"]):
            self._put(position, task)
        self._evict(keep_near)
        return True

    def apply(self, task: TaskSummaryJSON) -> Applied:
        """Bring the list up to date with one task as it is now."""
        position = self._positions.get(task["id"])
        belongs = self.matches(task)
        if position is not None and belongs:
            self._put(position, task)
            return Applied(Change.UPDATED, position)
        if position is not None:
            self._remove(position)
            return Applied(Change.REMOVED, position)
        if not belongs or not self.loaded:
            return Applied(Change.NONE)
        return self._insert(task)

    def update_progress(self, task_id: str, progress: ProgressJSON | None) -> int | None:
        """Progress on a row we hold: its position, else None."""
        position = self._positions.get(task_id)
        if position is not None:
            row = self._rows[position].copy()
            row["progress"] = progress
            self._rows[position] = row
        return position

    # -- internals ------------------------------------------------------------------

    def _insert(self, task: TaskSummaryJSON) -> Applied:
        key = order_key(task)
        after = next((p for p in sorted(self._rows) if order_key(self._rows[p]) < key), None)
        if after is None:  # older than every row held: at the end if the end is held
            end = self.total
            known_end = end == 0 or (end - 1) in self._rows
            return self._shift_in(end if known_end else None, task)
        # Between `after - 1` and `after`: exact only when the row above is held too.
        exact = after == 0 or (after - 1) in self._rows
        return self._shift_in(after if exact else None, task)

    def _shift_in(self, position: int | None, task: TaskSummaryJSON) -> Applied:
        self.version += 1
        self.total += 1
        if position is None:
            # Somewhere among rows not fetched: rows past the first gap may now be
            # one off, so forget them; they are fetched again when shown.
            self._forget_unanchored()
            return Applied(Change.MOVED_UNSEEN)
        self._reindex({p + 1 if p >= position else p: t for p, t in self._rows.items()})
        self._put(position, task)
        return Applied(Change.INSERTED, position)

    def _remove(self, position: int) -> None:
        self.version += 1
        self.total -= 1
        rows = {p - 1 if p > position else p: t for p, t in self._rows.items() if p != position}
        self._reindex(rows)

    def _forget_unanchored(self) -> None:
        """Keep the rows contiguous from the top; the rest may have shifted."""
        kept: dict[int, TaskSummaryJSON] = {}
        while len(kept) in self._rows:
            kept[len(kept)] = self._rows[len(kept)]
        self._reindex(kept)

    def _forget_all(self) -> None:
        self.version += 1
        self._reindex({})

    def _put(self, position: int, task: TaskSummaryJSON) -> None:
        old = self._rows.get(position)
        if old is not None:
            self._titles[old["title"]][old["id"]] -= 1
            if self._positions.get(old["id"]) == position:
                del self._positions[old["id"]]
        stale = self._positions.get(task["id"])
        if stale is not None and stale != position:
            gone = self._rows.pop(stale, None)
            if gone is not None:
                self._titles[gone["title"]][gone["id"]] -= 1
        self._rows[position] = task
        self._positions[task["id"]] = position
        self._titles.setdefault(task["title"], Counter())[task["id"]] += 1

    def _reindex(self, rows: dict[int, TaskSummaryJSON]) -> None:
        self._rows = rows
        self._positions = {task["id"]: p for p, task in rows.items()}
        self._titles = {}
        for task in rows.values():
            self._titles.setdefault(task["title"], Counter())[task["id"]] += 1

    def _evict(self, keep_near: int) -> None:
        if len(self._rows) <= MAX_CACHED:
            return
        by_distance = sorted(self._rows, key=lambda p: abs(p - keep_near))
        self._reindex({p: self._rows[p] for p in by_distance[:MAX_CACHED]})
