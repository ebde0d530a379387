"""Files that appear whole or not at all, and moves that never replace a file.

The daemon and the client both write into folders someone else watches: the
drop folder (the daemon's watcher), the preview folder (the TUI, a reviewer's
file browser), failed/ (the person fixing a task file), systemd's unit folder.
None of them may ever see a half-written file under its final name, and nothing
a user made may be silently replaced. So, here and nowhere else:

- a file is written under a hidden temporary name in the same folder (the same
  filesystem, so the last step is a single rename or link), fsynced, then given
  its final name; the folder is fsynced too, so the name survives a power cut;
- a name that must not replace anything is taken with link(2): it fails with
  EEXIST where rename(2) would replace, so "is the name free?" and "take it"
  are one step and two writers racing for `x.yaml` never overwrite each other;
- "the first free name" is `x.yaml`, `x-2.yaml`, `x-3.yaml`, … (`free_names`),
  each cut to fit the folder's limit on a name (NAME_MAX, 255 bytes) with room
  for what will be added to it, so a long but legal name can always be moved.

Shared module: imports neither the daemon nor the TUI.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

# Fresh temp names: `.{final name}.gladtui-{16 hex}.tmp`. The marker and the exact
# token shape make sure remove_stray_temp_files never matches anything a user made.
_TEMP_MARKER = "gladtui-"
_TEMP_RE = re.compile(r"\A\..+\.gladtui-[0-9a-f]{16}\.tmp\Z", re.DOTALL)
# Keep temp names under NAME_MAX (255 bytes) even for long final names.
_MAX_EMBEDDED_NAME_BYTES = 200
# The longest name most filesystems take (ext4, XFS, Btrfs, tmpfs), where the
# folder cannot say its own (pathconf).
NAME_MAX = 255
# Errors from link(2) that mean "no hard link possible here", not "it failed":
# a filesystem without links (EPERM, ENOTSUP, ENOSYS), another filesystem (EXDEV),
# or a file already at its most links (EMLINK).
_CANNOT_LINK = frozenset(
    {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV, errno.EMLINK}
)
# How many of x.yaml, x-2.yaml, … are tried before giving up.
_MAX_FREE_NAMES = 100_000

# What a file is written from: its bytes, or a function writing to the open file.
Content = bytes | Callable[[BinaryIO], None]


# -- names ----------------------------------------------------------------------------------


def free_names(folder: Path, name: str, *, reserve: int = 0) -> Iterator[Path]:
    """`folder/x.yaml`, `folder/x-2.yaml`, `folder/x-3.yaml`, …: the order a free name is sought in.

    Each fits the folder's name limit with `reserve` bytes to spare (for a
    sibling such as `<name>.error.txt`): a longer one has its stem cut, on a
    character boundary, before the `-n` and the extension (fitted_name).
    Whoever looks for where a file went (daemon/intake/ingest.py, after a cut move)
    walks the same order as whoever took the name, with the same `reserve`.
    """
    limit = name_max(folder) - reserve
    yield folder / fitted_name(name, limit)
    for n in range(2, _MAX_FREE_NAMES):
        yield folder / fitted_name(name, limit, tail=f"-{n}")


def name_max(folder: Path) -> int:
    """The longest name `folder` takes, in bytes (NAME_MAX when it cannot tell)."""
    try:
        return min(os.pathconf(folder, "PC_NAME_MAX"), NAME_MAX)
    except (OSError, ValueError):  # missing folder, or a system without the query
        return NAME_MAX


def fitted_name(name: str, limit: int, *, tail: str = "") -> str:
    """`name` with `tail` before its extension, its stem cut to make it `limit` bytes at most.

    `x.yaml` with tail `-2` is `x-2.yaml`. The cut falls between characters, never
    inside one; an extension too long to keep with any stem is cut with it.
    """
    stem, suffix = Path(name).stem, Path(name).suffix
    if _byte_length(suffix + tail) >= limit:
        stem, suffix = name, ""
    return _cut(stem, limit - _byte_length(tail + suffix)) + tail + suffix


def _byte_length(text: str) -> int:
    return len(os.fsencode(text))


def _cut(text: str, limit: int) -> str:
    """The longest start of `text` of at most `limit` bytes, in whole characters."""
    if _byte_length(text) <= limit:
        return text
    kept, used = [], 0
    for ch in text:
        used += _byte_length(ch)
        if used > limit:
            break
        kept.append(ch)
    return "".join(kept)


def temp_name_for(final_name: str) -> str:
    """A fresh hidden temp name next to `final_name`: `.{final_name}.gladtui-{16 hex}.tmp`.

    Hidden and ending in `.tmp`, so watchers skip it; random, so two writers of
    the same name never share one; marked, so remove_stray_temp_files knows it.
    """
    embedded = _cut(final_name, _MAX_EMBEDDED_NAME_BYTES)
    return f".{embedded}.{_TEMP_MARKER}{secrets.token_hex(8)}.tmp"


def _replacing_temp_name(final_name: str) -> str:
    """replace_file's one temp name for `final_name`: `.{name}.tmp`, the same at every write.

    A name too long for that keeps its start and gains a hash of the whole, so
    it stays the same for one name and differs between names of the same start.
    """
    plain = f".{final_name}.tmp"
    if _byte_length(plain) <= _MAX_EMBEDDED_NAME_BYTES:
        return plain
    digest = hashlib.sha256(os.fsencode(final_name)).hexdigest()[:16]
    return f".{_cut(final_name, _MAX_EMBEDDED_NAME_BYTES)}~{digest}.tmp"


def is_temp_name(name: str) -> bool:
    """True only for names made by temp_name_for."""
    return _TEMP_RE.match(name) is not None


def remove_stray_temp_files(folder: Path) -> list[Path]:
    """Delete temp files left by a crash in `folder` (not recursive); return what was removed.

    Only names matching `.{name}.gladtui-{16 hex}.tmp` that are regular files are
    touched. Call before any writer runs in that folder: a temp file being
    written at that moment would be deleted too.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if is_temp_name(entry.name) and entry.is_file(follow_symlinks=False):
            path = Path(entry.path)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return sorted(removed)


