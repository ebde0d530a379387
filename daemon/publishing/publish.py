"""A `publish` job: an approved task becomes a post with a CDN image, exactly once.

The outbox pattern. Approval (daemon/review/decisions.py) commits the choice and a
`publish` job together. The decision worker (daemon/review/decisionworker.py)
claims the job once its grace has passed and runs it here: this uploads the selected
image under a deterministic asset id, places the post at its destination
(`publishing.posts.to`, see daemon/publishing/placing.py), then in ONE transaction
records the post in gladtui's table, marks the task `published` with its
URL, records the event and completes the job. A crash between the upload and
that commit leaves the job to be run again: the same asset id is asked for,
the CDN already has it (same bytes), the destination's post is found again
by the intent recorded before it was written, and the record is made then.
A task that already has a post is never given a second one: re-running its
job just marks it published.

Slugs never collide: a title whose slug the destination already holds follows
`publishing.on_duplicate_slug` (see daemon/publishing/slugs.py). gladtui's posts table
keeps a UNIQUE slug per destination as the last defence; should it fire, the
post is placed again with a fresh look at the taken slugs instead of
surfacing an error.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from daemon.publishing.cleanup import (
    finish_removals,
    request_removal,
)
from daemon.publishing.destinations.base import Destination, DestinationError
from daemon.publishing.destinations.local import LocalDestination
from daemon.publishing.missingfiles import cannot_read
from daemon.publishing.placing import Card, Placement, Placer
from daemon.publishing.publishers import (
    Asset,
    Publisher,
    PublishError,
    asset_id_for,
    card_asset_id_for,
)
from daemon.publishing.socialcard import render_card
from daemon.store import JobRecord, JobStatus, PostRecord, SlugTakenError, Store, TaskRecord
from daemon.store.jobkinds import published_variation
from daemon.store.jobworker import next_attempt_at
from gladtui.config import Config
from gladtui.filemodes import make_folders
from gladtui.shapes import EventKind, SlugOutcome, TaskStatus

log = logging.getLogger(__name__)

SLUG_RACE_RETRIES = 5


def card_workshop(config: Config) -> Path:
    """Where social cards are made: in the daemon's own cache, not the shared /tmp, so a
    card that a kill -9 left behind is the daemon's to clear (`clear_card_workshop`)."""
    return config.cache_dir / "cards"


def clear_card_workshop(config: Config) -> int:
    """At start, before any publish: remove the cards the last stop left; how many."""
    workshop = card_workshop(config)
    left = sorted(workshop.iterdir()) if workshop.is_dir() else []
    for folder in left:
        shutil.rmtree(folder, ignore_errors=True)
    return len(left)


