"""What every posts destination shares: the protocol, the draft, the result, the error.

A destination is where a published post goes (`publishing.posts.to`) and the
authority on which slugs are taken there. The publisher (daemon/publishing/placing.py)
asks it which slugs are taken, chooses one under `on_duplicate_slug`, and
asks it to create or update that post; gladtui records the result in its own
posts table afterwards. Each method does one round trip at most, so the
choice of slug stays in one place (daemon/publishing/slugs.py) for every destination.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PostDraft:
    """A post to write: the approved task's title and content, its slug and image."""

    task_id: str
    title: str
    slug: str
    content: str
    image_url: str
    created_at: datetime  # aware UTC
    alt: str = ""  # the image's alt text, for destinations that have a place for it
    caption: str = ""  # the image's caption; empty: none
    social_image_url: str = ""  # the social card's URL (publishing.social_card); empty: none
    # The local files behind those URLs, for destinations that copy the image (a page
    # bundle); None where the publish step has none to give.
    image_path: Path | None = None
    social_image_path: Path | None = None


@dataclass(frozen=True, slots=True)
class Placed:
    """A post as the destination holds it.

    `slug`: the slug it has there (a webhook receiver may answer with the slug
    of the post an earlier attempt made). `title` and `image_url`: what it
    shows, when known (for a post linked rather than written).
    """

    slug: str
    location: str | None  # in words: "posts id 42", a file's path; None for local
    title: str | None = None
    image_url: str | None = None


class DestinationError(Exception):
    """The destination cannot take the post now (`retryable`) or at all.

    The message names what to fix and never contains a secret: it ends up in
    the task's error, the log and `--json` output.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class DestinationUnusable(Exception):
    """The destination cannot be used as configured: the daemon refuses to start."""


class Destination(Protocol):
    kind: str  # local | postgres | markdown | webhook: recorded with every post

    def describe(self) -> str:
        """Where posts go, in words a reviewer can check (never a secret)."""
        ...

    def check(self) -> None:
        """At start: DestinationUnusable with the reason if posts cannot go there."""
        ...

    def taken(self, bases: Collection[str]) -> dict[str, set[str]]:
        """For each base slug, the slugs there that are it or start with `base-`.

        One round trip for all of them (a page of 100 tasks is one query).
        Bases with none may be left out. Raises DestinationError.
        """
        ...

    def create(self, draft: PostDraft) -> Placed | None:
        """Make the post under `draft.slug`; None if that slug is taken (meanwhile)."""
        ...

    def update(self, draft: PostDraft) -> Placed | None:
        """Replace title, content and image of the post holding `draft.slug`
        (policy `update`); None if no post holds it."""
        ...

    def existing(self, slug: str) -> Placed:
        """The post holding `slug`, left as it is (policy `skip`)."""
        ...

    def find(self, slug: str, image_url: str) -> Placed | None:
        """After a restart: the post an interrupted write made, if it was made."""
        ...

    def close(self) -> None: ...
