"""The embedded publisher: copies the image into a folder, served under a base URL.

Needs no account, so it is the default and what the demo and tests use. The
copy lands under its asset id with a hard link from a temp file, which never
replaces an existing file: a second attempt finds the first one's copy and
accepts it when the bytes match.
"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

from daemon.publishing.publishers.base import Asset, PublishError, unreadable
from gladtui.atomicfiles import write_atomically
from gladtui.filemodes import PUBLIC_FILE, PUBLIC_FOLDER, make_folders


class LocalPublisher:
    name = "local"

    def __init__(self, folder: Path, base_url: str | None) -> None:
        self.folder = folder
        self.base_url = base_url.rstrip("/") if base_url else None

    def url_of(self, target: Path) -> str:
        return f"{self.base_url}/{target.name}" if self.base_url else target.as_uri()

    def upload(self, path: Path, asset_id: str) -> Asset:
        target = self.folder / f"{asset_id}{path.suffix}"
        try:
            # Served by a web server of another user, and published: open to all.
            make_folders(self.folder, PUBLIC_FOLDER)
            existed = not self._place(path, target)
        except OSError as exc:
            if exc.filename == str(path) or not path.exists():  # the approved image itself
                raise unreadable(path, exc) from exc
            # disk full, permissions, a folder removed meanwhile: may clear, so retry
            where = exc.filename or self.folder
            raise PublishError(f"cannot copy to {where}: {exc.strerror}", retryable=True) from exc
        return Asset(asset_id=asset_id, url=self.url_of(target), existed=existed)

    def _place(self, path: Path, target: Path) -> bool:
        """Copy `path` to `target`; False if an identical copy was already there."""
        if target.exists():
            return self._same_or_refuse(path, target)
        with path.open("rb") as source:
            try:
                # 0644: served to the world; never replaces a file that appears meanwhile.
                write_atomically(
                    target,
                    lambda out: shutil.copyfileobj(source, out),
                    overwrite=False,
                    permissions=PUBLIC_FILE,
                )
            except FileExistsError:
                return self._same_or_refuse(path, target)
        return True

    @staticmethod
    def _same_or_refuse(path: Path, target: Path) -> bool:
        if filecmp.cmp(path, target, shallow=False):
            return False
        raise PublishError(
            f"{target} already exists with different content; not overwriting it",
            retryable=False,
        )
