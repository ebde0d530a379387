"""Post slugs: from titles through python-slugify, and what happens when one is taken.

`base_slug` is the slug a title asks for. When another task's post already
has it, `publishing.on_duplicate_slug` decides: `suffix` takes the first
free `-2`, `-3`, …; `update` takes over that post; `skip` links it as this
task's result. `preview` tells, before approval, which slug a task would get.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache

from slugify import slugify

from daemon.store import Store, TaskSummaryRecord

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
class SlugPreview:
    """The slug a task would get if approved now, and why."""

    slug: str
    outcome: str  # free | suffixed | takes_over | links
    taken_by: str | None  # the task whose post has the base slug, when another has it


def preview(
    store: Store, tasks: Iterable[TaskSummaryRecord], policy: str
) -> dict[str, SlugPreview]:
    """For tasks not yet published: their previews, with one query for the page
    (plus one per taken base slug under `suffix`)."""
    wanted = {task.id: base_slug(task.title) for task in tasks if task.post_id is None}
    owners = store.posts.by_slugs(set(wanted.values()))
    free_after: dict[str, str] = {}
    found = {}
    for task_id, base in wanted.items():
        owner = owners.get(base)
        if owner is None or owner.task_id == task_id:
            found[task_id] = SlugPreview(base, "free", None)
        elif policy == "suffix":
            if base not in free_after:
                free_after[base] = next_free(base, store.posts.slugs_with_prefix(base))
            found[task_id] = SlugPreview(free_after[base], "suffixed", owner.task_id)
        else:
            outcome = "takes_over" if policy == "update" else "links"
            found[task_id] = SlugPreview(base, outcome, owner.task_id)
    return found
