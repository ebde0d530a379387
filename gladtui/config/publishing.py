"""The `publishing` section: where approved images and their posts go."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, model_validator

from gladtui.config.fields import ConfigError, ConfigPath, Section


class LocalPublisherConfig(Section):
    """publishing.publisher: local: a folder, and the URL it is served under."""

    dir: ConfigPath | None = None
    """where the local publisher copies images; null: `<state_dir>/cdn`"""
    base_url: str | None = None
    """the URL that folder is served under, e.g. `https://cdn.example.com/images`; null: `file://`
    URLs
    """


class CloudinaryConfig(Section):
    """publishing.publisher: cloudinary. Credentials: $CLOUDINARY_URL, or url below."""

    folder: str = "glad-labs"
    """the Cloudinary folder assets go into"""
    url: SecretStr | None = None
    """`cloudinary://API_KEY:API_SECRET@CLOUD_NAME`; prefer the environment variable; null:
    `$CLOUDINARY_URL`
    """
    upload_prefix: str | None = None
    """another API endpoint (a proxy, a private deployment); null: Cloudinary's API"""
    timeout_seconds: float = Field(30.0, gt=0)
    """each upload request's timeout"""

    @model_validator(mode="after")
    def _check_url(self) -> CloudinaryConfig:
        if self.url is not None:
            check_cloudinary_url(self.url.get_secret_value())
        return self


class S3Config(Section):
    """publishing.publisher: s3: a bucket on AWS or any S3-compatible service (Cloudflare R2,
    MinIO, Backblaze B2). Credentials come from the usual AWS sources: the environment
    (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), a profile in ~/.aws, or an instance role;
    they are never logged."""

    bucket: str | None = None
    """the bucket; required when the publisher is `s3`"""
    prefix: str = "glad-labs/"
    """object keys are `<prefix><task>-<hash>.png`"""
    region: str | None = None
    """the bucket's region (`auto` for R2); null: `AWS_REGION` / `~/.aws/config`"""
    endpoint_url: str | None = None
    """an S3-compatible endpoint: R2, MinIO, B2; null: AWS"""
    public_base_url: str | None = None
    """the CDN in front of the bucket; post image URLs are `<public_base_url>/<key>`; null: the
    bucket's own URL
    """
    profile: str | None = None
    """a profile of `~/.aws/credentials`; null: the default chain"""
    cache_control: str = "public, max-age=31536000, immutable"
    """the objects' `Cache-Control` (a key never changes content)"""
    timeout_seconds: float = Field(30.0, gt=0)
    """connect and read timeout of each request"""

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
    """the column of the post's title"""
    slug: ColumnName = "slug"
    """the column of its slug (the one with the UNIQUE constraint)"""
    content: ColumnName | None = "content"
    """its body (Markdown); null: left to the column's default"""
    featured_image_url: ColumnName = "featured_image_url"
    """the CDN URL of the approved image"""
    alt: ColumnName | None = None
    """the image's alt text (the task file's `alt:`, else from its title); null: not written"""
    caption: ColumnName | None = None
    """the image's caption (the task file's `caption:`, empty if none); null: not written"""
    social_image_url: ColumnName | None = None
    """the social card's URL (`publishing.social_card`; empty when off); null: not written"""
    created_at: ColumnName | None = "created_at"
    """set to `now()` on insert; null: left to the column's default"""
    updated_at: ColumnName | None = "updated_at"
    """set to `now()` on insert and update; null: left alone"""


class PostgresPostsConfig(Section):
    """The blog's own posts table. The DSN comes from the environment, never from here."""

    table: Annotated[str, AfterValidator(_table_name)] = "posts"
    """the blog's posts table (`schema.table` allowed); it needs a UNIQUE constraint on the slug
    column. The connection: `GLADTUI_POSTS_DSN`, else libpq's `PG*` variables and `~/.pgpass`
    """
    columns: PostgresColumns = PostgresColumns()
    timeout_seconds: float = Field(10.0, gt=0, le=600)
    """connecting, and each statement"""

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


IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def _image_name(value: str) -> str:
    suffix = "." + value.rpartition(".")[2].lower() if "." in value else ""
    plain = value not in ("", ".", "..") and "/" not in value and not value.startswith(".")
    if not plain or suffix not in IMAGE_FORMATS or value.lower() == "index.md":
        raise ValueError(
            f"{value!r} must be a plain file name ending in .png, .jpg, .jpeg or .webp "
            "(the format it is written in), e.g. featured.webp"
        )
    return value


def _front_matter_key(value: str | list[str]) -> str | list[str]:
    keys = [value] if isinstance(value, str) else value
    if len(keys) != 1 or not keys[0].strip():
        raise ValueError(
            f"{value!r} must be one front-matter key (image) or one key in brackets ([images]) "
            "for a list of one URL"
        )
    return value


