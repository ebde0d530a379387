"""The DuckDB store of the daemon: schema, migrations, and every SQL statement of gladtui.

Usage::

    with Store.open(state_dir / "gladtui.duckdb") as store:
        task = store.tasks.create(NewTask(id=..., title=..., ...))
        store.jobs.enqueue("generate", task.id, {"count": 3})

Modules: `db` (connection, per-thread cursors, transactions), `migrations`
(the schema, versioned), `records` (the frozen dataclasses returned), `errors`,
and one repository module per table.
"""

from __future__ import annotations

from daemon.store.db import Clock, naive_utc, utc_now
from daemon.store.errors import (
    DuplicatePostError,
    DuplicateTaskError,
    DuplicateVariationError,
    NotFoundError,
    SlugTakenError,
    StatusConflictError,
    StoreError,
)
from daemon.store.jobs import INTERRUPTED
from daemon.store.migrations import MIGRATIONS, Migration, latest_version
from daemon.store.records import (
    AppliedMigration,
    EventRecord,
    JobRecord,
    JobStatus,
    NewTask,
    NewVariation,
    PostRecord,
    TaskRecord,
    TaskSummaryRecord,
    VariationRecord,
)
from daemon.store.store import Store

__all__ = [
    "INTERRUPTED",
    "MIGRATIONS",
    "AppliedMigration",
    "Clock",
    "DuplicatePostError",
    "DuplicateTaskError",
    "DuplicateVariationError",
    "EventRecord",
    "JobRecord",
    "JobStatus",
    "Migration",
    "NewTask",
    "NewVariation",
    "NotFoundError",
    "PostRecord",
    "SlugTakenError",
    "StatusConflictError",
    "Store",
    "StoreError",
    "TaskRecord",
    "TaskSummaryRecord",
    "VariationRecord",
    "latest_version",
    "naive_utc",
    "utc_now",
]
