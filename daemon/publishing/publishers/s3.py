"""Uploads to an S3 bucket (AWS, Cloudflare R2, MinIO, Backblaze B2) with boto3, at most once.

The object key is `{prefix}{asset_id}.png`, and the asset id comes from the
task and the image's bytes, so every retry asks for the same key. Before
writing, a HEAD says whether an earlier attempt already stored it: the same
bytes (our sha256 metadata, else the MD5 ETag of a single PUT, and the size)
count as this upload, anything else is never overwritten. The PUT itself is
conditional (`If-None-Match: *`), so even a writer racing us between the HEAD
and the PUT cannot be overwritten; a 412 answer means "look again".

Retries of throttling, 5xx and network errors are botocore's own "standard"
mode (jittered exponential backoff) within one attempt, then the publish
worker's backoff between attempts; `retryable` tells them apart from the
errors that need a person (credentials, a missing bucket), whose messages
say what to fix. Credentials come from boto3's usual chain and are never
part of a message.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from daemon.publishing.publishers.base import Asset, PublishError, md5_of, unreadable
from gladtui.config import S3Config

ATTEMPTS_PER_UPLOAD = 3  # botocore's retries inside one attempt of the publish job
SHA256_METADATA = "sha256"
_RETRYABLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError"}
)
_NETWORK_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
)


class S3Publisher:
    name = "s3"

    def __init__(self, settings: S3Config) -> None:
        if not settings.bucket:
            raise ValueError("publishing.s3.bucket is required")
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.cache_control = settings.cache_control
        self.endpoint_url = settings.endpoint_url
        self.public_base_url = settings.public_base_url
        session = boto3.session.Session(profile_name=settings.profile)
        self.region = settings.region or session.region_name
        self._client: Any = session.client(
            "s3",
            region_name=self.region,
            endpoint_url=settings.endpoint_url,
            config=botocore.config.Config(
                connect_timeout=settings.timeout_seconds,
                read_timeout=settings.timeout_seconds,
                retries={"mode": "standard", "total_max_attempts": ATTEMPTS_PER_UPLOAD},
            ),
        )

    def key_for(self, asset_id: str, path: Path) -> str:
        return f"{self.prefix}{asset_id}{path.suffix}"

    def upload(self, path: Path, asset_id: str) -> Asset:
        key = self.key_for(asset_id, path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise unreadable(path, exc) from None
        digest = hashlib.sha256(data).hexdigest()
        if self._stored(key, path, digest):
            return Asset(asset_id=key, url=self.url_for(key), existed=True)
        try:
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                CacheControl=self.cache_control,
                Metadata={SHA256_METADATA: digest},
                IfNoneMatch="*",  # never replace an object, even one written since the HEAD
            )
        except botocore.exceptions.ClientError as exc:
            if _status(exc) != 412:
                raise self._failure(exc, "store") from None
            if not self._stored(key, path, digest):  # lost a race to a different object
                raise self._different(key) from None
            return Asset(asset_id=key, url=self.url_for(key), existed=True)
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise self._failure(exc, "store") from None
        return Asset(asset_id=key, url=self.url_for(key))

    def url_for(self, key: str) -> str:
        """The post's image URL: under the CDN when one is configured, else the bucket's."""
        if self.public_base_url:
            return f"{self.public_base_url.rstrip('/')}/{key}"
        if self.endpoint_url:  # path style: what MinIO and most compatible services serve
            return f"{self.endpoint_url.rstrip('/')}/{self.bucket}/{key}"
        region = self.region or "us-east-1"
        return f"https://{self.bucket}.s3.{region}.amazonaws.com/{key}"

    def _stored(self, key: str, path: Path, digest: str) -> bool:
        """True when `key` already holds these bytes; False when it is absent."""
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if _status(exc) == 404:  # no such object (a missing bucket is told by the PUT)
                return False
            raise self._failure(exc, "check") from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise self._failure(exc, "check") from None
        if _same_bytes(head, path, digest):
            return True
        raise self._different(key)

    def _different(self, key: str) -> PublishError:
        return PublishError(
            f"s3://{self.bucket}/{key} already holds a different image; not overwriting it",
            retryable=False,
        )

    def _failure(self, exc: Exception, doing: str) -> PublishError:
        where = f"s3://{self.bucket}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            return PublishError(
                "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "in the daemon's environment, publishing.s3.profile, or an instance role",
                retryable=False,
            )
        if isinstance(exc, botocore.exceptions.ProfileNotFound):
            return PublishError(f"publishing.s3.profile: {exc}", retryable=False)
        if isinstance(exc, _NETWORK_ERRORS):
            return PublishError(f"cannot reach {where} to {doing} the image: {exc}", retryable=True)
        if isinstance(exc, botocore.exceptions.ClientError):
            return _refusal(exc, where, self.bucket)
        return PublishError(f"cannot {doing} the image in {where}: {exc}", retryable=True)


def _refusal(exc: botocore.exceptions.ClientError, where: str, bucket: str) -> PublishError:
    status, code = _status(exc), str(exc.response.get("Error", {}).get("Code", ""))
    message = str(exc.response.get("Error", {}).get("Message", "")) or code or "no message"
    if status == 429 or status >= 500 or code in _RETRYABLE_CODES:
        return PublishError(f"{where} is busy or failing ({status} {code})", retryable=True)
    advice = {
        "NoSuchBucket": f"the bucket {bucket!r} does not exist: create it, or fix "
        "publishing.s3.bucket (and endpoint_url for R2, MinIO or B2)",
        "InvalidAccessKeyId": "S3 does not know the access key: check AWS_ACCESS_KEY_ID "
        "(or the profile's aws_access_key_id)",
        "SignatureDoesNotMatch": "S3 refused the secret key: check AWS_SECRET_ACCESS_KEY "
        "(or the profile's aws_secret_access_key)",
    }.get(code)
    if advice is None and status == 403:  # a HEAD's 403 carries no code: say both causes
        advice = (
            f"S3 refused access to {where}: check the credentials (AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or the profile) and that they allow s3:GetObject and "
            "s3:PutObject on the bucket"
        )
    return PublishError(f"{advice or message} ({status} {code})", retryable=False)


def _status(exc: botocore.exceptions.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _same_bytes(head: dict[str, Any], path: Path, digest: str) -> bool:
    if head.get("ContentLength") != path.stat().st_size:
        return False
    recorded = head.get("Metadata", {}).get(SHA256_METADATA)
    if recorded is not None:
        return bool(recorded == digest)
    # No metadata (written by another tool): a single PUT's ETag is the MD5.
    return bool(str(head.get("ETag", "")).strip('"') == md5_of(path))
