"""`wordpress`: the approved image goes into the media library of the posts' WordPress site.

WordPress makes a post's featured image only of an attachment in its own
media library, so with `publishing.posts.to: wordpress` this is the
publisher (the config refuses any other). The asset id is the attachment's
slug and its file's name: before uploading, the library is asked for that
slug, and an attachment found there is this upload made by an earlier
attempt (a crash after WordPress stored it, before gladtui recorded it)
when it holds the same bytes (its size, or its file downloaded and compared
when WordPress has not noted a size yet). A different file under that slug
is an error, never overwritten.

The attachment's id is handed to the destination, which makes it the post's
featured image and sets its alt text and caption.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from daemon.publishing.destinations.wordpress import WordPressDestination
from daemon.publishing.destinations.wpsite import WordPressError, media_slug
from daemon.publishing.publishers.base import Asset, PublishError, unreadable

MEDIA = "/wp/v2/media"


class WordPressPublisher:
    name = "wordpress"

    def __init__(self, destination: WordPressDestination) -> None:
        self.destination = destination
        self.site = destination.site

    def upload(self, path: Path, asset_id: str) -> Asset:
        try:
            image = path.read_bytes()
        except OSError as exc:
            raise unreadable(path, exc) from None
        slug = media_slug(asset_id)
        try:
            earlier = self._earlier(slug, image)
            if earlier is not None:
                return self._noted(asset_id, earlier, existed=True)
            answer = self.site.call(
                "POST",
                MEDIA,
                data=image,
                query={"slug": slug},
                headers={
                    "Content-Type": mimetypes.guess_type(path.name)[0] or "image/png",
                    "Content-Disposition": f'attachment; filename="{asset_id}{path.suffix}"',
                },
                need="upload_files",
            )
        except WordPressError as exc:
            raise PublishError(f"uploading {path.name}: {exc}", retryable=exc.retryable) from None
        return self._noted(asset_id, answer.body, existed=False)

    def _earlier(self, slug: str, image: bytes) -> dict[str, Any] | None:
        """The attachment an earlier attempt made under `slug`, if it holds `image`."""
        params = {"slug": [slug], "context": "edit", "_fields": "id,slug,source_url,media_details"}
        found = self.site.get(MEDIA, params, need="upload_files").body
        if not found:
            return None
        media = found[0]
        size = (media.get("media_details") or {}).get("filesize")
        same = size == len(image) if isinstance(size, int) else None
        if same is None:  # WordPress notes the size once its thumbnails are made
            same = self.site.download(str(media["source_url"])) == image
        if not same:
            raise PublishError(
                f"the media library of WordPress at {self.site.host} already has an "
                f"attachment {slug!r} (id {media['id']}) with other bytes; nothing was "
                "overwritten: delete that attachment in WordPress if it is not this image, "
                "then retry",
                retryable=False,
            )
        return dict(media)

    def _noted(self, asset_id: str, media: dict[str, Any], *, existed: bool) -> Asset:
        url = str(media["source_url"])
        self.destination.note_attachment(url, int(media["id"]))
        return Asset(asset_id, url, existed=existed)
