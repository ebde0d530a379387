"""Thumbnails for the gallery: fetched once, decoded once, kept in a bounded cache.

`Pictures.get` answers from memory at once (the UI thread asks it while
drawing); `Pictures.fetch` does the slow part, reading and decoding the
picture, and belongs in a worker thread. The review screen fetches the
pictures of the task under the cursor and of the next tasks awaiting review
before the reviewer gets there, so moving on shows them at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from PIL import Image as PILImage

from gladtui.shapes import VariationJSON

MAX_PICTURES = 256  # decoded thumbnails kept: ~64 KB each at 160x160 RGB

Key = tuple[str, int, str]  # task id, variation index, and what identifies its bytes
Loader = Callable[[VariationJSON], "PILImage.Image | None"]


def key_of(task_id: str, variation: VariationJSON) -> Key:
    # The path changes with the file (it carries a timestamp), so a new image under
    # a reused name is never served from the cache.
    return (task_id, variation["index"], variation["thumbnail"] or variation["path"])


def read_thumbnail(variation: VariationJSON) -> PILImage.Image | None:
    """The variation's thumbnail file (else its image), decoded; None when neither exists."""
    return _decode(variation["thumbnail"], variation["path"])


def read_image(variation: VariationJSON) -> PILImage.Image | None:
    """The variation's full image (else its thumbnail), decoded."""
    return _decode(variation["path"], variation["thumbnail"])


def _decode(*names: str | None) -> PILImage.Image | None:
    for name in names:
        if not name:
            continue
        try:
            with PILImage.open(Path(name)) as opened:
                opened.load()
                return opened.convert("RGB") if opened.mode not in ("RGB", "RGBA") else opened
        except (OSError, ValueError):
            continue
    return None


class Pictures:
    """A thread-safe LRU of decoded thumbnails."""

    def __init__(
        self,
        loader: Loader = read_thumbnail,
        full_loader: Loader = read_image,
        capacity: int = MAX_PICTURES,
    ) -> None:
        self._loader = loader
        self._full_loader = full_loader
        self._capacity = capacity
        self._cache: OrderedDict[Key, PILImage.Image | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, task_id: str, variation: VariationJSON) -> PILImage.Image | None:
        """The decoded picture if it is in memory; never blocks on a file or the network."""
        key = key_of(task_id, variation)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    def has(self, task_id: str, variation: VariationJSON) -> bool:
        with self._lock:
            return key_of(task_id, variation) in self._cache

    def fetch_full(self, task_id: str, variation: VariationJSON) -> PILImage.Image | None:
        """The full-size picture, for the large view; not cached (it is one at a time)."""
        return self._full_loader(variation)

    def fetch(self, task_id: str, variation: VariationJSON) -> PILImage.Image | None:
        """Read and decode (or answer from memory). Blocking: call it from a worker."""
        key = key_of(task_id, variation)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        picture = self._loader(variation)
        with self._lock:
            self._cache[key] = picture
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return picture
