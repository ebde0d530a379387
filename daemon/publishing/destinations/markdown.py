"""`markdown`: one file per post in a static site's folder (Hugo, Jekyll, Eleventy, Astro).

`{slug}.md` with YAML front matter (`title`, `slug`, `date`, and the image URL
under `publishing.posts.markdown.image_key`) and the content as the body.
The folder is the authority on slugs: its files' names and their front
matter's `slug:` (daemon/publishing/destinations/mdfiles.py). A file is written in full
beside its final name, then linked into place, which fails if the name was
taken meanwhile: a file is never overwritten, except by `update`, which
replaces it whole with a rename (a reader sees the old file or the new one).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from daemon.publishing.destinations import mdfiles
from daemon.publishing.destinations.base import (
    DestinationError,
    DestinationUnusable,
    Placed,
    PostDraft,
)
from daemon.publishing.slugs import by_base
from gladtui.atomicfiles import write_atomically
from gladtui.filemodes import PRIVATE_FILE

_RETRYABLE_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EAGAIN, errno.EDQUOT, errno.EINTR}
# Slug previews may use a look at the folder this old while no file was added,
# removed or renamed (bench/posts.py: a full look at 10,000 files costs ~0.1 s).
# The publisher's own look is always fresh, and a file is never overwritten.
PREVIEW_MAX_AGE_SECONDS = 5.0


class MarkdownDestination:
    kind = "markdown"

    def __init__(
        self, folder: Path, image_key: str, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.folder = folder
        self.image_key = image_key
        self._index = mdfiles.SlugIndex(folder, monotonic=monotonic)

    def describe(self) -> str:
        return f"Markdown files in {self.folder} (image under {self.image_key!r})"

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
        with self._failures(f"writing {draft.slug}.md"):
            if draft.slug in self._index.slugs():  # another file's front matter says it
                return None
            meta = {
                "title": draft.title,
                "slug": draft.slug,
                "date": draft.created_at,
                self.image_key: draft.image_url,
            }
            target = self.folder / f"{draft.slug}.md"
            if not self._write(target, mdfiles.render(meta, draft.content), replace=False):
                return None
        return Placed(draft.slug, str(target))

    def update(self, draft: PostDraft) -> Placed | None:
        with self._failures(f"updating the post {draft.slug}"):
            path = self._index.slugs().get(draft.slug)
            if path is None:
                return None
            document = mdfiles.read(path)
            meta = {**document.meta, "title": draft.title, self.image_key: draft.image_url}
            self._write(path, mdfiles.render(meta, draft.content), replace=True)
        return Placed(draft.slug, str(path))

    def existing(self, slug: str) -> Placed:
        with self._failures(f"reading the post {slug}"):
            path = self._index.slugs().get(slug)
            if path is None:
                raise DestinationError(
                    f"markdown: the post {slug!r} was removed while being linked", retryable=True
                )
            meta = mdfiles.read(path).meta
        title, image = meta.get("title"), meta.get(self.image_key)
        return Placed(
            slug,
            str(path),
            title if isinstance(title, str) else None,
            image if isinstance(image, str) else None,
        )

    def find(self, slug: str, image_url: str) -> Placed | None:
        with self._failures(f"looking for the post {slug}"):
            path = self._index.slugs().get(slug)
            if path is None or mdfiles.read(path).meta.get(self.image_key) != image_url:
                return None
        return Placed(slug, str(path))

    def close(self) -> None:
        return None

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
