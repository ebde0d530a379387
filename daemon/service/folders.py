"""The folders the daemon writes, and the check at start that it can write each one.

A folder the daemon cannot write must stop it at start, naming the folder,
rather than fail every task later. Under systemd that is the usual case:
ProtectSystem=strict makes everything read-only except the folders the unit
lists in ReadWritePaths=, which `gladtui service install --system` takes from
this same list (gladtui/folders.py, used by gladtui/systemd/install.py).
"""

from __future__ import annotations

import errno
import shlex
import tempfile
from pathlib import Path

from gladtui.config import Config
from gladtui.filemodes import make_folders, open_to_others
from gladtui.folders import LOCAL_CDN, MARKDOWN, written_folders

# What a sandboxed service needs to hear when one of its folders is read-only.
SERVICE_HINT = (
    "if this is the system service, it may write only to the folders its unit lists: "
    "after changing folders in the config, run `gladtui service install --system` again"
)


# Checked by their own parts, not here: the publisher makes the CDN folder on its
# first upload; the Markdown destination refuses a folder that is missing.
CHECKED_ELSEWHERE = (LOCAL_CDN, MARKDOWN)


class FolderError(Exception):
    """A folder the daemon writes cannot be made or written; the message names it."""


def prepare_folders(config: Config) -> None:
    """Create the missing folders (0700), then prove each writable; FolderError if one is not.

    The local CDN folder is left to the publisher, which makes it on its first
    upload: a problem there is a publishing fault that can clear (retried, then
    the task fails saying why), not a reason to stop generating.
    """
    for key, folder in written_folders(config).items():
        if key in CHECKED_ELSEWHERE:
            continue
        try:
            make_folders(folder)
            # An unnamed file (O_TMPFILE): the watcher sees nothing, nothing is left.
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            reason = exc.strerror or str(exc)
            hint = f" ({SERVICE_HINT})" if exc.errno == errno.EROFS else ""
            raise FolderError(f"{key} {folder} is not writable: {reason}{hint}") from exc


def privacy_warnings(config: Config) -> list[str]:
    """What of the daemon's state other users could read, each with the chmod that closes it.

    The daemon makes these private itself; an older gladtui, a shell's umask or a
    folder made by hand may have left them open, and closing someone's folder
    behind their back is not the daemon's call: it says so at start instead.
    """
    found = []
    mode = open_to_others(config.state_dir)
    if mode is not None:
        found.append(
            f"state_dir {config.state_dir} is open to other users (mode {mode:04o}): they can "
            f"reach the database and everything in it; close it with `chmod 700 "
            f"{shlex.quote(str(config.state_dir))}`"
        )
    database = config.database_path
    for path in (database, database.with_name(f"{database.name}.wal")):
        mode = open_to_others(path)
        if mode is not None:
            what = "the database" if path == database else "the database's log"
            found.append(_open_file(what, path, mode))
    return found


def _open_file(what: str, path: Path, mode: int) -> str:
    return (
        f"{what} {path} is open to other users (mode {mode:04o}): every title and prompt "
        f"is in it; close it with `chmod 600 {shlex.quote(str(path))}`"
    )
