"""The variations' pictures over the API: the PNG as on disk, and narrower copies.

    GET /api/tasks/{id}/variations/{n}/image              the PNG bytes as they are on disk
    GET /api/tasks/{id}/variations/{n}/thumbnail?width=W  a PNG at least W pixels wide
                                                          (a step), or the image itself

A client never needs to read the preview folder: over SSH, or as a reviewer
who may use the API but not read the service's files, the pictures come
through the socket. Both answers carry an ETag made from the image's sha256,
so `If-None-Match` answers 304 without a byte of picture; the thumbnail's
ETag is known before it is made, so a revalidation never scales anything.

Thumbnails come in a few widths (gladtui/shapes.py THUMBNAIL_WIDTHS): W is
rounded up to the next step, and a step at or above the image's own width is
the image itself (its bytes and its ETag). So a client asking for 4000 widths
gets one answer, and the cache holds at most a dozen copies of an image. The
answer's `Thumbnail-Width` header says the width it is.

The sha256 and width of each file are remembered by (path, size, mtime,
inode): a variation's file is written once, atomically, and never rewritten
in place. Scaled copies are kept in the daemon's cache folder
(`{cache}/api-thumbnails`, 0700, files 0600), named by the image's hash and
the step, bounded by `api.thumbnail_cache_mb` (least recently used go
first), and rebuilt freely if removed.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from daemon.api.params import variation_target, whole_number
from daemon.generation.images import narrowed_png
from daemon.review.outcomes import InvalidRequest, TaskNotFound
from daemon.store import Store
from gladtui.picturecache import DiskCache
from gladtui.shapes import thumbnail_step

MIN_WIDTH = 16
MAX_WIDTH = 8192
MAX_HASHES = 4096  # remembered file hashes: ~200 bytes each
WIDTH_HEADER = "Thumbnail-Width"
# Variation files never change under their name, and the ETag says which bytes
# they are: a client may keep them, but only for the reviewer who asked.
CACHE_CONTROL = "private, max-age=86400"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Picture:
    """The bytes to send, their ETag (quoted, as sent) and their width in pixels."""

    data: bytes
    etag: str
    width: int | None  # a thumbnail's width (None: the image route, which never scales)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a thumbnail request will answer, known without scaling anything."""

    source: Path
    etag: str
    width: int  # of the answer: the step, or the image's own width
    whole: bool  # the image itself: no scaled copy


class VariationPictures:
    """Finds a variation's file, hashes it once, and makes narrower copies on demand."""

    def __init__(self, store: Store, cache_dir: Path, max_bytes: int) -> None:
        self._store = store
        self._cache = DiskCache(cache_dir / "api-thumbnails", max_bytes)
        self._facts: OrderedDict[tuple[str, int, int, int], tuple[str, int]] = OrderedDict()
        self._lock = threading.Lock()

    def image_etag(self, task_id: str, index: int) -> tuple[Path, str]:
        path = self._file_of(task_id, index)
        return path, f'"{self._sha256_and_width(path)[0]}"'

    def image(self, path: Path, etag: str) -> Picture:
        return Picture(_read(path), etag, None)

    def thumbnail_plan(self, task_id: str, index: int, width: int) -> Plan:
        """The answer to `?width=width`: its ETag and width (nothing scaled yet)."""
        path = self._file_of(task_id, index)
        sha, own_width = self._sha256_and_width(path)
        step = thumbnail_step(width)
        if step >= own_width:
            return Plan(path, f'"{sha}"', own_width, whole=True)
        return Plan(path, f'"{sha}-w{step}"', step, whole=False)

    def thumbnail(self, plan: Plan) -> Picture:
        """The planned answer: the image, the cached copy, or a copy made now."""
        if plan.whole:
            return Picture(_read(plan.source), plan.etag, plan.width)
        name = f"{plan.etag.strip(chr(34))}.png"
        data = self._cache.get(name)
        if data is None:
            data = _narrowed(plan.source, plan.width)
            self._cache.put(name, data)
        return Picture(data, plan.etag, plan.width)

    def _file_of(self, task_id: str, index: int) -> Path:
        variation = self._store.variations.get(task_id, index)
        if variation is None:
            if self._store.tasks.get(task_id) is None:
                raise TaskNotFound(f"no task {task_id!r}")
            raise TaskNotFound(f"task {task_id!r} has no variation {index}")
        if variation.removed_at is not None:
            raise TaskNotFound(f"variation {index} of task {task_id!r} was removed from disk")
        path = Path(variation.path)
        if not path.is_file():
            raise TaskNotFound(f"the file of variation {index} of task {task_id!r} is gone")
        return path

    def _sha256_and_width(self, path: Path) -> tuple[str, int]:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        with self._lock:
            known = self._facts.get(key)
            if known is not None:
                self._facts.move_to_end(key)
                return known
        facts = (_sha256(path), _width_of(path))
        with self._lock:
            self._facts[key] = facts
            while len(self._facts) > MAX_HASHES:
                self._facts.popitem(last=False)
        return facts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _narrowed(source: Path, width: int) -> bytes:
    try:
        with Image.open(source) as image:
            return narrowed_png(image, max_width=width)
    except (FileNotFoundError, UnidentifiedImageError) as exc:
        raise TaskNotFound(f"the picture {source.name} cannot be read: {exc}") from None


