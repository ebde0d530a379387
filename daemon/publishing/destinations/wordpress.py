"""`wordpress`: each post is made on a WordPress site through its REST API, exactly once.

The approved image is already in the site's media library when a post is
placed (the `wordpress` publisher, daemon/publishing/publishers/wordpress.py, uploaded
it and noted its attachment id here); the post is made with that attachment
as its featured image, the attachment given the post's alt text and caption
first (so a retry after a crash sets them again), then:

- Slugs are the site's: `taken` asks for a page of base slugs in one request
  (`status=any`: drafts and pending posts hold slugs too), then for the
  `-2` … `-9` of the bases found; answers are kept for previews for up to
  5 s, and forgotten for a base once gladtui writes under it.
- WordPress de-duplicates a published post's slug silently (`foo` becomes
  `foo-2`) and lets a draft share a slug: after making a post, one that got
  another slug than asked, or a draft whose slug another post holds, was
  raced by someone else: it is deleted and the slug reported taken, so the
  placer chooses again, as it does for every destination.
- After a restart, `find` looks for a post holding the intent's slug with the
  intent's image as its featured image: found, the write is not made again.

Categories and tags are names, resolved to ids at start (`check`), created
when missing if the user may (`manage_categories`), else refused naming which.
The social card's URL goes into the post-meta field an SEO plugin reads
(`social_image_meta`), checked at start to be one the REST API accepts:
WordPress drops an unknown meta field without a word.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from daemon.publishing.destinations.base import (
    DestinationError,
    DestinationUnusable,
    Placed,
    PostDraft,
)
from daemon.publishing.destinations.secrets import WORDPRESS_PASSWORD_ENV
from daemon.publishing.destinations.wpsite import WordPressError, WordPressSite, media_slug
from gladtui.config import WordPressPostsConfig

# Previews may use the site's answer for a base slug this old; gladtui's own
# writes forget it, and a write never trusts it (see the module's docstring).
PREVIEW_MAX_AGE_SECONDS = 5.0
SUFFIXES_PER_ASK = 8  # `-2` … `-9` asked together; more only when all of them are taken
PAGE = 100  # WordPress's largest per_page
POSTS = "/wp/v2/posts"

log = logging.getLogger(__name__)


class WordPressDestination:
    kind = "wordpress"

    def __init__(
        self,
        settings: WordPressPostsConfig,
        password: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        assert settings.url and settings.user  # the config refuses `to: wordpress` without
        self.settings = settings
        self.site = WordPressSite(
            settings.url, settings.user, password, timeout=settings.timeout_seconds
        )
        self._password = password
        self._monotonic = monotonic
        self._term_ids: dict[str, list[int]] = {"categories": [], "tags": []}
        self._kept: dict[str, tuple[float, frozenset[str]]] = {}  # base → (asked at, slugs)
        self._attachments: dict[str, int] = {}  # an uploaded image's URL → its attachment
        self._lock = threading.Lock()

    # -- what the publisher tells -----------------------------------------------------

    def note_attachment(self, url: str, attachment_id: int) -> None:
        """The publisher uploaded (or found) `url` as `attachment_id`: the featured image."""
        with self._lock:
            self._attachments[url] = attachment_id

    # -- the protocol -------------------------------------------------------------------

    def describe(self) -> str:
        terms = "".join(
            f", {kind} {', '.join(names)}"
            for kind, names in (
                ("categories", self.settings.categories),
                ("tags", self.settings.tags),
            )
            if names
        )
        return (
            f"WordPress at {self.site.host} as {self.settings.user}, new posts "
            f"{self.settings.status}{terms}; images in its media library"
        )

    def check(self) -> None:
        if not self._password:
            raise DestinationUnusable(
                f"publishing.posts.to is wordpress but {WORDPRESS_PASSWORD_ENV} is not set: "
                f"create an Application Password for {self.settings.user} (Users → Profile → "
                "Application Passwords) and set it in the daemon's environment"
            )
        try:
            me = self.site.get("/wp/v2/users/me", {"context": "edit"}, need="edit_posts").body
            self._check_capabilities(me.get("capabilities") or {})
            for kind, names in (
                ("categories", self.settings.categories),
                ("tags", self.settings.tags),
            ):
                self._term_ids[kind] = [self._term_id(kind, name) for name in names]
            self._check_social_field()
        except WordPressError as exc:
            raise DestinationUnusable(str(exc)) from None

    def taken(self, bases: Collection[str]) -> dict[str, set[str]]:
        now = self._monotonic()
        found: dict[str, set[str]] = {}
        ask = []
        with self._lock:
            for base in sorted(set(bases)):
                kept = self._kept.get(base)
                if kept is not None and now - kept[0] < PREVIEW_MAX_AGE_SECONDS:
                    found[base] = set(kept[1])
                else:
                    ask.append(base)
        if ask:
            with self._failures("asking which slugs are taken"):
                fresh = self._ask(ask)
            with self._lock:
                for base in ask:
                    self._kept[base] = (now, frozenset(fresh.get(base, ())))
            found.update(fresh)
        return {base: slugs for base, slugs in found.items() if slugs}

    def create(self, draft: PostDraft) -> Placed | None:
        with self._failures(f"making the post {draft.slug!r}"):
            media = self._describe_image(draft)
            body = {
                "title": draft.title,
                "content": draft.content,
                "slug": draft.slug,
                "status": self.settings.status,
                "featured_media": media,
                "categories": self._term_ids["categories"],
                "tags": self._term_ids["tags"],
                **self._card_meta(draft),
            }
            need = "publish_posts" if self.settings.status == "publish" else "edit_posts"
            post = self.site.call("POST", POSTS, body=body, need=need).body
            self._forget(draft.slug)
            if post.get("slug") != draft.slug or self._held_by_another(draft.slug, post["id"]):
                self._remove(post["id"])
                return None
            return Placed(draft.slug, self._location(post))

    def update(self, draft: PostDraft) -> Placed | None:
        with self._failures(f"updating the post {draft.slug!r}"):
            posts = self._posts([draft.slug], "id,slug,status,categories,tags")
            if not posts:
                return None
            target = posts[0]
            media = self._describe_image(draft)
            body = {
                "title": draft.title,
                "content": draft.content,
                "featured_media": media,
                "categories": _union(target.get("categories"), self._term_ids["categories"]),
                "tags": _union(target.get("tags"), self._term_ids["tags"]),
                **self._card_meta(draft),
            }
            post = self.site.call(
                "POST", f"{POSTS}/{target['id']}", body=body, need="edit_others_posts"
            ).body
            self._forget(draft.slug)
            return Placed(str(post.get("slug") or draft.slug), self._location(post))

    def existing(self, slug: str) -> Placed:
        with self._failures(f"reading the post {slug!r}"):
            answer = self.site.get(
                POSTS,
                {"slug": [slug], "status": "any", "context": "edit"},
                query={"_embed": "wp:featuredmedia"},
                need="edit_posts",
            ).body
        if not answer:
            return Placed(slug, f"{self.site.host} (slug {slug})")
        post = answer[0]
        title = (post.get("title") or {}).get("raw")
        media = ((post.get("_embedded") or {}).get("wp:featuredmedia") or [{}])[0]
        image = media.get("source_url") if isinstance(media, dict) else None
        return Placed(
            slug,
            self._location(post),
            title if isinstance(title, str) else None,
            image if isinstance(image, str) else None,
        )

    def find(self, slug: str, image_url: str) -> Placed | None:
        with self._failures(f"looking for the post {slug!r} an earlier run made"):
            media = self._attachment(image_url, missing_ok=True)
            if media is None:
                return None
            for post in self._posts([slug], "id,slug,status,featured_media"):
                if post.get("featured_media") == media:
                    return Placed(str(post["slug"]), self._location(post))
        return None

    def close(self) -> None:
        return None

    # -- slugs --------------------------------------------------------------------------

    def _ask(self, bases: list[str]) -> dict[str, set[str]]:
        """The bases taken, then their `-N` in rounds of SUFFIXES_PER_ASK while all are."""
        held = {post["slug"] for post in self._posts(bases, "slug")}
        found = {base: {base} for base in bases if base in held}
        start, pending = 2, list(found)
        while pending:
            candidates = {
                f"{base}-{n}": base
                for base in pending
                for n in range(start, start + SUFFIXES_PER_ASK)
            }
            held = {post["slug"] for post in self._posts(list(candidates), "slug")}
            for slug in held & candidates.keys():
                found[candidates[slug]].add(slug)
            last = start + SUFFIXES_PER_ASK - 1
            pending = [base for base in pending if f"{base}-{last}" in held]
            start = last + 1
        return found

    def _posts(self, slugs: list[str], fields: str) -> list[dict[str, Any]]:
        """Every post (any status but trash) holding one of `slugs`, page after page."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {
                "slug": slugs,
                "status": "any",
                "context": "edit",
                "per_page": PAGE,
                "page": page,
                "_fields": fields,
            }
            answer = self.site.get(POSTS, params, need="edit_posts")
            found += [post for post in answer.body if isinstance(post, dict)]
            if page >= int(answer.headers.get("X-WP-TotalPages") or 1):
                return found
            page += 1

    def _held_by_another(self, slug: str, post_id: int) -> bool:
        """A draft or pending post shares its slug without WordPress saying so."""
        if self.settings.status == "publish":
            return False  # WordPress gave it another slug instead, which create checks
        return any(post["id"] != post_id for post in self._posts([slug], "id"))

    def _remove(self, post_id: int) -> None:
        self.site.call("DELETE", f"{POSTS}/{post_id}", query={"force": "true"}, need="delete_posts")

    def _forget(self, slug: str) -> None:
        """gladtui wrote under `slug`: the answers kept for its base are stale."""
        with self._lock:
            for base in [b for b in self._kept if slug == b or slug.startswith(f"{b}-")]:
                del self._kept[base]

    # -- the image ----------------------------------------------------------------------

    def _describe_image(self, draft: PostDraft) -> int:
        """The attachment holding the draft's image, its alt text and caption set."""
        media = self._attachment(draft.image_url)
        assert media is not None
        body = {"alt_text": draft.alt or draft.title, "caption": draft.caption}
        self.site.call("POST", f"/wp/v2/media/{media}", body=body, need="upload_files")
        return media

    def _attachment(self, url: str, *, missing_ok: bool = False) -> int | None:
        """The attachment whose file is `url`: noted by the publisher, else found by the
        slug its file name gives (the asset id)."""
        with self._lock:
            known = self._attachments.get(url)
        if known is not None:
            return known
        stem = media_slug(PurePosixPath(urlsplit(url).path).stem).removesuffix("-scaled")
        answer = self.site.get(
            "/wp/v2/media", {"slug": [stem], "_fields": "id,source_url"}, need="upload_files"
        ).body
        for media in answer:
            if media.get("source_url") == url:
                self.note_attachment(url, int(media["id"]))
                return int(media["id"])
        if missing_ok:
            return None
        raise DestinationError(
            f"the image {url} is no longer in the media library of WordPress at "
            f"{self.site.host}: reject the task and approve it again to upload it anew",
            retryable=False,
        )

    # -- the social card -----------------------------------------------------------------

    def _card_meta(self, draft: PostDraft) -> dict[str, Any]:
        """The post's `meta` with the card's URL, in the SEO plugin's field if one is set."""
        field = self.settings.social_image_meta
        if not draft.social_image_url:
            return {}
        if field is None:
            log.info(
                "the social card of %r is in the media library (%s), not in the post: set "
                "publishing.posts.wordpress.social_image_meta to your SEO plugin's field",
                draft.slug,
                draft.social_image_url,
            )
            return {}
        return {"meta": {field: draft.social_image_url}}

    def _check_social_field(self) -> None:
        """The SEO plugin's field is one the REST API takes: WordPress drops others silently."""
        field = self.settings.social_image_meta
        if field is None:
            return
        schema = self.site.call("OPTIONS", POSTS, need="edit_posts").body.get("schema") or {}
        meta = ((schema.get("properties") or {}).get("meta") or {}).get("properties") or {}
        if field not in meta:
            raise DestinationUnusable(
                f"publishing.posts.wordpress.social_image_meta is {field!r}, but WordPress at "
                f"{self.site.host} does not take that post-meta field through its REST API, so "
                "the social card would be dropped: open the field to the REST API (a few lines "
                "of PHP, register_post_meta with show_in_rest: see docs/publishing.md, "
                "'WordPress'), correct its name, or set the key to null"
            )

    # -- small things -------------------------------------------------------------------

    def _check_capabilities(self, capabilities: dict[str, Any]) -> None:
        needed = ["edit_posts", "upload_files"]
        if self.settings.status == "publish":
            needed.append("publish_posts")
        missing = [name for name in needed if not capabilities.get(name)]
        if missing:
            raise DestinationUnusable(
                f"WordPress at {self.site.host}: user {self.settings.user!r} lacks "
                f"{', '.join(missing)}, which publishing needs (uploading the image, making "
                f"{self.settings.status} posts): give the user the Author role or above"
                + (
                    ", or set publishing.posts.wordpress.status to draft"
                    if missing == ["publish_posts"]
                    else ""
                )
            )

    def _term_id(self, kind: str, name: str) -> int:
        """The id of the category or tag called `name`, made if missing."""
        route = f"/wp/v2/{kind}"
        for term in self.site.get(
            route, {"search": name, "per_page": PAGE}, need="edit_posts"
        ).body:
            if html.unescape(str(term.get("name", ""))).casefold() == name.casefold():
                return int(term["id"])
        try:
            made = self.site.call("POST", route, body={"name": name}, need="manage_categories")
        except WordPressError as exc:
            if exc.status == 403:
                singular = "category" if kind == "categories" else "tag"
                raise DestinationUnusable(
                    f"the {singular} {name!r} is not on WordPress at {self.site.host} and user "
                    f"{self.settings.user!r} may not create it (manage_categories): create it "
                    f"in WordPress, or remove it from publishing.posts.wordpress.{kind}"
                ) from None
            raise
        return int(made.body["id"])

    def _location(self, post: dict[str, Any]) -> str:
        status = post.get("status")
        return f"{self.site.host} post {post.get('id')}" + (f" ({status})" if status else "")

    @contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        try:
            yield
        except WordPressError as exc:
            raise DestinationError(f"{doing}: {exc}", retryable=exc.retryable) from None


def _union(existing: Any, ours: list[int]) -> list[int]:
    have = [int(term) for term in existing] if isinstance(existing, list) else []
    return have + [term for term in ours if term not in have]
