"""`markdown`: one file per post in a static site's folder (Hugo, Jekyll, Eleventy, Astro).

`{slug}.md` (or `{date}-{slug}.md`, as Jekyll wants) with YAML front matter (`title`,
`slug`, `date` or the key `date_key` names, the image URL under
`publishing.posts.markdown.image_key`, a list of one for `[images]`, its alt
text, caption and social card) and the content as the body. Layout `bundle`
writes `{slug}/index.md` with the image (and the card) copied beside it, the
front matter naming those files (daemon/publishing/destinations/bundles.py).
The folder is the authority on slugs: its files' names and their front
matter's `slug:` (daemon/publishing/destinations/mdfiles.py). A file is written in full
beside its final name, then linked into place, which fails if the name was
taken meanwhile: a file is never overwritten, except by `update`, which
replaces it whole with a rename (a reader sees the old file or the new one).
A bundle is put into place whole the same way. `update` keeps the layout the
post has: a `.md` file is rewritten as a file, a bundle as a bundle.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from daemon.publishing.destinations import bundles, mdfiles
from daemon.publishing.destinations.base import (
    DestinationError,
    DestinationUnusable,
    Placed,
    PostDraft,
)
from daemon.publishing.slugs import by_base
from gladtui.atomicfiles import write_atomically
from gladtui.config import MarkdownPostsConfig
from gladtui.filemodes import PRIVATE_FILE

_RETRYABLE_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EAGAIN, errno.EDQUOT, errno.EINTR}
# Slug previews may use a look at the folder this old while no file was added,
# removed or renamed (bench/posts.py: a full look at 10,000 files costs ~0.1 s).
# The publisher's own look is always fresh, and a file is never overwritten.
PREVIEW_MAX_AGE_SECONDS = 5.0
# A bundle's front matter names its local image; the CDN URL it was copied from is
# kept under this key, so a post an interrupted write made is found again by it.
SOURCE_KEY = "gladtui_image"


class MarkdownDestination:
    kind = "markdown"

    def __init__(
        self,
        folder: Path,
        image_key: str | list[str] = "image",
        *,
        style: MarkdownPostsConfig | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`style`: the layout and the front matter's keys (the config's defaults if None);
        `image_key` wins over its own."""
        self.folder = folder
        self.style = (style or MarkdownPostsConfig()).model_copy(update={"image_key": image_key})
        self.image_key = image_key if isinstance(image_key, str) else image_key[0]
        self._index = mdfiles.SlugIndex(folder, monotonic=monotonic)

    @classmethod
    def from_config(cls, settings: MarkdownPostsConfig) -> MarkdownDestination:
        assert settings.dir is not None  # the config refuses markdown without a dir
        return cls(settings.dir, settings.image_key, style=settings)

    def describe(self) -> str:
        key = self.style.image_key
        shown = f"[{self.image_key}]" if isinstance(key, list) else self.image_key
        stem = "{date}-{slug}" if self.style.file_name == "date-slug" else "{slug}"
        if self.style.layout == "bundle":
            return (
                f"Markdown page bundles in {self.folder} ({stem}/index.md, the image beside it "
                f"as {self.style.image_name}, under {shown!r})"
            )
        return f"Markdown files in {self.folder} ({stem}.md, image under {shown!r})"

    def check(self) -> None:
        if not self.folder.is_dir():
            raise DestinationUnusable(
                f"publishing.posts.markdown.dir {self.folder} is not a folder: create it, "
                "or point it at your site's posts (e.g. content/posts for Hugo)"
            )
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise DestinationUnusable(
                f"publishing.posts.markdown.dir {self.folder} is not writable by this user"
            )
        try:  # the first look reads every file: done now rather than in the API's first page
            bundles.remove_leftovers(self.folder)
            self._index.slugs()
        except OSError as exc:
            raise DestinationUnusable(
                f"publishing.posts.markdown.dir {self.folder} cannot be read: {exc.strerror}"
            ) from None

    def taken(self, bases: Collection[str]) -> dict[str, set[str]]:
        with self._failures("reading the folder"):
            slugs = self._index.slugs(max_age=PREVIEW_MAX_AGE_SECONDS)
        return by_base(bases, slugs)

    def create(self, draft: PostDraft) -> Placed | None:
        bundle = self.style.layout == "bundle"
        stem = self._stem(draft)
        name = stem if bundle else f"{stem}.md"
        with self._failures(f"writing {name}"):
            if draft.slug in self._index.slugs():  # another file's front matter says it
                return None
            meta = {"title": draft.title, "slug": draft.slug, self.style.date_key: draft.created_at}
            if bundle:
                target = self.folder / stem
                if not self._write_bundle(target, meta, draft, replace=False):
                    return None
                return Placed(draft.slug, str(target / bundles.INDEX))
            target = self.folder / name
            meta |= self._image_meta(draft, draft.image_url, draft.social_image_url)
            if not self._write(target, mdfiles.render(meta, draft.content), replace=False):
                return None
        return Placed(draft.slug, str(target))

    def _stem(self, draft: PostDraft) -> str:
        """The post's file name without `.md` (a bundle's folder): its slug, the date first
        for `file_name: date-slug` (Jekyll finds the slug after the date again)."""
        if self.style.file_name == "date-slug":
            return f"{draft.created_at:%Y-%m-%d}-{draft.slug}"
        return draft.slug

    def update(self, draft: PostDraft) -> Placed | None:
        with self._failures(f"updating the post {draft.slug}"):
            path = self._index.slugs().get(draft.slug)
            if path is None:
                return None
            document = mdfiles.read(path)
            meta = {**document.meta, "title": draft.title}
            if self.style.layout == "bundle" and path.name == bundles.INDEX:
                self._write_bundle(path.parent, meta, draft, replace=True)
                return Placed(draft.slug, str(path))
            meta |= self._image_meta(draft, draft.image_url, draft.social_image_url)
            meta.pop(SOURCE_KEY, None)  # a bundle's key, in a file that now names the URL
            self._write(path, mdfiles.render(meta, draft.content), replace=True)
        return Placed(draft.slug, str(path))

    def _image_meta(self, draft: PostDraft, image: str, card: str) -> dict[str, Any]:
        """The front matter's image keys: the image (a list of one for `[images]`), its alt
        text, its caption and the social card, as this site's settings name them."""
        style = self.style
        meta: dict[str, Any] = {
            self.image_key: [image] if isinstance(style.image_key, list) else image
        }
        if style.alt_key:
            meta[style.alt_key] = draft.alt
        if style.caption_key:
            meta[style.caption_key] = draft.caption
        if style.social_image_key and card:
            meta[style.social_image_key] = card
        return meta

    def _write_bundle(
        self, target: Path, meta: dict[str, Any], draft: PostDraft, *, replace: bool
    ) -> bool:
        """`index.md` and the image (and the card) in the format of `image_name`, whole."""
        if draft.image_path is None:
            raise DestinationError(
                "markdown: a page bundle needs the approved image's file, and none was given",
                retryable=False,
            )
        name = self.style.image_name
        files = {name: bundles.image_bytes(draft.image_path, name)}
        card = ""
        if draft.social_image_path is not None:
            stem, suffix = Path(name).stem, Path(name).suffix
            card = f"{stem}-social{suffix}"
            files[card] = bundles.image_bytes(draft.social_image_path, card)
        meta = {**meta, **self._image_meta(draft, name, card), SOURCE_KEY: draft.image_url}
        files[bundles.INDEX] = mdfiles.render(meta, draft.content).encode("utf-8")
        return bundles.write_bundle(target, files, replace=replace)

    def existing(self, slug: str) -> Placed:
        with self._failures(f"reading the post {slug}"):
            path = self._index.slugs().get(slug)
            if path is None:
                raise DestinationError(
                    f"markdown: the post {slug!r} was removed while being linked", retryable=True
                )
            meta = mdfiles.read(path).meta
        title, image = meta.get("title"), self._image_url(meta)
        return Placed(slug, str(path), title if isinstance(title, str) else None, image)

    def find(self, slug: str, image_url: str) -> Placed | None:
        with self._failures(f"looking for the post {slug}"):
            path = self._index.slugs().get(slug)
            if path is None or self._image_url(mdfiles.read(path).meta) != image_url:
                return None
        return Placed(slug, str(path))

    def close(self) -> None:
        return None

    def _image_url(self, meta: dict[str, Any]) -> str | None:
        """The CDN URL of a post's image: a bundle's source, else the image key's (first)."""
        value = meta.get(SOURCE_KEY, meta.get(self.image_key))
        if isinstance(value, list):
            value = value[0] if value else None
        return value if isinstance(value, str) else None

    def _write(self, target: Path, text: str, *, replace: bool) -> bool:
        """Write `text` to `target` atomically (gladtui/atomicfiles.py). False if `target`
        exists and `replace` is not asked for: a post's file is never overwritten by another.

        A new post is 0600 whatever the umask (gladtui/filemodes.py); a post
        replaced keeps the mode its file had, which is the site's choice.
        """
        mode = stat.S_IMODE(target.stat().st_mode) if replace else PRIVATE_FILE
        try:
            write_atomically(target, text.encode("utf-8"), overwrite=replace, permissions=mode)
        except FileExistsError:
            return False
        return True

    @contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            where = exc.filename or self.folder
            raise DestinationError(
                f"markdown: {doing} failed: {where}: {exc.strerror or exc}",
                retryable=exc.errno in _RETRYABLE_ERRNOS,
            ) from None