# -- writing --------------------------------------------------------------------------------


def write_atomically(
    path: Path, content: Content, *, overwrite: bool, permissions: int | None = None
) -> None:
    """Write `path` via a hidden temp file in the same folder; never leave a partial file.

    `overwrite=False` refuses with FileExistsError when `path` exists, and never
    replaces a file that appears meanwhile. On any failure before the file has
    its name (KeyboardInterrupt too) the temp file is removed and the exception
    propagates; `path` is untouched. Only the last step, the folder's fsync, can
    fail after the complete file is already in place. The folder must exist.
    `permissions` are set exactly, whatever the umask (files others must read).
    """
    folder = path.parent
    temp_path = folder / temp_name_for(path.name)
    with _complete_temp_file(temp_path, content, permissions=permissions) as temp:
        if overwrite:
            temp.replace(path)
        else:
            publish_no_replace(temp, path)
    fsync_folder(folder)


def replace_file(path: Path, content: Content, *, permissions: int | None = None) -> None:
    """Replace `path` whole, through the one temp name `.{name}.tmp` (_replacing_temp_name).

    For small files the daemon or an installer rewrites (a refusal's reason, a
    systemd unit): a temp file left by a kill is the same name the next write
    of that file uses, so it is taken over instead of piling up. `permissions`
    are set exactly, whatever the umask (for files other users must read).
    """
    temp = path.with_name(_replacing_temp_name(path.name))
    temp.unlink(missing_ok=True)  # left by a kill; O_EXCL would refuse it
    with _complete_temp_file(temp, content, permissions=permissions):
        temp.replace(path)
    fsync_folder(path.parent)


def write_to_free_name(folder: Path, name: str, content: Content, *, mode: int = 0o666) -> Path:
    """Write a new file in `folder` under the first free one of `name`, `name-2`, …; returns it.

    The bytes are complete and fsynced before any name of `folder` shows them,
    and link(2) takes the name, so a file of the same name (a pending task file)
    is never replaced, even by a writer racing this one. `mode` is filtered by the
    umask, as for open(2).
    """
    with _complete_temp_file(folder / temp_name_for(name), content, mode=mode) as temp:
        destination = link_to_free_name(temp, folder, name)
    fsync_folder(folder)
    return destination


