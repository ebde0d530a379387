"""`local`: gladtui's own posts table is the blog (the embedded default).

The post is the record the publisher writes in the daemon's DuckDB, so there
is nothing to write here and no slug to know beyond that table, which the
publisher consults for every destination anyway.
"""

from __future__ import annotations

from collections.abc import Collection

from daemon.publishing.destinations.base import Placed, PostDraft


class LocalDestination:
    kind = "local"

    def describe(self) -> str:
        return "gladtui's own posts table (gladtui posts)"

    def check(self) -> None:
        return None

    def taken(self, bases: Collection[str]) -> dict[str, set[str]]:
        return {}

    def create(self, draft: PostDraft) -> Placed | None:
        return Placed(draft.slug, None)

    def update(self, draft: PostDraft) -> Placed | None:
        return Placed(draft.slug, None)

    def existing(self, slug: str) -> Placed:
        return Placed(slug, None)

    def find(self, slug: str, image_url: str) -> Placed | None:
        return None

    def close(self) -> None:
        return None
