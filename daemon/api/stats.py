"""What `GET /api/stats` answers: the review desk's figures since a time (or a span ago).

The figures are the store's (daemon/store/stats.py), one query each; this module reads
`since`, and turns the rows into the JSON shape (gladtui/shapes.py StatsJSON).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from daemon.api.taskjson import iso
from daemon.review.outcomes import InvalidRequest
from daemon.store import Store
from daemon.store.stats import places
from gladtui.shapes import StatsJSON
from gladtui.taskcheck import one_line

_SPAN = re.compile(r"([0-9]{1,6})([mhdw])")
_UNIT = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SINCE_HELP = "a span back from now (`30m`, `12h`, `7d`, `2w`) or an ISO 8601 UTC time"
_BEGINNING = datetime(1970, 1, 1)


def since_time(raw: str | None, now: datetime) -> datetime | None:
    """`since` as a naive UTC time (None: all the history), or InvalidRequest saying why."""
    if raw is None or raw == "":
        return None
    try:
        span = _SPAN.fullmatch(raw)
        if span is not None:
            return now - timedelta(**{_UNIT[span.group(2)]: int(span.group(1))})
        when = datetime.fromisoformat(raw.removesuffix("Z"))
        return when if when.tzinfo is None else when.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # not a time, or one before year 1 (999999w)
        shown = one_line(repr(raw), 40)
        raise InvalidRequest(f"since: expected {SINCE_HELP}, got {shown}") from None


def stats_json(store: Store, since: datetime | None) -> StatsJSON:
    """The figures of the decisions (and posts) since `since`."""
    now, start = store.now(), since or _BEGINNING
    stats = store.stats
    reviewers = stats.reviewers(start)
    decisions = sum(r.decisions for r in reviewers)
    approved = sum(r.approved for r in reviewers)
    waited, p50, p90 = stats.wait(start)
    rounds = stats.rounds_per_post(start)
    posts = sum(rounds.values())
    generated_posts, seconds = stats.generation(start)
    return {
        "since": None if since is None else iso(since),
        "until": iso(now),
        "decisions": decisions,
        "approval_rate": _ratio(approved, decisions),
        "reviewers": [
            {
                "reviewer": r.reviewer,
                "decisions": r.decisions,
                "approved": r.approved,
                "rejected": r.rejected,
                "active_hours": r.active_hours,
                "per_hour": round(r.decisions / r.active_hours, 3),
            }
            for r in reviewers
        ],
        "wait": {"decisions": waited, "p50_seconds": _rounded(p50), "p90_seconds": _rounded(p90)},
        "rounds": {
            "posts": posts,
            "mean": _ratio(sum(n * count for n, count in rounds.items()), posts),
            "by_rounds": {str(n): count for n, count in rounds.items()},
        },
        "winners": [
            {"place": place, "chosen": chosen, "by_chance": chance}
            for place, chosen, chance in places(stats.winners(start))
        ],
        "reasons": [{"reason": name, "count": count} for name, count in stats.reasons(start)],
        "generation": {
            "posts": generated_posts,
            "seconds": round(seconds, 3),
            "seconds_per_post": _ratio(seconds, generated_posts),
        },
    }


def _ratio(part: float, whole: float) -> float | None:
    return None if not whole else round(part / whole, 3)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
