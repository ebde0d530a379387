"""Where approved images go: the CDN side of publishing.

`base` holds what every publisher shares (the Publisher protocol, Asset,
PublishError and the deterministic asset id); `local` copies into a folder,
`cloudinary` uploads with the official SDK. `make_publisher` picks one from
the config.
"""

from __future__ import annotations

from daemon.publishers.base import Asset, Publisher, PublishError, asset_id_for
from daemon.publishers.factory import make_publisher

__all__ = ["Asset", "PublishError", "Publisher", "asset_id_for", "make_publisher"]
