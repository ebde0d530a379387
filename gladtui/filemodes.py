"""The modes of what gladtui creates: owner only, whatever the umask.

Task files, previews (their PNG text holds the prompt), thumbnails, posts (a
page bundle too: daemon/publishing/destinations/bundles.py) and the database
all carry what a user has not published yet, so every file the daemon writes
is 0600 and every folder it makes 0700, set exactly rather than left to the
umask (a shell's 022 made them readable by every local user).
Reviewers need none of them: they get pictures through the API.

The exceptions, each for a reader that is not the daemon's user:
- the local CDN's copies, 0644 in folders made 0755 (daemon/publishing/publishers/local.py):
  a web server serves them, and they are published;
- the socket's folder and the socket, opened to `api.group` (daemon/api/unixsocket.py);
- `gladtui submit`'s task file, 0644 less the umask (gladtui/cli/submit.py): a daemon
  of another user (the system service) must read it; the daemon closes it once it
  has moved it (daemon/intake/dropfolder.py).

Shared module: imports neither the daemon nor the TUI.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700
PUBLIC_FILE = 0o644  # the local CDN's copies only
PUBLIC_FOLDER = 0o755
# What group and others may do: nothing, for what is private.
OTHERS = 0o077


def make_folders(path: Path, mode: int = PRIVATE_FOLDER) -> None:
    """Create `path` and its missing parents, each with exactly `mode`.

    mkdir(2) filters the mode through the umask, and Path.mkdir(parents=True)
    gives the parents the umask's default, so each folder made here is chmod'ed
    to `mode` (never wider than asked at any moment: the umask only takes bits
    away). Folders that already exist are left as they are: they are someone's.
    """
    missing = []
    folder = path
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs, left alone
        folder.chmod(mode)
    if not path.is_dir():  # as mkdir(exist_ok=True): a file in the way is an error
        raise FileExistsError(errno.EEXIST, "exists and is not a folder", str(path))


def close_to_others(path: Path) -> None:
    """Take group and others' access from a regular file of ours that has any.

    For files the daemon keeps but did not write (a task file moved to
    processed/): their mode is the dropper's umask's. Not a symlink (that
    would change its target), not another user's file (chmod would fail).
    """
    try:
        found = path.lstat()
        mode = stat.S_IMODE(found.st_mode)
        if stat.S_ISREG(found.st_mode) and found.st_uid == os.geteuid() and mode & OTHERS:
            path.chmod(mode & ~OTHERS)
    except OSError:
        return  # gone, or a read-only mount: it is in a private folder all the same


def open_to_others(path: Path) -> int | None:
    """`path`'s mode if group or others have any access to it, else None (or missing)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    return mode if mode & OTHERS else None
