"""The review desk's figures (issue 33) on a store filled with a known history.

Every figure below is worked out by hand from the history in `desk`, so a query that
counts the wrong rows, joins the wrong variation or bounds `since` wrongly fails here.
The history is written through the store's own writes (status changes, variation
events, generate jobs), as the daemon writes it, on a clock the test moves.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from daemon.api.stats import since_time, stats_json
from daemon.review.outcomes import InvalidRequest
from daemon.store import Store
from tests.daemon.store.helpers import T0, FakeClock
from tests.deskhistory import fill_desk


@pytest.fixture
def desk(store: Store, clock: FakeClock) -> Store:
    """The history of tests/deskhistory.py (its docstring says it, second by second)."""
    fill_desk(store, clock)
    return store


def test_all_the_history(desk: Store) -> None:
    figures = stats_json(desk, None)
    assert figures["since"] is None
    assert figures["until"] == "2025-01-02T04:27:25.678Z"  # T0 + 5000 s
    assert figures["decisions"] == 4
    assert figures["approval_rate"] == 0.5
    assert figures["reviewers"] == [
        # ann's two decisions fall in one clock hour (03:); bob's in two (03: and 04:)
        {"reviewer": "ann", "decisions": 2, "approved": 2, "rejected": 0,
         "active_hours": 1, "per_hour": 2.0},
        {"reviewer": "bob", "decisions": 2, "approved": 0, "rejected": 2,
         "active_hours": 2, "per_hour": 1.0},
    ]  # fmt: skip
    # waits 100, 300, 600, 100: p50 = (100 + 300) / 2; p90 = 300 + 0.7 * (600 - 300)
    assert figures["wait"] == {"decisions": 4, "p50_seconds": 200.0, "p90_seconds": 510.0}
    assert figures["rounds"] == {"posts": 2, "mean": 1.5, "by_rounds": {"1": 1, "2": 1}}
    # chosen: place 2 of a round of 3 (A), place 1 of a round of 2 (B); by chance each
    # round gives each of its places 1/size: 1/3 + 1/2 to places 1 and 2, 1/3 to place 3
    assert figures["winners"] == [
        {"place": 1, "chosen": 1, "by_chance": 0.833},
        {"place": 2, "chosen": 1, "by_chance": 0.833},
        {"place": 3, "chosen": 0, "by_chance": 0.333},
    ]
    assert figures["reasons"] == [
        {"reason": "hands", "count": 2},
        {"reason": "text", "count": 1},
    ]
    # A: 0-30 and 140-170; B: 600-660 (C is not published)
    assert figures["generation"] == {"posts": 2, "seconds": 120.0, "seconds_per_post": 60.0}


def test_since_bounds_the_decisions_and_the_posts(desk: Store) -> None:
    figures = stats_json(desk, T0 + timedelta(seconds=1000))
    assert figures["since"] == "2025-01-02T03:20:45.678Z"
    assert figures["decisions"] == 2 and figures["approval_rate"] == 0.5
    assert [(r["reviewer"], r["decisions"], r["per_hour"]) for r in figures["reviewers"]] == [
        ("ann", 1, 1.0),
        ("bob", 1, 1.0),
    ]
    # waits 600 and 100: p50 = 350; p90 = 100 + 0.9 * 500
    assert figures["wait"] == {"decisions": 2, "p50_seconds": 350.0, "p90_seconds": 550.0}
    assert figures["rounds"] == {"posts": 1, "mean": 1.0, "by_rounds": {"1": 1}}  # B only
    assert figures["winners"] == [
        {"place": 1, "chosen": 1, "by_chance": 0.5},
        {"place": 2, "chosen": 0, "by_chance": 0.5},
    ]
    assert figures["reasons"] == [{"reason": "hands", "count": 1}]
    assert figures["generation"] == {"posts": 1, "seconds": 60.0, "seconds_per_post": 60.0}


def test_an_empty_desk_says_none_rather_than_zero(store: Store) -> None:
    figures = stats_json(store, None)
    assert figures["decisions"] == 0 and figures["approval_rate"] is None
    assert figures["wait"] == {"decisions": 0, "p50_seconds": None, "p90_seconds": None}
    assert figures["rounds"] == {"posts": 0, "mean": None, "by_rounds": {}}
    assert figures["winners"] == [] and figures["reasons"] == []
    assert figures["generation"]["seconds_per_post"] is None


def test_since_reads_spans_and_times_and_refuses_the_rest() -> None:
    now = T0
    assert since_time("7d", now) == now - timedelta(days=7)
    assert since_time("12h", now) == now - timedelta(hours=12)
    assert since_time("30m", now) == now - timedelta(minutes=30)
    assert since_time("2w", now) == now - timedelta(weeks=2)
    assert since_time("2025-01-01T00:00:00Z", now) == T0.replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    assert since_time("2025-01-01T02:00:00+02:00", now) == T0.replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    assert since_time(None, now) is None
    for bad in ["7 days", "-7d", "yesterday", "7y", "999999w", "0001-01-01T00:00:00+01:00"]:
        with pytest.raises(InvalidRequest, match="since: expected a span back from now"):
            since_time(bad, now)
