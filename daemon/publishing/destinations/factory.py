"""The posts destination the config asks for (`publishing.posts.to`)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from daemon.publishing.destinations.base import Destination
from daemon.publishing.destinations.local import LocalDestination
from daemon.publishing.destinations.secrets import (
    DSN_ENV,
    WEBHOOK_SECRET_ENV,
    WORDPRESS_PASSWORD_ENV,
)
from gladtui.config import Config


def make_destination(config: Config, env: Mapping[str, str] | None = None) -> Destination:
    """Built, not yet checked: call `check()` before use (it connects, it reads the folder).

    Each destination's module is imported here only when chosen: psycopg, for
    one, loads only when posts go to PostgreSQL.
    """
    env = os.environ if env is None else env
    posts = config.publishing.posts
    if posts.to == "postgres":
        from daemon.publishing.destinations.postgres import PostgresDestination

        password = env.get("PGPASSWORD")
        return PostgresDestination(posts.postgres, env.get(DSN_ENV, ""), [password or ""])
    if posts.to == "markdown":
        from daemon.publishing.destinations.markdown import MarkdownDestination

        return MarkdownDestination.from_config(posts.markdown)
    if posts.to == "webhook":
        from daemon.publishing.destinations.webhook import WebhookDestination

        return WebhookDestination(posts.webhook, env.get(WEBHOOK_SECRET_ENV, ""))
    if posts.to == "wordpress":
        from daemon.publishing.destinations.wordpress import WordPressDestination

        return WordPressDestination(posts.wordpress, env.get(WORDPRESS_PASSWORD_ENV, ""))
    return LocalDestination()
