"""The folders the daemon writes, by the config key that sets each one.

Shared: the daemon proves each writable at start (daemon/service/folders.py) and
`gladtui service install --system` lists them in the unit's ReadWritePaths=
(gladtui/systemd/install.py), so the two can never disagree.
"""

from __future__ import annotations

from pathlib import Path

from gladtui.config import Config

LOCAL_CDN = "publishing.local.dir"
MARKDOWN = "publishing.posts.markdown.dir"


def written_folders(config: Config) -> dict[str, Path]:
    """Each folder the daemon writes, by the config key that sets it."""
    folders = {
        "drop_dir": config.drop_dir,
        "preview_dir": config.preview_dir,
        "state_dir": config.state_dir,
        "cache_dir": config.cache_dir,
    }
    if config.publishing.publisher == "local":
        folders[LOCAL_CDN] = config.local_cdn_dir
    posts = config.publishing.posts
    if posts.to == "markdown" and posts.markdown.dir is not None:
        folders[MARKDOWN] = posts.markdown.dir  # the static site's folder of posts
    return folders