def _width_of(path: Path) -> int:
    """The image's width from its header (nothing decoded)."""
    try:
        with Image.open(path) as image:
            return image.width
    except (FileNotFoundError, UnidentifiedImageError) as exc:
        raise TaskNotFound(f"the picture {path.name} cannot be read: {exc}") from None


class PictureRoutes:
    """The two handlers; the store and the files are read in threads, off the loop."""

    def __init__(self, pictures: VariationPictures) -> None:
        self._pictures = pictures

    def routes(self) -> list[web.RouteDef]:
        base = "/api/tasks/{task_id}/variations/{index}"
        return [
            web.get(f"{base}/image", self.image),
            web.get(f"{base}/thumbnail", self.thumbnail),
        ]

    async def image(self, request: web.Request) -> web.StreamResponse:
        task_id, index = variation_target(request)
        path, etag = await asyncio.to_thread(self._pictures.image_etag, task_id, index)
        if _matches(request, etag):
            return _not_modified(etag, {})
        return _send(await asyncio.to_thread(self._pictures.image, path, etag))

    async def thumbnail(self, request: web.Request) -> web.StreamResponse:
        task_id, index = variation_target(request)
        width = _width(request.query.get("width"))
        plan = await asyncio.to_thread(self._pictures.thumbnail_plan, task_id, index, width)
        if _matches(request, plan.etag):
            return _not_modified(plan.etag, {WIDTH_HEADER: str(plan.width)})
        return _send(await asyncio.to_thread(self._pictures.thumbnail, plan))


def _width(raw: str | None) -> int:
    if raw is None or raw == "":
        raise InvalidRequest(f"width: required, the most pixels wide ({MIN_WIDTH}–{MAX_WIDTH})")
    return whole_number("width", raw, MIN_WIDTH, MAX_WIDTH)


def _matches(request: web.Request, etag: str) -> bool:
    wanted = request.headers.get("If-None-Match", "")
    return any(tag.strip() in (etag, "*") for tag in wanted.split(","))


def _not_modified(etag: str, more: dict[str, str]) -> web.Response:
    return web.Response(status=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL, **more})


def _send(picture: Picture) -> web.Response:
    headers = {"ETag": picture.etag, "Cache-Control": CACHE_CONTROL}
    if picture.width is not None:
        headers[WIDTH_HEADER] = str(picture.width)
    return web.Response(body=picture.data, content_type="image/png", headers=headers)


def _read(path: Path) -> bytes:
    # Read whole: a few MB at most, and aiohttp's FileResponse would put its own
    # ETag (mtime and size) in place of the hash.
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TaskNotFound(f"the picture {path.name} is gone") from None
