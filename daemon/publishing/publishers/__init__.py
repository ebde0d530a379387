"""Where approved images go: the CDN side of publishing.

`base` holds what every publisher shares (the Publisher protocol, Asset,
PublishError and the deterministic asset id); `local` copies into a folder,
`cloudinary` uploads with the official SDK, `s3` puts objects with boto3 (AWS
and S3-compatible stores). `make_publisher` (factory.py) picks the configured
one and imports only its SDK.
"""

from __future__ import annotations

from daemon.publishing.publishers.base import (
    Asset,
    Publisher,
    PublishError,
    asset_id_for,
    card_asset_id_for,
)
from daemon.publishing.publishers.factory import make_publisher

__all__ = [
    "Asset",
    "PublishError",
    "Publisher",
    "asset_id_for",
    "card_asset_id_for",
    "make_publisher",
]
