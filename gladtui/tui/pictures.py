"""Thumbnails for the gallery: fetched through the API once, decoded once, kept bounded.

`Pictures.get` answers from memory at once (the UI thread asks it while
drawing); `Pictures.fetch` does the slow part and belongs in a worker
thread: the reviewer's disk cache (gladtui/picturecache.py), else the
daemon's thumbnail endpoint, then decoding. The TUI never opens a path from
the task JSON, so it works over `gladtui --ssh` and for a reviewer who may
use the API but not read the preview folder. The review screen fetches the
pictures of the task under the cursor and of the next tasks awaiting review
before the reviewer gets there, so moving on shows them at once.
"""

from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict

from PIL import Image as PILImage

from gladtui.client import ApiError, Client, ClientError
from gladtui.picturecache import DiskCache, picture_key
from gladtui.shapes import VariationJSON, thumbnail_step

MAX_PICTURES = 256  # decoded thumbnails kept in memory: ~300 KB each at 320x320 RGB
# full-size pictures kept decoded for the large view: 3 MB each at 1024x1024 RGB, enough
# for the two shown side by side and their neighbours, fetched ahead
MAX_FULL_PICTURES = 6
# pixels: sharp in a gallery box on a pixel-drawing terminal; a step of the daemon's
# (shapes.THUMBNAIL_WIDTHS), so its cached copy is shared with every reviewer
THUMBNAIL_WIDTH = 320
FULL_SIZE = 0  # the width that means "the image itself" in the disk cache's keys
RETRY_PAUSES = (0.2, 0.5, 1.0)  # seconds after each failed try of a thumbnail
_UNREACHABLE = PILImage.new("1", (1, 1))  # a marker: no answer, try again another time

Key = tuple[str, int, str]  # task id, variation index, and what identifies its bytes


def key_of(task_id: str, variation: VariationJSON) -> Key:
    # The path changes with the file (it carries a timestamp), so a new image under
    # a reused index is never served from the cache.
    return (task_id, variation["index"], variation["path"])


class Pictures:
    """A thread-safe LRU of decoded thumbnails, over a disk cache, over the API."""

    def __init__(
        self,
        client: Client,
        disk: DiskCache | None = None,
        *,
        width: int = THUMBNAIL_WIDTH,
        capacity: int = MAX_PICTURES,
    ) -> None:
        self._client = client
        self._disk = disk
        self._width = thumbnail_step(width)  # what the daemon answers: one disk-cache key
        self._capacity = capacity
        self._cache: OrderedDict[Key, PILImage.Image | None] = OrderedDict()
        self._full: OrderedDict[Key, PILImage.Image] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, task_id: str, variation: VariationJSON) -> PILImage.Image | None:
        """The decoded picture if it is in memory; never blocks on a file or the network."""
        key = key_of(task_id, variation)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    def get_full(self, task_id: str, variation: VariationJSON) -> PILImage.Image | None:
        """The full-size picture if it is in memory; never blocks."""
        key = key_of(task_id, variation)
        with self._lock:
            if key in self._full:
                self._full.move_to_end(key)
                return self._full[key]
        return None

    def fetch_full(self, task_id: str, variation: VariationJSON) -> PILImage.Image | None:
        """The full-size picture, for the large view (blocking: call it from a worker).

        The last few stay decoded in memory (the loupe crops them as it pans); all
        of them stay in the disk cache. None when the daemon has no such picture.
        Raises ClientError when the daemon cannot be asked.
        """
        found = self.get_full(task_id, variation)
        if found is not None:
            return found
        picture = self._load(task_id, variation, FULL_SIZE)
        if picture is not None:
            with self._lock:
                self._full[key_of(task_id, variation)] = picture
                while len(self._full) > MAX_FULL_PICTURES:
                    self._full.popitem(last=False)
        return picture

    def fetch(self, task_id: str, variation: VariationJSON) -> PILImage.Image | None:
        """Fetch and decode (or answer from memory). Blocking: call it from a worker.

        None when the daemon has no such picture (removed since); a daemon that
        cannot be reached is not remembered, so the next fetch tries again.
        """
        key = key_of(task_id, variation)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        picture = self._load_retrying(task_id, variation)
        if picture is _UNREACHABLE:
            return None
        with self._lock:
            self._cache[key] = picture
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return picture

    def _load_retrying(self, task_id: str, variation: VariationJSON) -> PILImage.Image | None:
        """A few tries: a daemon busy enough to drop one request should not leave a
        thumbnail pending for good (nothing would ask for it again)."""
        for pause in RETRY_PAUSES:
            try:
                return self._load(task_id, variation, self._width)
            except ClientError:
                time.sleep(pause)
        return _UNREACHABLE

    def _load(self, task_id: str, variation: VariationJSON, width: int) -> PILImage.Image | None:
        """Disk cache, else the API; None when the daemon answers 404. Raises ClientError."""
        index = variation["index"]
        name = picture_key(task_id, index, variation["path"], width)
        data = self._disk.get(name) if self._disk is not None else None
        if data is None:
            try:
                if width == FULL_SIZE:
                    data = self._client.image(task_id, index)
                else:
                    data = self._client.thumbnail(task_id, index, width)
            except ApiError as exc:
                if exc.status == 404:
                    return None
                raise
            if self._disk is not None:
                self._disk.put(name, data)
        return _decode(data)


def _decode(data: bytes) -> PILImage.Image | None:
    try:
        with PILImage.open(io.BytesIO(data)) as opened:
            opened.load()
            return opened.convert("RGB") if opened.mode not in ("RGB", "RGBA") else opened
    except (OSError, ValueError):
        return None
