"""Removing preview files the reviewer no longer needs, never one still awaiting review.

Files go in three cases: a rejection (unless --keep-files), after publishing
when `publishing.delete_local_after_publish` is set, and by retention:
previews older than `cleanup.preview_retention_days` of tasks that are
published or rejected. The variation rows stay (indexes are never reused);
`removed_at` records that the file is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from daemon.store import Store, VariationRecord
from gladtui.shapes import TaskStatus

log = logging.getLogger(__name__)

RETAINED_UNTIL_DECIDED = (TaskStatus.PUBLISHED, TaskStatus.REJECTED)


def remove_files(
    store: Store, variations: Iterable[VariationRecord], *, thumbnails: bool = True
) -> list[VariationRecord]:
    """Delete the files of `variations` and record it; returns those removed.

    A file that cannot be deleted is logged and stays on record as present.
    """
    gone: list[VariationRecord] = []
    for variation in variations:
        try:
            Path(variation.path).unlink(missing_ok=True)
            if thumbnails and variation.thumbnail:
                Path(variation.thumbnail).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot delete %s: %s", variation.path, exc)
            continue
        gone.append(variation)
    for task_id in {v.task_id for v in gone}:
        store.variations.mark_removed(task_id, [v.idx for v in gone if v.task_id == task_id])
    return gone


def sweep_expired(store: Store, retention_days: int) -> list[VariationRecord]:
    """Remove previews older than `retention_days` of published or rejected tasks (0: never)."""
    if retention_days <= 0:
        return []
    before = store.now() - timedelta(days=retention_days)
    removed = remove_files(store, store.variations.expired(before, RETAINED_UNTIL_DECIDED))
    if removed:
        log.info("retention: removed %d preview(s) over %d days old", len(removed), retention_days)
    return removed
