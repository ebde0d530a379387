"""The variations' pictures over the API: the PNG as on disk, and narrower copies.

    GET /api/tasks/{id}/variations/{n}/image              the PNG bytes as they are on disk
    GET /api/tasks/{id}/variations/{n}/thumbnail?width=W  a PNG at most W pixels wide

A client never needs to read the preview folder: over SSH, or as a reviewer
who may use the API but not read the service's files, the pictures come
through the socket. Both answers carry an ETag made from the image's sha256,
so `If-None-Match` answers 304 without a byte of picture; the thumbnail's
ETag is known before it is made, so a revalidation never scales anything.

The sha256 of each file is remembered by (path, size, mtime, inode): a
variation's file is written once, atomically, and never rewritten in place.
Scaled copies are kept in the daemon's cache folder (`{cache}/api-thumbnails`),
named by the image's hash and the width, and rebuilt freely if removed.
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

from daemon.images import narrowed_png
from daemon.outcomes import InvalidRequest, TaskNotFound
from daemon.store import Store

MIN_WIDTH = 16
MAX_WIDTH = 8192
MAX_HASHES = 4096  # remembered file hashes: ~200 bytes each
# Variation files never change under their name, and the ETag says which bytes
# they are: a client may keep them, but only for the reviewer who asked.
CACHE_CONTROL = "private, max-age=86400"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Picture:
    """The bytes to send and their ETag (quoted, as sent)."""

    data: bytes
    etag: str


class VariationPictures:
    """Finds a variation's file, hashes it once, and makes narrower copies on demand."""

    def __init__(self, store: Store, cache_dir: Path) -> None:
        self._store = store
        self._folder = cache_dir / "api-thumbnails"
        self._hashes: OrderedDict[tuple[str, int, int, int], str] = OrderedDict()
        self._lock = threading.Lock()

    def image_etag(self, task_id: str, index: int) -> tuple[Path, str]:
        path = self._file_of(task_id, index)
        return path, f'"{self._sha256(path)}"'

    def image(self, path: Path, etag: str) -> Picture:
        return Picture(_read(path), etag)

    def thumbnail_etag(self, task_id: str, index: int, width: int) -> tuple[Path, str]:
        """The source file and the ETag the thumbnail will have (nothing scaled yet)."""
        path = self._file_of(task_id, index)
        return path, f'"{self._sha256(path)}-w{width}"'

    def thumbnail(self, source: Path, etag: str, width: int) -> Picture:
        """The narrowed copy of `source`, made now if the cache does not have it."""
        cached = self._folder / f"{etag.strip(chr(34))}.png"
        try:
            return Picture(cached.read_bytes(), etag)
        except FileNotFoundError:
            pass
        try:
            with Image.open(source) as image:
                narrowed_png(image, cached, max_width=width)
        except (FileNotFoundError, UnidentifiedImageError) as exc:
            raise TaskNotFound(f"the picture {source.name} cannot be read: {exc}") from None
        return Picture(_read(cached), etag)

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

    def _sha256(self, path: Path) -> str:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        with self._lock:
            known = self._hashes.get(key)
            if known is not None:
                self._hashes.move_to_end(key)
                return known
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
        value = digest.hexdigest()
        with self._lock:
            self._hashes[key] = value
            while len(self._hashes) > MAX_HASHES:
                self._hashes.popitem(last=False)
        return value


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
        task_id, index = target(request)
        path, etag = await asyncio.to_thread(self._pictures.image_etag, task_id, index)
        if _matches(request, etag):
            return _not_modified(etag)
        return _send(await asyncio.to_thread(self._pictures.image, path, etag))

    async def thumbnail(self, request: web.Request) -> web.StreamResponse:
        task_id, index = target(request)
        width = _width(request.query.get("width"))
        source, etag = await asyncio.to_thread(self._pictures.thumbnail_etag, task_id, index, width)
        if _matches(request, etag):
            return _not_modified(etag)
        return _send(await asyncio.to_thread(self._pictures.thumbnail, source, etag, width))


def target(request: web.Request) -> tuple[str, int]:
    raw = request.match_info["index"]
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise InvalidRequest(f"variation: expected a number from 1, got {raw!r}")
    return request.match_info["task_id"], int(raw)


def _width(raw: str | None) -> int:
    if raw is None or raw == "":
        raise InvalidRequest(f"width: required, the most pixels wide ({MIN_WIDTH}–{MAX_WIDTH})")
    if not raw.isdigit() or not MIN_WIDTH <= int(raw) <= MAX_WIDTH:
        raise InvalidRequest(
            f"width: expected a number from {MIN_WIDTH} to {MAX_WIDTH}, got {raw!r}"
        )
    return int(raw)


def _matches(request: web.Request, etag: str) -> bool:
    wanted = request.headers.get("If-None-Match", "")
    return any(tag.strip() in (etag, "*") for tag in wanted.split(","))


def _not_modified(etag: str) -> web.Response:
    return web.Response(status=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})


def _send(picture: Picture) -> web.Response:
    headers = {"ETag": picture.etag, "Cache-Control": CACHE_CONTROL}
    return web.Response(body=picture.data, content_type="image/png", headers=headers)


def _read(path: Path) -> bytes:
    # Read whole: a few MB at most, and aiohttp's FileResponse would put its own
    # ETag (mtime and size) in place of the hash.
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TaskNotFound(f"the picture {path.name} is gone") from None