class PublishStep:
    """Runs one `publish` job: upload, place, then record and mark published at once."""

    def __init__(
        self,
        store: Store,
        config: Config,
        publisher: Publisher,
        destination: Destination | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.publisher = publisher
        self.destination = destination or LocalDestination()
        self.placer = Placer(store, self.destination, config.publishing.on_duplicate_slug)

    def run(self, job: JobRecord) -> None:
        task = self.store.tasks.get(job.task_id or "")
        if task is None or task.status not in (TaskStatus.APPROVED, TaskStatus.PUBLISHING):
            log.info("publish job %d skipped: task %s is not approved", job.id, job.task_id)
            self.store.jobs.complete(job.id)
            return
        if task.post_id is not None:  # published before a crash ate the status change
            self._mark_published(job, task, self.store.posts.get(task.post_id), None)
            self._after_publish(task)
            return
        # The social card's file lives as long as this step: the publisher copies it, and
        # a page bundle copies it beside its post.
        workshop = card_workshop(self.config)
        make_folders(workshop)
        with tempfile.TemporaryDirectory(prefix="card-", dir=workshop) as scratch:
            self._publish(job, task, Path(scratch))

    def _publish(self, job: JobRecord, task: TaskRecord, scratch: Path) -> None:
        try:
            index = published_variation(job.payload)
            path = self._selected_image(task, index)
            image = self._read(task, index, path)
            self.store.tasks.set_status(
                task.id,
                TaskStatus.PUBLISHING,
                error=task.error if task.status is TaskStatus.PUBLISHING else None,
                expected=[TaskStatus.APPROVED, TaskStatus.PUBLISHING],
            )
            asset = self.publisher.upload(path, asset_id_for(task.id, image))
            card = self._card(task, path, image, scratch)
        except PublishError as exc:
            self._after_failure(job, task, str(exc), exc.retryable)
            return
        try:
            self._commit(job, task, asset, path, card)
        except DestinationError as exc:
            self._after_failure(job, task, str(exc), exc.retryable, step="post")
            return
        self._after_publish(task)

    def _card(self, task: TaskRecord, path: Path, image: bytes, scratch: Path) -> Card | None:
        """The social card (publishing.social_card), rendered and uploaded; None when off."""
        size = self.config.publishing.social_card_size()
        if size is None:
            return None
        asset_id = card_asset_id_for(task.id, image, size, task.focus)
        card_path = scratch / f"{asset_id}.png"
        try:
            card_path.write_bytes(render_card(path, size, task.focus))
        except OSError as exc:  # Pillow cannot read it (UnidentifiedImageError is one)
            raise PublishError(
                f"cannot make the social card of {path}: {exc}", retryable=False
            ) from None
        return Card(self.publisher.upload(card_path, asset_id), card_path)

    def _selected_image(self, task: TaskRecord, index: int) -> Path:
        variation = self.store.variations.get(task.id, index)
        if variation is None or variation.removed_at is not None:
            raise PublishError(
                f"variation {index} of {task.id} is gone; approve another one", retryable=False
            )
        return Path(variation.path)

    @staticmethod
    def _read(task: TaskRecord, index: int, path: Path) -> bytes:
        """The approved image's bytes. One that cannot be read fails the publish at once:
        retrying does not bring a file back (daemon/publishing/missingfiles.py)."""
        try:
            return path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise PublishError(
                cannot_read(task.id, index, str(path), reason), retryable=False
            ) from None

    def _commit(
        self, job: JobRecord, task: TaskRecord, asset: Asset, path: Path, card: Card | None
    ) -> PostRecord:
        """Place the post, then record it with the task's new status, the event and
        the job, together."""
        for attempt in range(1, SLUG_RACE_RETRIES + 1):
            placement = self.placer.place(task, asset, job.created_at, image_path=path, card=card)
            try:
                with self.store.transaction():
                    post = self._record(task, asset, placement)
                    self.store.post_intents.clear(task.id)
                    self._mark_published(job, task, post, asset, placement.outcome, card)
                return post
            except SlugTakenError:  # the UNIQUE constraint caught a race: look again
                log.warning("task %s: slug taken meanwhile (try %d); retrying", task.id, attempt)
        raise RuntimeError(f"task {task.id}: no free slug after {SLUG_RACE_RETRIES} tries")

    def _record(self, task: TaskRecord, asset: Asset, placed: Placement) -> PostRecord:
        """gladtui's record of the placed post: a new one, or the post taken over or linked."""
        posts, kind = self.store.posts, self.destination.kind
        if placed.outcome in (SlugOutcome.TAKES_OVER, SlugOutcome.LINKS):
            owner = posts.by_slug(placed.slug, kind)
            if owner is not None and owner.task_id != task.id:
                if placed.outcome is SlugOutcome.LINKS:
                    return owner
                return posts.update_content(
                    owner.id, task.title, task.content, asset.url, asset.asset_id, placed.location
                )
        if placed.outcome is SlugOutcome.LINKS:  # a post gladtui never made: recorded as is
            return posts.create(
                task.id,
                placed.slug,
                placed.title or task.title,
                "",
                placed.image_url or "",
                None,
                destination=kind,
                location=placed.location,
            )
        return posts.create(
            task.id,
            placed.slug,
            task.title,
            task.content,
            asset.url,
            asset.asset_id,
            destination=kind,
            location=placed.location,
        )

    def _mark_published(
        self,
        job: JobRecord,
        task: TaskRecord,
        post: PostRecord | None,
        asset: Asset | None,
        outcome: SlugOutcome = SlugOutcome.PUBLISHED,
        card: Card | None = None,
    ) -> None:
        with self.store.transaction():
            if post is not None:
                self.store.tasks.set_post(task.id, post.id)
            detail = {"outcome": outcome.recorded}  # new, suffixed, took_over, linked, existing
            self.store.tasks.set_status(task.id, TaskStatus.PUBLISHED, detail=detail)
            self.store.events.add(
                EventKind.PUBLISHED,
                task.id,
                detail={
                    "post_id": None if post is None else post.id,
                    "destination": None if post is None else post.destination,
                    "location": None if post is None else post.location,
                    "slug": None if post is None else post.slug,
                    "url": None if post is None else post.featured_image_url,
                    "asset_id": None if asset is None else asset.asset_id,
                    "asset_existed": None if asset is None else asset.existed,
                    "social_image_url": None if card is None else card.asset.url,
                    "outcome": outcome,
                },
            )
            if self.config.publishing.delete_local_after_publish:
                published = self.store.variations.get(task.id, published_variation(job.payload))
                # recorded with the post: a stop before the file is gone finishes it at start
                request_removal(self.store, [published] if published else [], thumbnails=False)
            self.store.jobs.complete(job.id)
        if post is not None:
            log.info(
                "task %s published as %s (%s): %s",
                task.id,
                post.slug,
                outcome,
                post.featured_image_url,
            )

    def _after_publish(self, task: TaskRecord) -> None:
        """Once the post is committed: the local file goes, if the config says so (the
        thumbnail stays: the TUI still shows it)."""
        finish_removals(self.store, self.store.variations.awaiting_removal(task.id))

    def _after_failure(
        self,
        job: JobRecord,
        task: TaskRecord,
        message: str,
        retryable: bool,
        *,
        step: str = "upload",
    ) -> None:
        base = self.config.publishing.retry_base_seconds
        retry_at = next_attempt_at(self.store, job, base) if retryable else None
        failed = self.store.jobs.fail(job.id, message, retry_at=retry_at)
        if failed.status is JobStatus.PENDING:
            note = (
                f"{step} attempt {job.attempts} of {job.max_attempts} failed, retrying: {message}"
            )
            self.store.tasks.set_status(task.id, TaskStatus.PUBLISHING, error=note)
            self.store.events.add(
                EventKind.PUBLISH_FAILED, task.id, detail={"error": message, "retrying": True}
            )
            log.warning("task %s: %s", task.id, note)
            return
        with self.store.transaction():
            self.store.tasks.set_status(task.id, TaskStatus.FAILED, error=message)
            self.store.events.add(
                EventKind.PUBLISH_FAILED, task.id, detail={"error": message, "retrying": False}
            )
        log.error(
            "task %s: publishing failed after %d attempt(s): %s", task.id, job.attempts, message
        )
