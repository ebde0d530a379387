"""The review desk's figures, read from the audit trail (events) and the jobs: one query each.

A decision is a status change to `approved` or `rejected` made by a reviewer (the event
has an actor), undone ones included: the work was done. `since` bounds the decisions
(and the posts, by when they were published); generation and rounds are those of the
posts published since then, whenever they were generated. No second store: the
figures are always what the trail says now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daemon.store.db import Database

__all__ = ["ReviewerFigures", "StatsRepository", "WinnerFigures"]

_DECISION = (
    "kind = 'status_changed' AND to_status IN ('approved', 'rejected') AND actor IS NOT NULL"
    ' AND "at" >= ?'
)
_PUBLISHED = (
    "SELECT DISTINCT task_id FROM events"
    " WHERE kind = 'status_changed' AND to_status = 'published' AND \"at\" >= ?"
)
# A round is a generate job's first index (daemon/store/jobkinds.py round_starts): a
# job cancelled before it made anything and the one after it are one round.
_ROUNDS = (
    "SELECT task_id, CAST(json_extract(payload, '$.first_index') AS INTEGER) AS first,"
    " max(CAST(json_extract(payload, '$.count') AS INTEGER)) AS size"
    " FROM jobs WHERE kind = 'generate' GROUP BY ALL"
)

_REVIEWERS = f"""
SELECT actor, count(*),
       count(*) FILTER (WHERE to_status = 'approved'),
       count(*) FILTER (WHERE to_status = 'rejected'),
       count(DISTINCT date_trunc('hour', "at"))
FROM events WHERE {_DECISION}
GROUP BY actor ORDER BY count(*) DESC, actor
"""

# From the last variation made before each decision to the decision.
_WAIT = f"""
WITH d AS (SELECT task_id, "at" FROM events WHERE {_DECISION}),
     v AS (SELECT task_id, "at" FROM events WHERE kind = 'variation_added')
SELECT count(*), quantile_cont(seconds, 0.5), quantile_cont(seconds, 0.9)
FROM (SELECT epoch(d."at" - v."at") AS seconds
      FROM d ASOF JOIN v ON d.task_id = v.task_id AND d."at" >= v."at")
"""

_ROUNDS_PER_POST = f"""
WITH r AS ({_ROUNDS})
SELECT rounds, count(*) FROM (
    SELECT p.task_id, count(r.first) AS rounds
    FROM ({_PUBLISHED}) p LEFT JOIN r ON r.task_id = p.task_id GROUP BY p.task_id
) GROUP BY rounds ORDER BY rounds
"""

# Each approval's place in its round (1: the round's first variation) and the round's size.
_WINNERS = f"""
WITH a AS (SELECT task_id, CAST(json_extract(detail, '$.variation') AS INTEGER) AS idx
           FROM events WHERE {_DECISION} AND to_status = 'approved'),
     r AS ({_ROUNDS})
SELECT a.idx - r.first + 1 AS place, r.size, count(*)
FROM a ASOF JOIN r ON a.task_id = r.task_id AND a.idx >= r.first
GROUP BY ALL ORDER BY ALL
"""

_REASONS = f"""
SELECT reason, count(*) FROM (
    SELECT unnest(json_extract_string(detail, '$.reasons[*]')) AS reason
    FROM events WHERE {_DECISION} AND to_status = 'rejected'
) GROUP BY reason ORDER BY count(*) DESC, reason
"""

# Generation: each status change to `generating` until the task's next status change.
_GENERATION = f"""
WITH p AS ({_PUBLISHED}),
     s AS (SELECT task_id, to_status,
                  epoch(lead("at") OVER (PARTITION BY task_id ORDER BY id) - "at") AS seconds
           FROM events
           WHERE kind = 'status_changed' AND task_id IN (SELECT task_id FROM p))
SELECT (SELECT count(*) FROM p),
       coalesce(sum(seconds) FILTER (WHERE to_status = 'generating'), 0)
FROM s
"""


@dataclass(frozen=True, slots=True)
class ReviewerFigures:
    reviewer: str
    decisions: int
    approved: int
    rejected: int
    active_hours: int  # distinct clock hours (UTC) in which they decided


@dataclass(frozen=True, slots=True)
class WinnerFigures:
    place: int  # the approved variation's place in its round, from 1
    size: int  # how many variations that round asked for
    count: int  # approvals of that place in rounds of that size


class StatsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def _rows(self, sql: str, since: datetime, times: int = 1) -> list[tuple[Any, ...]]:
        return self._db.cursor().execute(sql, [since] * times).fetchall()

    def reviewers(self, since: datetime) -> list[ReviewerFigures]:
        return [ReviewerFigures(str(r[0]), *map(int, r[1:])) for r in self._rows(_REVIEWERS, since)]

    def wait(self, since: datetime) -> tuple[int, float | None, float | None]:
        """(decisions with a variation before them, p50 seconds, p90 seconds)."""
        [(count, p50, p90)] = self._rows(_WAIT, since)
        return int(count), _float(p50), _float(p90)

    def rounds_per_post(self, since: datetime) -> dict[int, int]:
        """Rounds: posts published since `since` that needed that many."""
        return {int(r): int(n) for r, n in self._rows(_ROUNDS_PER_POST, since)}

    def winners(self, since: datetime) -> list[WinnerFigures]:
        return [WinnerFigures(*map(int, row)) for row in self._rows(_WINNERS, since)]

    def reasons(self, since: datetime) -> list[tuple[str, int]]:
        return [(str(reason), int(n)) for reason, n in self._rows(_REASONS, since)]

    def generation(self, since: datetime) -> tuple[int, float]:
        """(posts published since `since`, their generation seconds in all)."""
        [(posts, seconds)] = self._rows(_GENERATION, since)
        return int(posts), float(seconds)


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def places(rows: Sequence[WinnerFigures]) -> list[tuple[int, int, float]]:
    """(place, approvals, approvals expected by chance) for places 1.. the largest round:
    by chance, a round of n variations gives each of its places 1/n of its approval."""
    largest = max((row.size for row in rows), default=0)
    table = []
    for place in range(1, largest + 1):
        chosen = sum(row.count for row in rows if row.place == place)
        chance = sum(row.count / row.size for row in rows if place <= row.size)
        table.append((place, chosen, round(chance, 3)))
    return table
