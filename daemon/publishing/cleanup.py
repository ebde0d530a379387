"""Removing preview files the reviewer no longer needs, never one still awaiting review.

Files go in three cases: a rejection (unless --keep-files), after publishing
when `publishing.delete_local_after_publish` is set, and by retention:
previews older than `cleanup.preview_retention_days` of tasks that are
published or rejected. The variation rows stay (indexes are never reused);
`removed_at` records that the file is gone.

A deletion is a recorded step, so a daemon killed half-way finishes it at
its next start: the decision marks the rows first (`request_removal`, in the
transaction that decides it), then each file is deleted and its row marked
removed at once (`finish_removals`). A stop between the two leaves a marked
row whose file may already be gone; deleting a file that is not there is no
error, so finishing it again is harmless in either case.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from daemon.store import Store, VariationRecord
from gladtui.shapes import EventKind, TaskStatus

log = logging.getLogger(__name__)

RETAINED_UNTIL_DECIDED = (TaskStatus.PUBLISHED, TaskStatus.REJECTED)


def request_removal(
    store: Store, variations: Iterable[VariationRecord], *, thumbnails: bool = True
) -> list[VariationRecord]:
    """Record that the files of `variations` are to go; returns the rows now marked.

    Call it inside the transaction that decides the deletion. `thumbnails`:
    the thumbnails go too (not after publishing: the TUI still shows it).
    """
    by_task: dict[str, list[int]] = {}
    for variation in variations:
        by_task.setdefault(variation.task_id, []).append(variation.idx)
    with store.transaction():
        return [
            marked
            for task_id, idxs in by_task.items()
            for marked in store.variations.request_removal(task_id, idxs, thumbnails=thumbnails)
        ]


def finish_removals(store: Store, variations: Iterable[VariationRecord]) -> list[VariationRecord]:
    """Delete each marked variation's files, then record it removed; returns those removed.

    One variation at a time, so a stop loses at most the record of the one in
    hand, which the next start completes. A file that cannot be deleted is
    logged and stays marked: the next start, or the hourly sweep, tries again.
    """
    gone: list[VariationRecord] = []
    for variation in variations:
        try:
            Path(variation.path).unlink(missing_ok=True)
            if variation.removes_thumbnail and variation.thumbnail:
                Path(variation.thumbnail).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot delete %s: %s", variation.path, exc)
            continue
        store.variations.mark_removed(variation.task_id, [variation.idx])
        gone.append(variation)
    for task_id in dict.fromkeys(v.task_id for v in gone):
        # Clients shown the task read it again: its variations are gone now.
        indexes = [v.idx for v in gone if v.task_id == task_id]
        store.events.add(EventKind.FILES_REMOVED, task_id, detail={"variations": indexes})
    return gone


def remove_files(
    store: Store, variations: Iterable[VariationRecord], *, thumbnails: bool = True
) -> list[VariationRecord]:
    """Record, then delete, the files of `variations`; returns those removed."""
    return finish_removals(store, request_removal(store, variations, thumbnails=thumbnails))


def finish_interrupted(store: Store) -> list[VariationRecord]:
    """The deletions decided and not finished (a stop came in between): finish them now."""
    done = finish_removals(store, store.variations.awaiting_removal())
    if done:
        log.info("finished deleting %d preview file(s) whose removal a stop interrupted", len(done))
    return done


def sweep_expired(store: Store, retention_days: int) -> list[VariationRecord]:
    """Remove previews older than `retention_days` of published or rejected tasks (0: never)."""
    if retention_days <= 0:
        return []
    before = store.now() - timedelta(days=retention_days)
    removed = remove_files(store, store.variations.expired(before, RETAINED_UNTIL_DECIDED))
    if removed:
        log.info("retention: removed %d preview(s) over %d days old", len(removed), retention_days)
    return removed