@contextlib.contextmanager
def _complete_temp_file(
    temp: Path, content: Content, *, mode: int = 0o666, permissions: int | None = None
) -> Iterator[Path]:
    """A new file at `temp` holding `content`, fsynced; unlinked on leaving unless renamed away.

    O_EXCL: the temp file is ours alone, never an existing file or a symlink
    planted under its name. The fsync comes before the file gets its real name,
    so a power cut can never leave that name on an empty or partial file.
    """
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        with os.fdopen(fd, "wb") as stream:
            if callable(content):
                content(stream)
            else:
                stream.write(content)
            stream.flush()
            if permissions is not None:
                os.fchmod(stream.fileno(), permissions)
            os.fsync(stream.fileno())
        yield temp
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def fsync_folder(folder: Path) -> None:
    """Make a rename or link in `folder` durable. Skipped where directories cannot be opened.

    fsync on the file saves its bytes; the new name is an entry of the folder,
    saved only by an fsync of the folder itself.
    """
    if not hasattr(os, "O_DIRECTORY"):
        return  # Windows: no directory fsync
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems (FUSE, CIFS) refuse fsync on directories
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


# -- giving a file a name that was free -----------------------------------------------------


def publish_no_replace(temp: Path, final: Path) -> None:
    """Give `temp` the name `final`, refusing with FileExistsError if `final` exists.

    link(2) fails when the name is taken; `temp` is removed once linked. Where
    links are impossible, rename_no_replace (a check, then a rename) stands in.
    """
    try:
        os.link(temp, final)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _CANNOT_LINK:
            raise
        rename_no_replace(temp, final)
        return
    temp.unlink()


def rename_no_replace(source: Path, target: Path) -> None:
    """Fallback where hard links are impossible: check, then rename.

    There is a small window between the check and the rename in which another
    writer could create `target`; only use it for folders only this process
    writes to.
    """
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    source.rename(target)


def link_to_free_name(source: Path, folder: Path, name: str, *, reserve: int = 0) -> Path:
    """Hard-link `source` into `folder` as the first free one of `name`, `name-2`, …

    `source` keeps its own name (the caller removes it). A symlink is linked as
    itself, never followed. `reserve`: as for free_names. Raises FileExistsError
    when no name is free, and the OSError of link(2) otherwise (see
    move_to_free_name for a fallback).
    """
    for candidate in free_names(folder, name, reserve=reserve):
        try:
            os.link(source, candidate, follow_symlinks=False)
        except FileExistsError:
            continue
        return candidate
    raise _no_free_name(folder, name)


def move_to_free_name(
    path: Path,
    folder: Path,
    name: str | None = None,
    *,
    reserve: int = 0,
    before_leaving: Callable[[Path], None] | None = None,
) -> Path:
    """rename(2) into `folder` (as `name`, default the same) without replacing anything there.

    Linking then unlinking makes "is the name free?" and "take it" one step; a
    plain rename would silently replace an older file of the same name. What
    cannot be linked (a directory named x.yaml, a filesystem without links) is
    renamed after an existence check instead, which has a window in which
    another writer could take the name (fine for processed/ and failed/: only
    the daemon writes there). `reserve`: as for free_names.
    `before_leaving(destination)` runs once the destination is taken, before
    the file's old name is gone.
    """
    name = name or path.name
    try:
        destination = link_to_free_name(path, folder, name, reserve=reserve)
    except OSError as exc:
        if isinstance(exc, FileExistsError) or exc.errno not in _CANNOT_LINK:
            raise
        destination = _first_unused_name(folder, name, reserve)
        if before_leaving is not None:
            before_leaving(destination)
        path.rename(destination)
        return destination
    if before_leaving is not None:
        before_leaving(destination)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return destination


def _first_unused_name(folder: Path, name: str, reserve: int) -> Path:
    for candidate in free_names(folder, name, reserve=reserve):
        if not os.path.lexists(candidate):
            return candidate
    raise _no_free_name(folder, name)


def _no_free_name(folder: Path, name: str) -> FileExistsError:
    return FileExistsError(f"no free name for {name} in {folder}")
