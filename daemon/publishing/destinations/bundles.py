"""Page bundles: `{slug}/index.md` with the image beside it, put into place whole.

A bundle is written complete in a hidden folder beside its final name
(`.gladtui-bundle-{slug}-{random}`, skipped by the slug index and by site
generators), every file and the folder fsynced, then renamed into place with
renameat2(2): RENAME_NOREPLACE for a new post (a name taken meanwhile, by a
bundle, a file or anything, refuses it), RENAME_EXCHANGE for `update` (the
old bundle and the new swap in one step, then the old one is removed). A
crash leaves either no bundle or the whole bundle; the hidden folders a
crash leaves are removed at the next start (`remove_leftovers`).

Where renameat2 is not available (a filesystem without it), a check then a
rename stands in for NOREPLACE, and two renames for EXCHANGE: a reader may
then miss the bundle for a moment, and a crash between them leaves the old
one hidden (removed at the next start) and the post to be written again.
"""

from __future__ import annotations

import ctypes
import errno
import io
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path

from PIL import Image

from gladtui.atomicfiles import fsync_folder
from gladtui.config import IMAGE_FORMATS
from gladtui.filemodes import PRIVATE_FILE, PRIVATE_FOLDER

LEFTOVER_PREFIX = ".gladtui-bundle-"
INDEX = "index.md"
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


def image_bytes(source: Path, name: str) -> bytes:
    """`source` in the format `name`'s suffix says (png, jpg/jpeg, webp), with Pillow.

    The same source gives the same bytes: a retried update writes the same image.
    WebP is written lossless: the copy shows the approved pixels, not an approximation.
    """
    form = IMAGE_FORMATS[Path(name).suffix.lower()]
    with Image.open(source) as image:
        image.load()
        converted = image.convert("RGB") if form == "JPEG" and image.mode != "RGB" else image
        out = io.BytesIO()
        options: dict[str, object] = {}
        if form == "JPEG":
            options = {"quality": 92}
        elif form == "WEBP":
            options = {"lossless": True}
        converted.save(out, form, **options)
    return out.getvalue()


def write_bundle(target: Path, files: Mapping[str, bytes], *, replace: bool) -> bool:
    """Put the bundle `files` (name → bytes) at `target`, whole; False if `target` exists
    and `replace` is not asked for.

    A replaced bundle keeps its folder's and files' modes (the site's choice) and
    every file of it that `files` does not name (a picture added by hand).
    """
    temp = target.parent / f"{LEFTOVER_PREFIX}{target.name[:64]}-{secrets.token_hex(8)}"
    old = target if replace and target.is_dir() else None
    temp.mkdir(PRIVATE_FOLDER)
    try:
        temp.chmod(_mode(old, PRIVATE_FOLDER))
        if old is not None:
            _carry_over(old, temp, files)
        for name, content in files.items():
            _write_file(temp / name, content, _mode(old / name if old else None, PRIVATE_FILE))
        fsync_folder(temp)
        if old is None:
            if not _rename_no_replace(temp, target):
                return False
        else:
            _exchange(temp, target)  # `temp` now holds the old bundle
        fsync_folder(target.parent)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return True


def remove_leftovers(folder: Path) -> list[str]:
    """Remove the hidden folders interrupted writes left in `folder`; their names."""
    removed = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(LEFTOVER_PREFIX) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.name)
    return removed


def _mode(path: Path | None, default: int) -> int:
    if path is None:
        return default
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return default


def _carry_over(old: Path, temp: Path, files: Mapping[str, bytes]) -> None:
    for entry in old.iterdir():
        if entry.name in files or entry.name.startswith(LEFTOVER_PREFIX):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, temp / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, temp / entry.name, follow_symlinks=False)


def _write_file(path: Path, content: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(content)
        stream.flush()
        os.fchmod(stream.fileno(), mode)
        os.fsync(stream.fileno())


def _renameat2(source: Path, target: Path, flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    call = getattr(libc, "renameat2", None)
    if call is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    result = call(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags)
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(target))


def _rename_no_replace(source: Path, target: Path) -> bool:
    try:
        _renameat2(source, target, _RENAME_NOREPLACE)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
        if os.path.lexists(target):
            return False
        source.rename(target)
    return True


def _exchange(source: Path, target: Path) -> None:
    """Swap `source` and `target`: `target` is the new bundle, `source` the old one."""
    try:
        _renameat2(source, target, _RENAME_EXCHANGE)
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
        aside = source.with_name(f"{source.name}-old")
        target.rename(aside)
        source.rename(target)
        aside.rename(source)