class MarkdownPostsConfig(Section):
    """One Markdown file per post, {slug}.md with YAML front matter, for a static site
    (Hugo, Jekyll, Eleventy, Astro); or a page bundle, {slug}/index.md with the image beside it."""

    dir: ConfigPath | None = None
    """the folder of `{slug}.md` files (e.g. Hugo's `content/posts`); required when `to` is
    `markdown`
    """
    layout: Literal["file", "bundle"] = "file"
    """`file`: `{slug}.md`, the image on the CDN; `bundle`: `{slug}/index.md` with the image
    copied beside it as `image_name`, named in the front matter, so the site deploys without
    reaching the CDN (Hugo's page bundles)
    """
    file_name: Literal["slug", "date-slug"] = "slug"
    """`slug`: `{slug}.md` (a bundle: `{slug}/`); `date-slug`: the post's date first,
    `2026-12-07-{slug}.md`, as Jekyll's `_posts` want
    """
    date_key: str = Field("date", min_length=1)
    """the front-matter key of the post's date and time (Astro's blog starter: `pubDate`)"""
    image_key: Annotated[str | list[str], AfterValidator(_front_matter_key)] = "image"
    """the front-matter key that holds the image (`featured_image`, `heroImage`, …); in
    brackets, `[images]`, it holds a list of one (Hugo's `images:`)
    """
    image_name: Annotated[str, AfterValidator(_image_name)] = "featured.webp"
    """`bundle` layout: the image's file name in the bundle; its suffix says the format (png,
    jpg/jpeg, webp)
    """
    alt_key: str | None = Field("alt", min_length=1)
    """the front-matter key of the image's alt text; null: not written"""
    caption_key: str | None = Field("caption", min_length=1)
    """the front-matter key of the image's caption (empty text when the task has none; Astro's
    starter: `description`); null: not written
    """
    social_image_key: str | None = Field("og_image", min_length=1)
    """the front-matter key of the social card (`publishing.social_card`); null: not written"""


class WebhookPostsConfig(Section):
    """A signed POST of each post as JSON; the secret is $GLADTUI_WEBHOOK_SECRET."""

    url: str | None = None
    """where each post is POSTed; required when `to` is `webhook`. The signing secret:
    `GLADTUI_WEBHOOK_SECRET`
    """
    timeout_seconds: float = Field(10.0, gt=0, le=600)
    """each request's timeout"""

    @model_validator(mode="after")
    def _check_url(self) -> WebhookPostsConfig:
        if self.url is not None and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError("publishing.posts.webhook.url must be an http(s) URL")
        return self


class WordPressPostsConfig(Section):
    """A WordPress site over its REST API: the post there, the image in its media library. The
    user's Application Password comes from $GLADTUI_WORDPRESS_PASSWORD, never from here."""

    url: str | None = None
    """the site's address, e.g. `https://blog.example.com`; its REST API is found as the site
    advertises it (pretty permalinks or not); required when `to` is `wordpress`
    """
    user: str | None = None
    """the WordPress user posts are made as (an Author or above may upload images; a
    Contributor may not); required when `to` is `wordpress`
    """
    status: Literal["draft", "pending", "publish"] = "draft"
    """a new post's status: `draft` (you publish it in WordPress), `pending` (for review) or
    `publish`
    """
    categories: list[str] = Field(default_factory=list)
    """category names every new post gets; created when missing if the user may
    (`manage_categories`), else refused at start naming which
    """
    tags: list[str] = Field(default_factory=list)
    """tag names every new post gets; created when missing (as categories)"""
    social_image_meta: str | None = Field(None, min_length=1)
    """the post-meta field your SEO plugin reads the social card's URL from
    (`publishing.social_card`), e.g. Rank Math's `rank_math_facebook_image`, Yoast's
    `_yoast_wpseo_opengraph-image`; it must be open to the REST API (checked at start); null:
    the card stays in the media library only
    """
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    """each request's timeout (an upload included)"""

    @model_validator(mode="before")
    @classmethod
    def _no_password_here(cls, data: Any) -> Any:
        if isinstance(data, dict) and {"password", "application_password"} & set(data):
            raise ValueError(
                "the WordPress password is never read from the config file: set "
                "GLADTUI_WORDPRESS_PASSWORD (an Application Password of the user) in the "
                "daemon's environment"
            )
        return data

    @model_validator(mode="after")
    def _check_url(self) -> WordPressPostsConfig:
        if self.url is not None and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError("publishing.posts.wordpress.url must be an http(s) URL")
        return self


