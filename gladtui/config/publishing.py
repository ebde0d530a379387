"""The `publishing` section: where approved images and their posts go."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, model_validator

from gladtui.config.fields import ConfigError, ConfigPath, Section


class LocalPublisherConfig(Section):
    dir: ConfigPath | None = None
    base_url: str | None = None


class CloudinaryConfig(Section):
    folder: str = "glad-labs"
    url: SecretStr | None = None
    upload_prefix: str | None = None
    timeout_seconds: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _check_url(self) -> CloudinaryConfig:
        if self.url is not None:
            check_cloudinary_url(self.url.get_secret_value())
        return self


class S3Config(Section):
    bucket: str | None = None
    prefix: str = "glad-labs/"
    region: str | None = None
    endpoint_url: str | None = None
    public_base_url: str | None = None
    profile: str | None = None
    cache_control: str = "public, max-age=31536000, immutable"
    timeout_seconds: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _check_urls(self) -> S3Config:
        for key in ("endpoint_url", "public_base_url"):
            value = getattr(self, key)
            if value is not None and urlsplit(value).scheme not in ("http", "https"):
                raise ValueError(f"publishing.s3.{key} must be an http(s) URL, got {value!r}")
        return self


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _column_name(value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"{value!r} is not a column name (letters, digits, _ and $)")
    return value


def _table_name(value: str) -> str:
    if not all(_IDENTIFIER.fullmatch(part) for part in value.split(".", 1)):
        raise ValueError(f"{value!r} is not a table name, e.g. posts or blog.posts")
    return value


ColumnName = Annotated[str, AfterValidator(_column_name)]


class PostgresColumns(Section):
    """Which column of the blog's table holds what; null leaves a column to its default."""

    title: ColumnName = "title"
    slug: ColumnName = "slug"
    content: ColumnName | None = "content"
    featured_image_url: ColumnName = "featured_image_url"
    created_at: ColumnName | None = "created_at"
    updated_at: ColumnName | None = "updated_at"


class PostgresPostsConfig(Section):
    """The blog's own posts table. The DSN comes from the environment, never from here."""

    table: Annotated[str, AfterValidator(_table_name)] = "posts"
    columns: PostgresColumns = PostgresColumns()
    timeout_seconds: float = Field(10.0, gt=0, le=600)

    @model_validator(mode="before")
    @classmethod
    def _no_connection_here(cls, data: Any) -> Any:
        if isinstance(data, dict) and {"dsn", "url", "password", "conninfo"} & set(data):
            raise ValueError(
                "the posts database's connection is never read from the config file (it "
                "would put a password in it): set GLADTUI_POSTS_DSN in the daemon's "
                "environment, or libpq's PG* variables and ~/.pgpass"
            )
        return data


class MarkdownPostsConfig(Section):
    dir: ConfigPath | None = None
    image_key: str = Field("image", min_length=1)


class WebhookPostsConfig(Section):
    url: str | None = None
    timeout_seconds: float = Field(10.0, gt=0, le=600)

    @model_validator(mode="after")
    def _check_url(self) -> WebhookPostsConfig:
        if self.url is not None and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError("publishing.posts.webhook.url must be an http(s) URL")
        return self


class PostsConfig(Section):
    """Where a published post goes; gladtui keeps its own record of each in any case."""

    to: Literal["local", "postgres", "markdown", "webhook"] = "local"
    postgres: PostgresPostsConfig = PostgresPostsConfig()
    markdown: MarkdownPostsConfig = MarkdownPostsConfig()
    webhook: WebhookPostsConfig = WebhookPostsConfig()

    @model_validator(mode="after")
    def _destination_is_complete(self) -> PostsConfig:
        if self.to == "markdown" and self.markdown.dir is None:
            raise ValueError(
                "publishing.posts.markdown.dir is required when publishing.posts.to is markdown"
            )
        if self.to == "webhook" and self.webhook.url is None:
            raise ValueError(
                "publishing.posts.webhook.url is required when publishing.posts.to is webhook"
            )
        return self


class PublishingConfig(Section):
    publisher: Literal["local", "cloudinary", "s3"] = "local"
    on_duplicate_slug: Literal["suffix", "update", "skip"] = "suffix"
    # An approval or a rejection takes effect this long after it is made; until
    # then it can be undone. 0: at once.
    grace_seconds: float = Field(10.0, ge=0, le=86400)
    delete_local_after_publish: bool = False
    max_attempts: int = Field(5, ge=1, le=100)
    retry_base_seconds: float = Field(2.0, gt=0, le=3600)
    local: LocalPublisherConfig = LocalPublisherConfig()
    cloudinary: CloudinaryConfig = CloudinaryConfig()
    s3: S3Config = S3Config()
    posts: PostsConfig = PostsConfig()

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> PublishingConfig:
        if self.publisher == "s3" and not self.s3.bucket:
            raise ValueError("publishing.s3.bucket is required when publishing.publisher is s3")
        return self


def check_cloudinary_url(url: str, *, source: str = "publishing.cloudinary.url") -> None:
    """`cloudinary://KEY:SECRET@CLOUD`; the message never repeats the secret."""
    parts = urlsplit(url)
    if parts.scheme != "cloudinary" or not (parts.username and parts.password and parts.hostname):
        raise ConfigError(f"{source} must look like cloudinary://API_KEY:API_SECRET@CLOUD_NAME")
