"""Uploads to Cloudinary with the official SDK, at most once per asset id.

What the SDK does not do on its own, done here:
a timeout on every call; `overwrite=False` with our deterministic public id,
and an `existing` answer accepted only when size and etag (MD5) match the
local file; retries left to the caller, told apart by `retryable`: network
errors, timeouts, 420/429 and 5xx may clear, other refusals will not.

Credentials are passed per call, never through the SDK's global config, and
every message is scrubbed of the key and secret before it leaves this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import cloudinary.exceptions
import cloudinary.uploader

from daemon.publishing.publishers.base import Asset, PublishError, md5_of, unreadable

RETRYABLE_STATUS = frozenset({420, 429})
_ADVICE = {
    400: "Cloudinary refused the upload as malformed",
    401: "Cloudinary refused the credentials: check CLOUDINARY_URL / publishing.cloudinary.url",
    403: "Cloudinary does not allow this upload for these credentials",
    404: "Cloudinary does not know this cloud name: check the URL's @CLOUD_NAME part",
}


class CloudinaryPublisher:
    name = "cloudinary"

    def __init__(self, url: str, *, folder: str, upload_prefix: str | None, timeout: float) -> None:
        parts = urlsplit(url)
        self._cloud = parts.hostname or ""
        self._key = unquote(parts.username or "")
        self._secret = unquote(parts.password or "")
        self.folder = folder
        self.upload_prefix = upload_prefix
        self.timeout = timeout

    def upload(self, path: Path, asset_id: str) -> Asset:
        options: dict[str, Any] = {
            "public_id": asset_id,
            "folder": self.folder,
            "overwrite": False,
            "unique_filename": False,
            "use_filename": False,
            "resource_type": "image",
            "timeout": self.timeout,
            "return_error": True,  # HTTP errors come back with their status code
            "cloud_name": self._cloud,
            "api_key": self._key,
            "api_secret": self._secret,
        }
        if self.upload_prefix:
            options["upload_prefix"] = self.upload_prefix
        try:
            answer = cloudinary.uploader.upload(str(path), **options)
        except cloudinary.exceptions.Error as exc:  # network, timeout, unreadable answer
            raise PublishError(
                self._clean(f"cannot reach Cloudinary: {exc}"), retryable=True
            ) from None
        except OSError as exc:  # the local file (the SDK wraps socket errors in its Error)
            raise unreadable(path, exc) from None
        if "error" in answer:
            raise self._refusal(answer["error"])
        if answer.get("existing"):
            self._check_same(path, answer)
        return Asset(
            asset_id=str(answer.get("public_id", asset_id)),
            url=str(answer["secure_url"]),
            existed=bool(answer.get("existing")),
        )

    def _refusal(self, error: dict[str, Any]) -> PublishError:
        status = int(error.get("http_code") or 0)
        message = self._clean(str(error.get("message", "no message")))
        retryable = status in RETRYABLE_STATUS or status >= 500 or status == 0
        advice = _ADVICE.get(status, "Cloudinary refused the upload")
        if retryable:
            advice = "Cloudinary is busy or failing"
        return PublishError(f"{advice} ({status}): {message}", retryable=retryable)

    @staticmethod
    def _check_same(path: Path, answer: dict[str, Any]) -> None:
        size_ok = answer.get("bytes") == path.stat().st_size
        etag = answer.get("etag")
        if size_ok and (etag is None or etag == md5_of(path)):
            return  # an earlier attempt's upload: this one's, in effect
        raise PublishError(
            f"Cloudinary already has {answer.get('public_id')} with different content; "
            "not overwriting it",
            retryable=False,
        )

    def _clean(self, text: str) -> str:
        for secret in (self._secret, self._key):
            if secret:
                text = text.replace(secret, "***")
        return text