class PostsConfig(Section):
    """Where a published post goes; gladtui keeps its own record of each in any case."""

    to: Literal["local", "postgres", "markdown", "webhook", "wordpress"] = "local"
    """where a published post goes: `local` (only gladtui's own record), `postgres` (the blog's
    table), `markdown` (files for a static site), `webhook` (a signed POST), `wordpress` (a
    WordPress site, with `publisher: wordpress`); see [Where posts
    go](publishing.md#where-posts-go-the-blogs-postgresql-a-static-site-a-webhook)
    """
    postgres: PostgresPostsConfig = PostgresPostsConfig()
    markdown: MarkdownPostsConfig = MarkdownPostsConfig()
    webhook: WebhookPostsConfig = WebhookPostsConfig()
    wordpress: WordPressPostsConfig = WordPressPostsConfig()

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
        if self.to == "wordpress":
            for key in ("url", "user"):
                if getattr(self.wordpress, key) is None:
                    raise ValueError(
                        f"publishing.posts.wordpress.{key} is required when publishing.posts.to "
                        "is wordpress"
                    )
        return self


class PublishingConfig(Section):
    publisher: Literal["local", "cloudinary", "s3", "wordpress"] = "local"
    """`local` (copy into a folder), `cloudinary`, `s3` (AWS or any S3-compatible service), or
    `wordpress` (the media library of the site in `posts.wordpress`, with `posts.to: wordpress`)
    """
    on_duplicate_slug: Literal["suffix", "update", "skip"] = "suffix"
    """another task's post has the slug: `suffix` (`-2`), `update` (take over that post), `skip`
    (link it)
    """
    grace_seconds: float = Field(10.0, ge=0, le=86400)
    """an approval or a rejection takes effect this long after it is made; until then `u` (TUI),
    `gladtui undo TASK` or `POST /api/tasks/{id}/undo` puts the task back in review as it was;
    `0`: at once
    """
    delete_local_after_publish: bool = False
    """remove the published image's preview once the post exists"""
    max_attempts: int = Field(5, ge=1, le=100)
    """uploads retried on network errors, 420/429 and 5xx up to this many times"""
    retry_base_seconds: float = Field(2.0, gt=0, le=3600)
    """first retry after about this long, doubling, with jitter"""
    local: LocalPublisherConfig = LocalPublisherConfig()
    cloudinary: CloudinaryConfig = CloudinaryConfig()
    s3: S3Config = S3Config()
    posts: PostsConfig = PostsConfig()
    social_card: Annotated[str | None, AfterValidator(_card_size)] = None
    """`WIDTHxHEIGHT`, e.g. `1200x630` (OpenGraph): a second rendition cropped around the image's
    centre (or the task file's `focus`), published beside it, its URL in the post; null: none
    """

    def social_card_size(self) -> tuple[int, int] | None:
        """`social_card` as (width, height); None when off."""
        if self.social_card is None:
            return None
        width, _, height = self.social_card.lower().partition("x")
        return int(width), int(height)

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> PublishingConfig:
        if self.publisher == "s3" and not self.s3.bucket:
            raise ValueError("publishing.s3.bucket is required when publishing.publisher is s3")
        return self

    @model_validator(mode="after")
    def _wordpress_goes_together(self) -> PublishingConfig:
        wp_posts, wp_images = self.posts.to == "wordpress", self.publisher == "wordpress"
        if wp_posts and not wp_images:
            raise ValueError(
                "publishing.posts.to is wordpress, so publishing.publisher must be wordpress: "
                "a WordPress post's featured image is an attachment in the site's own media "
                f"library (an image on {self.publisher} cannot be one without a plugin)"
            )
        if wp_images and not wp_posts:
            raise ValueError(
                "publishing.publisher is wordpress, so publishing.posts.to must be wordpress: "
                "the image goes into the media library of the site its post goes to "
                "(publishing.posts.wordpress)"
            )
        return self


_CARD_SIZE = re.compile(r"([0-9]{1,5})[xX]([0-9]{1,5})")
MAX_CARD_SIDE = 4096


def _card_size(value: str | None) -> str | None:
    if value is None:
        return None
    found = _CARD_SIZE.fullmatch(value.strip())
    sides = [int(side) for side in found.groups()] if found else []
    if not sides or not all(16 <= side <= MAX_CARD_SIDE for side in sides):
        raise ValueError(
            f"publishing.social_card must be WIDTHxHEIGHT in pixels, each 16..{MAX_CARD_SIDE}, "
            f"e.g. 1200x630 (OpenGraph's size), or null for none; got {value!r}"
        )
    return value.strip()


def check_cloudinary_url(url: str, *, source: str = "publishing.cloudinary.url") -> None:
    """`cloudinary://KEY:SECRET@CLOUD`; the message never repeats the secret."""
    parts = urlsplit(url)
    if parts.scheme != "cloudinary" or not (parts.username and parts.password and parts.hostname):
        raise ConfigError(f"{source} must look like cloudinary://API_KEY:API_SECRET@CLOUD_NAME")
