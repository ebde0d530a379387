"""What every publisher shares: the protocol, the result, the error, the asset id.

Exactly-once rests on the asset id: it is derived from the task and the
image's bytes, never from a counter or the time, so a retry after a crash
(upload done, commit not) asks for the same id again. Publishers never
overwrite: an asset that already exists under the id counts as this upload
when its size (and checksum, where the CDN gives one) matches the local
file, and is an error otherwise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from daemon.publishing.missingfiles import PUT_IT_BACK

ASSET_HASH_CHARS = 16


@dataclass(frozen=True, slots=True)
class Asset:
    """An image on the CDN: its id there and the URL a post shows."""

    asset_id: str
    url: str
    existed: bool = False  # true when an earlier attempt had already uploaded it


class PublishError(Exception):
    """An upload failed. `retryable`: network trouble, 420/429, 5xx; else permanent.

    The message must never contain credentials: it ends up in the task's
    error, the log and `--json` output.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def unreadable(path: Path, exc: OSError) -> PublishError:
    """The approved image cannot be read: no retry brings a file back, so none is made."""
    reason = exc.strerror or str(exc)
    return PublishError(
        f"cannot read the approved image {path}: {reason}; {PUT_IT_BACK}", retryable=False
    )


class Publisher(Protocol):
    """Puts one local image on the CDN under `asset_id`, at most once."""

    name: str

    def upload(self, path: Path, asset_id: str) -> Asset:
        """Upload `path` as `asset_id`, or accept the identical asset already there.

        Raises PublishError. Must not overwrite a different asset with that id.
        """
        ...


def asset_id_for(task_id: str, image: bytes) -> str:
    """`{task_id}-{16 hex of sha256(image)}`: the same task and bytes, the same id."""
    digest = hashlib.sha256(image).hexdigest()[:ASSET_HASH_CHARS]
    return f"{task_id}-{digest}"


def card_asset_id_for(
    task_id: str, image: bytes, card_size: tuple[int, int], focus: tuple[float, float] | None
) -> str:
    """`{task_id}-card-{16 hex}` (the social card, daemon/publishing/socialcard.py): of the
    image's bytes, the card's size and focus, so the same card always has the same id and
    another size or focus another."""
    digest = hashlib.sha256(image)
    digest.update(f"|{card_size[0]}x{card_size[1]}|{focus}".encode())
    return f"{task_id}-card-{digest.hexdigest()[:ASSET_HASH_CHARS]}"


def md5_of(path: Path) -> str:
    """The file's MD5 hex digest: what Cloudinary reports as an asset's etag."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
