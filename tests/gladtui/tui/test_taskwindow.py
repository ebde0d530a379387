"""The task list's model: pages by position, and events applied in place."""

from __future__ import annotations

from typing import Any

from gladtui.shapes import TaskPageJSON, TaskSummaryJSON
from gladtui.tui.rows import progress_bar, row_segments, status_cell
from gladtui.tui.taskwindow import Change, PageRequest, TaskWindow


def task(n: int, status: str = "review", title: str = "") -> TaskSummaryJSON:
    summary: Any = {
        "id": f"t{n:03d}",
        "title": title or f"Task {n}",
        "status": status,
        "created_at": f"2026-11-23T12:{n // 60:02d}:{n % 60:02d}.000000Z",
        "variation_count": 3,
        "progress": None,
    }
    return summary  # only the fields the window and rows read


def newest_first(numbers: range) -> list[TaskSummaryJSON]:
    return [task(n) for n in sorted(numbers, reverse=True)]


def page(tasks: list[TaskSummaryJSON], offset: int, limit: int) -> TaskPageJSON:
    return {"tasks": tasks[offset : offset + limit], "total": len(tasks), "offset": offset,
            "limit": limit}  # fmt: skip


def loaded(tasks: list[TaskSummaryJSON], limit: int = 100) -> TaskWindow:
    window = TaskWindow(["review"])
    request = window.missing(0, 10, limit)
    assert request is not None and request.offset == 0
    assert window.fill(request, page(tasks, 0, limit))
    return window


def ids(window: TaskWindow) -> list[str | None]:
    return [(row or {}).get("id") for row in map(window.get, range(len(window)))]


def test_pages_fill_positions_and_report_what_is_missing() -> None:
    tasks = newest_first(range(250))
    window = loaded(tasks)
    assert len(window) == 250 and window.get(0) == tasks[0] and window.get(99) == tasks[99]
    assert window.missing(0, 50, 100) is None
    request = window.missing(90, 130, 100)
    assert request is not None and request.offset == 100
    assert window.fill(request, page(tasks, 100, 100))
    assert window.get(150) == tasks[150] and window.position_of("t000") is None


def test_a_new_task_is_inserted_in_order_and_rows_below_shift() -> None:
    window = loaded(newest_first(range(0, 10, 2)))  # t008 t006 t004 t002 t000
    applied = window.apply(task(5))
    assert (applied.change, applied.position) == (Change.INSERTED, 2)
    assert ids(window) == ["t008", "t006", "t005", "t004", "t002", "t000"]
    assert window.apply(task(9)).position == 0  # newest of all: the top
    assert window.apply(task(9)).change is Change.UPDATED  # the same event again: no duplicate
    assert len(window) == 7


def test_a_task_leaving_the_filter_is_removed_and_one_that_does_not_match_is_ignored() -> None:
    window = loaded(newest_first(range(5)))
    applied = window.apply(task(3, status="publishing"))
    assert (applied.change, applied.position) == (Change.REMOVED, 1)
    assert ids(window) == ["t004", "t002", "t001", "t000"]
    assert window.apply(task(7, status="rejected")).change is Change.NONE
    assert len(window) == 4


def test_search_matches_titles_case_insensitively() -> None:
    window = TaskWindow(None, "MUFF")
    assert window.matches(task(1, title="Blueberry muffins"))
    assert not window.matches(task(2, title="Banana bread"))


def test_an_insert_among_rows_not_fetched_forgets_what_may_have_shifted() -> None:
    tasks = newest_first(range(300))  # position p holds t(299 - p)
    window = loaded(tasks)  # positions 0-99
    far = window.missing(200, 210, 50)
    assert far is not None and window.fill(far, page(tasks, 200, 50))  # positions 200-249
    late = task(150)
    late["id"] = "late"  # as old as t150: it belongs between rows never fetched
    applied = window.apply(late)
    assert applied.change is Change.MOVED_UNSEEN
    assert window.get(0) == tasks[0] and window.get(99) == tasks[99]  # above: unmoved
    assert window.get(200) is None and window.position_of("t099") is None  # below: forgotten
    assert len(window) == 301


def test_a_page_asked_before_the_list_moved_is_dropped() -> None:
    tasks = newest_first(range(10))
    window = loaded(tasks, limit=5)
    stale = window.missing(5, 10, 5)
    assert stale is not None
    window.apply(task(99))  # a new task at the top: every position below moved
    assert not window.fill(stale, page(tasks, 5, 5))
    fresh = window.missing(5, 11, 5)
    assert fresh is not None and fresh.version != stale.version


def test_a_page_with_another_total_starts_the_window_over() -> None:
    window = loaded(newest_first(range(10)), limit=5)
    moved = newest_first(range(12))  # two tasks came while no event said so
    request = window.missing(5, 10, 5)
    assert request is not None
    assert window.fill(request, page(moved, 5, 5))
    assert len(window) == 12 and window.get(0) is None and window.get(5) == moved[5]


def test_progress_replaces_the_status_word_with_a_bar() -> None:
    window = loaded([task(1, status="generating")])
    window.statuses = None
    progress = {"step": 4, "steps": 8, "images_done": 1, "images_total": 2}
    assert window.update_progress("t001", progress) == 0  # type: ignore[arg-type]
    row = window.get(0)
    assert row is not None
    assert status_cell(row)[0] == progress_bar(row["progress"]).ljust(12)  # type: ignore[arg-type]
    assert progress_bar(row["progress"]).startswith("━━━━───")  # type: ignore[arg-type]
    assert status_cell(row, 4)[0] == "50% "


def test_a_row_is_exactly_as_wide_as_the_list() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    for width in (30, 47, 48, 80):
        wide = task(1, title="日本語のタイトル and a very long English title " * 2)
        cells = sum(segment.cell_length for segment in row_segments(wide, width, now))
        assert cells == width
    text = "".join(s.text for s in row_segments(task(1, title="Muffins"), 60, now))
    assert "● review" in text and "Muffins" in text and " 59m" in text


def test_requests_carry_the_version_they_were_asked_at() -> None:
    window = TaskWindow(["review"])
    first = window.missing(0, 5, 10)
    assert first == PageRequest(0, 10, window.version)
