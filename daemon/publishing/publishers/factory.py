"""The publisher the config asks for."""

from __future__ import annotations

from daemon.publishing.destinations.base import Destination
from daemon.publishing.publishers.base import Publisher
from daemon.publishing.publishers.local import LocalPublisher
from gladtui.config import Config, ConfigError


def make_publisher(config: Config, destination: Destination | None = None) -> Publisher:
    """ConfigError when the chosen publisher cannot work (no Cloudinary credentials).

    `destination`: where posts go; the `wordpress` publisher uploads into the
    media library of that destination's site, and tells it the attachment.
    """
    publishing = config.publishing
    if publishing.publisher == "local":
        return LocalPublisher(config.local_cdn_dir, publishing.local.base_url)
    if publishing.publisher == "wordpress":
        return _wordpress_publisher(destination)
    if publishing.publisher == "s3":
        return _s3_publisher(config)
    url = config.cloudinary_url()
    if url is None:
        raise ConfigError(
            "publishing.publisher is cloudinary but there are no credentials: set "
            "CLOUDINARY_URL=cloudinary://API_KEY:API_SECRET@CLOUD_NAME in the daemon's "
            "environment, or publishing.cloudinary.url"
        )
    from daemon.publishing.publishers.cloudinary import (
        CloudinaryPublisher,  # the SDK only when used
    )

    cloudinary = publishing.cloudinary
    return CloudinaryPublisher(
        url,
        folder=cloudinary.folder,
        upload_prefix=cloudinary.upload_prefix,
        timeout=cloudinary.timeout_seconds,
    )


def _wordpress_publisher(destination: Destination | None) -> Publisher:
    from daemon.publishing.destinations.wordpress import WordPressDestination
    from daemon.publishing.publishers.wordpress import WordPressPublisher

    if not isinstance(destination, WordPressDestination):
        raise ConfigError(
            "publishing.publisher is wordpress but posts do not go to a WordPress site: set "
            "publishing.posts.to: wordpress (the image goes into that site's media library)"
        )
    return WordPressPublisher(destination)


def _s3_publisher(config: Config) -> Publisher:
    import botocore.exceptions  # boto3 only when used: it costs a third of a second

    from daemon.publishing.publishers.s3 import S3Publisher

    try:
        return S3Publisher(config.publishing.s3)
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigError(f"publishing.s3.profile: {exc}") from None


def describe_publisher(config: Config) -> str:
    """Where the publisher puts approved images, in words a reviewer can check (never a
    secret): the status JSON's `publishing.destination`, `gladtui status`'s `images:`."""
    publishing = config.publishing
    if publishing.publisher == "local":
        where = f"the local folder {config.local_cdn_dir}"
        base = publishing.local.base_url
        return f"{where}, served at {base}" if base else where
    if publishing.publisher == "s3":
        s3 = publishing.s3
        where = f"S3 bucket {s3.bucket}, prefix {s3.prefix or '(none)'}"
        where += f", at {s3.endpoint_url}" if s3.endpoint_url else ""
        return f"{where}, served at {s3.public_base_url}" if s3.public_base_url else where
    if publishing.publisher == "wordpress":
        site = publishing.posts.wordpress.url or "(no url)"
        return f"the media library of WordPress at {site.rstrip('/')}"
    url = config.cloudinary_url()
    # cloudinary://KEY:SECRET@CLOUD: only the cloud's name is shown
    cloud = url.rsplit("@", 1)[-1].split("?", 1)[0] if url else "(no credentials)"
    return f"Cloudinary cloud {cloud}, folder {publishing.cloudinary.folder}"
