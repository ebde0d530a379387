"""A deletion is recorded before it happens, and finished by whoever finds it unfinished.

Real DuckDB, real files. The states a kill can leave are made directly (the
decision committed, a file deleted or not, its row marked or not); then the
daemon's own recovery runs, in a real daemon's start: before its API first
answers, every recorded deletion is done and recorded done, in either state.
tests/daemon/review/test_reject_crash.py reaches the same states by killing a daemon.
"""

from __future__ import annotations

from pathlib import Path

from daemon.publishing.cleanup import finish_interrupted, request_removal
from daemon.store import NewTask, NewVariation, Store, VariationRecord
from gladtui.shapes import EventKind, TaskStatus
from tests.apidaemon import ApiDaemon


def rejected_task(store: Store, folder: Path, task_id: str, count: int) -> list[VariationRecord]:
    """A rejected task whose `count` variations each have a PNG and a thumbnail on disk."""
    store.tasks.create(
        NewTask(id=task_id, title=task_id, prompt="p", variations=count, steps=1,
                guidance_scale=1.0, width=64, height=64),
        status=TaskStatus.REJECTED,
    )  # fmt: skip
    for idx in range(1, count + 1):
        image, thumbnail = folder / f"{task_id}-{idx}.png", folder / f"{task_id}-{idx}.thumb.png"
        image.write_bytes(b"png")
        thumbnail.write_bytes(b"thumb")
        store.variations.add(
            NewVariation(task_id=task_id, idx=idx, path=str(image), thumbnail=str(thumbnail),
                         seed=idx, prompt="p", negative_prompt="", width=64, height=64, steps=1,
                         guidance_scale=1.0, model="m")
        )  # fmt: skip
    return store.variations.list(task_id)


def on_disk(variations: list[VariationRecord]) -> list[str]:
    paths = [Path(v.path) for v in variations] + [Path(v.thumbnail or "") for v in variations]
    return sorted(p.name for p in paths if p.is_file())


def test_a_deletion_stopped_half_way_is_finished_in_either_state(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.duckdb")
    try:
        variations = rejected_task(store, tmp_path, "gone", 3)
        with store.transaction():  # the decision's commit
            marked = request_removal(store, variations)
        assert [v.idx for v in marked] == [1, 2, 3]
        # Killed: before 1 was touched; between 2's image and its thumbnail; after 3's
        # files went and before its row was marked.
        Path(variations[1].path).unlink()
        Path(variations[2].path).unlink()
        Path(variations[2].thumbnail or "").unlink()
        assert [v.idx for v in store.variations.awaiting_removal()] == [1, 2, 3]

        finished = finish_interrupted(store)

        assert [v.idx for v in finished] == [1, 2, 3]
        assert on_disk(variations) == []
        rows = store.variations.list("gone", include_removed=True)
        assert all(v.removed_at is not None for v in rows)
        assert store.variations.awaiting_removal() == []
        [event] = [e for e in store.events.for_task("gone") if e.kind == EventKind.FILES_REMOVED]
        assert event.detail == {"variations": [1, 2, 3]}  # clients showing it read it again
        assert finish_interrupted(store) == []  # again: nothing left, no error
    finally:
        store.close()


def test_after_publishing_the_image_goes_and_its_thumbnail_stays(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.duckdb")
    try:
        [published] = rejected_task(store, tmp_path, "done", 1)
        with store.transaction():
            request_removal(store, [published], thumbnails=False)
        assert [v.idx for v in finish_interrupted(store)] == [1]
        assert on_disk([published]) == ["done-1.thumb.png"]
    finally:
        store.close()


def test_a_marked_variation_is_not_marked_twice(tmp_path: Path) -> None:
    """Two deciders (a rejection and the retention sweep): one marks, one finds it marked."""
    store = Store.open(tmp_path / "s.duckdb")
    try:
        variations = rejected_task(store, tmp_path, "twice", 2)
        assert len(request_removal(store, variations)) == 2
        assert request_removal(store, variations, thumbnails=False) == []
        assert all(v.removes_thumbnail for v in store.variations.awaiting_removal("twice"))
    finally:
        store.close()


def test_the_daemon_finishes_recorded_deletions_before_it_answers() -> None:
    """A store left by a kill: the decision committed, no file deleted yet."""
    daemon = ApiDaemon(None)
    try:
        daemon.config.preview_dir.mkdir(parents=True)
        store = Store.open(daemon.config.database_path)
        variations = rejected_task(store, daemon.config.preview_dir, "left", 2)
        kept = rejected_task(store, daemon.config.preview_dir, "kept", 1)  # --keep-files
        with store.transaction():
            request_removal(store, variations)
        store.close()

        daemon.start()
        task = daemon.client.task("left")  # the first answer: nothing left to wait for

        assert on_disk(variations) == []
        assert all(v["removed_at"] and not v["missing"] for v in task["variations"])
        assert on_disk(kept) == ["kept-1.png", "kept-1.thumb.png"]
        assert daemon.client.task("kept")["variations"][0]["removed_at"] is None
    finally:
        daemon.cleanup()
