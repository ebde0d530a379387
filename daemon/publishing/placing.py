"""Where a post goes: the slug chosen against the destination, the write done exactly once.

The publish step (daemon/publishing/publish.py) calls `Placer.place` after the image is
on the CDN and before it records the post in gladtui's own table. Placing:

1. After a restart, an intent left by the last run (daemon/store/intents.py)
   is looked for at the destination first (by slug and image URL): found,
   the post was made and is not made again.
2. The slugs taken are the destination's (posts gladtui never made
   included) with gladtui's own records of that destination, and
   `on_duplicate_slug` chooses (daemon/publishing/slugs.py).
3. The intent is committed, then the post is written. A slug someone else
   took between the look and the write (the CMS writes too) comes back as
   "taken" (Postgres `ON CONFLICT DO NOTHING`, an existing file, a webhook's
   409): the next free one is tried, never an error.

For `local` there is nothing to write: the record is the post, so no intent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from daemon.publishing.destinations.base import Destination, DestinationError, Placed, PostDraft
from daemon.publishing.publishers import Asset
from daemon.publishing.slugs import SlugChoice, base_slug, choose, slugs_of
from daemon.store import Store, TaskRecord
from gladtui.alttext import image_alt
from gladtui.shapes import SlugOutcome

MAX_TRIES = 20  # slugs taken meanwhile, one after another, before giving up for now


@dataclass(frozen=True, slots=True)
class Placement:
    """A post at its destination, ready to be recorded in gladtui's table."""

    slug: str
    outcome: SlugOutcome
    location: str | None
    title: str | None = None  # a linked post's own title and image, when known
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class Card:
    """The social card (publishing.social_card): on the CDN, and its local file."""

    asset: Asset
    path: Path


class Placer:
    def __init__(self, store: Store, destination: Destination, policy: str) -> None:
        self.store = store
        self.destination = destination
        self.policy = policy
        self._remote = destination.kind != "local"

    def place(
        self,
        task: TaskRecord,
        asset: Asset,
        approved_at: datetime,
        *,
        image_path: Path | None = None,
        card: Card | None = None,
    ) -> Placement:
        """The task's post at the destination; DestinationError if it cannot be now.

        `approved_at` (naive UTC) dates the post: the same on every retry, so a
        retried request is the same request. `image_path`, `card`: the approved
        image's file and the social card, for destinations that copy them.
        """
        draft = self._draft(task, asset, approved_at, image_path, card)
        found = self._found_again(task)
        if found is not None:
            return found
        base = base_slug(task.title)
        refused: set[str] = set()  # answered "taken" although the look said free
        for _ in range(MAX_TRIES):
            choice = choose(base, self._taken(base) | refused, self.policy)
            if choice.action == "link":
                held = self.destination.existing(choice.slug)
                return Placement(
                    held.slug, choice.outcome, held.location, held.title, held.image_url
                )
            placed = self._write(task, replace(draft, slug=choice.slug), choice)
            if placed is not None:
                return Placement(placed.slug, choice.outcome, placed.location)
            refused.add(choice.slug)
        raise DestinationError(
            f"{self.destination.kind}: every slug tried for {base!r} was taken meanwhile "
            f"({MAX_TRIES} tries); trying again later",
            retryable=True,
        )

    def _found_again(self, task: TaskRecord) -> Placement | None:
        if not self._remote:
            return None
        intent = self.store.post_intents.get(task.id)
        if intent is None or intent.destination != self.destination.kind:
            return None
        placed = self.destination.find(intent.slug, intent.image_url)
        if placed is None:  # the write never committed: place afresh
            return None
        return Placement(placed.slug, SlugOutcome.from_recorded(intent.outcome), placed.location)

    def _taken(self, base: str) -> set[str]:
        own = self.store.posts.slugs_with_prefix(base, self.destination.kind)
        there = self.destination.taken([base]).get(base, set())
        return slugs_of(base, own | there)

    @staticmethod
    def _draft(
        task: TaskRecord,
        asset: Asset,
        approved_at: datetime,
        image_path: Path | None,
        card: Card | None,
    ) -> PostDraft:
        """The post to write, its slug still to be chosen."""
        return PostDraft(
            task_id=task.id,
            title=task.title,
            slug="",
            content=task.content,
            image_url=asset.url,
            created_at=approved_at.replace(tzinfo=UTC),
            alt=image_alt(task.alt, task.title, task.prompt),
            caption=task.caption,
            social_image_url="" if card is None else card.asset.url,
            image_path=image_path,
            social_image_path=None if card is None else card.path,
        )

    def _write(self, task: TaskRecord, draft: PostDraft, choice: SlugChoice) -> Placed | None:
        """Create or update under `choice.slug`; None if the slug was taken meanwhile."""
        if self._remote:
            self.store.post_intents.record(
                task.id,
                self.destination.kind,
                choice.slug,
                action=choice.action,
                outcome=choice.outcome.recorded,
                image_url=draft.image_url,
            )
        if choice.action == "update":
            # The post to take over may have gone meanwhile (deleted in the CMS):
            # then it is made again under its slug.
            return self.destination.update(draft) or self.destination.create(draft)
        return self.destination.create(draft)
