"""Post slugs: from titles through python-slugify, and what happens when one is taken.

`base_slug` is the slug a title asks for. When the destination already has a
post with it (the blog's own posts, gladtui's or not), `publishing.on_duplicate_slug`
decides (`choose`): `suffix` takes the first free `-2`, `-3`, …; `update`
takes over that post; `skip` links it as this task's result. `preview` tells,
before approval, which slug a task would get, asking the destination once for
a whole page of tasks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache

from slugify import slugify

from daemon.publishing.destinations.base import Destination, DestinationError
from daemon.store import Store, TaskSummaryRecord
from gladtui.shapes import SlugOutcome

log = logging.getLogger(__name__)

MAX_SLUG_LENGTH = 80
FALLBACK_SLUG = "post"  # a title of emoji or punctuation alone leaves nothing


@lru_cache(maxsize=65536)  # a list of thousands of tasks asks again and again
def base_slug(title: str) -> str:
    """`Crème Brûlée: 5 Tips!` → `creme-brulee-5-tips`, cut at a word boundary."""
    slug = slugify(title, max_length=MAX_SLUG_LENGTH, word_boundary=True)
    return slug or FALLBACK_SLUG


def next_free(base: str, taken: Collection[str]) -> str:
    """`base` if free, else the first of `base-2`, `base-3`, … that is."""
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


@dataclass(frozen=True, slots=True)
class SlugChoice:
    """What publishing a title does, given the slugs taken."""

    slug: str
    action: str  # create | update | link
    outcome: SlugOutcome  # free | suffixed | takes_over | links


def choose(base: str, taken: Collection[str], policy: str) -> SlugChoice:
    """The duplicate-slug policy, in one place for every destination."""
    if base not in taken:
        return SlugChoice(base, "create", SlugOutcome.FREE)
    if policy == "update":
        return SlugChoice(base, "update", SlugOutcome.TAKES_OVER)
    if policy == "skip":
        return SlugChoice(base, "link", SlugOutcome.LINKS)
    return SlugChoice(next_free(base, taken), "create", SlugOutcome.SUFFIXED)


def slugs_of(base: str, slugs: Iterable[str]) -> set[str]:
    """Those of `slugs` that `next_free(base, …)` can collide with: base and `base-…`."""
    return {slug for slug in slugs if slug == base or slug.startswith(f"{base}-")}


def by_base(bases: Collection[str], slugs: Iterable[str]) -> dict[str, set[str]]:
    """`slugs` that are one of `bases` or `base-N`, grouped by base, in one pass
    (a destination's thousands of slugs against a page of bases)."""
    wanted = set(bases)
    found: dict[str, set[str]] = {}
    for slug in slugs:
        if slug in wanted:
            found.setdefault(slug, set()).add(slug)
        stem, _, number = slug.rpartition("-")
        if number.isdigit() and stem in wanted:
            found.setdefault(stem, set()).add(slug)
    return found


@dataclass(frozen=True, slots=True)
class SlugPreview:
    """The slug a task would get if approved now, and why."""

    slug: str
    outcome: SlugOutcome
    taken_by: str | None  # the task whose post has the base slug, when another's


class SlugPreviewer:
    """`preview` for the API: the destination's slugs with gladtui's own records.

    When the destination cannot be asked (its database is down), the preview
    falls back to gladtui's records and says so in the log, once per outage.
    """

    def __init__(self, store: Store, destination: Destination, policy: str) -> None:
        self.store = store
        self.destination = destination
        self.policy = policy
        self._failing = False
        self._lock = threading.Lock()

    def preview(self, tasks: Iterable[TaskSummaryRecord]) -> dict[str, SlugPreview]:
        """For tasks not yet published: their previews, in one query of gladtui's
        store and one round trip to the destination for the whole page."""
        wanted = {task.id: base_slug(task.title) for task in tasks if task.post_id is None}
        if not wanted:
            return {}
        bases = set(wanted.values())
        holders = self.store.posts.slug_holders(bases, self.destination.kind)
        taken = {base: set(held) for base, held in holders.items()}
        for base, slugs in self._destination_taken(bases).items():
            taken[base] = taken.get(base, set()) | slugs
        found = {}
        for task_id, base in wanted.items():
            owner = holders.get(base, {}).get(base)  # the task whose post has the base itself
            if owner == task_id:
                found[task_id] = SlugPreview(base, SlugOutcome.FREE, None)
                continue
            choice = choose(base, slugs_of(base, taken.get(base, ())), self.policy)
            free = choice.outcome is SlugOutcome.FREE
            found[task_id] = SlugPreview(choice.slug, choice.outcome, None if free else owner)
        return found

    def _destination_taken(self, bases: Collection[str]) -> dict[str, set[str]]:
        try:
            taken = self.destination.taken(bases)
        except DestinationError as exc:
            with self._lock:
                first, self._failing = not self._failing, True
            if first:
                log.warning(
                    "slug previews use gladtui's own records only: %s cannot be asked: %s",
                    self.destination.kind,
                    exc,
                )
            return {}
        with self._lock:
            recovered, self._failing = self._failing, False
        if recovered:
            log.info("slug previews ask %s again", self.destination.kind)
        return taken
