"""The API's Unix socket: created private, a stale one replaced, peers identified.

- The folder is created 0700 and the socket is bound under umask 0177, so
  the socket is 0600 from the moment it exists (a chmod afterwards would leave
  a moment when anyone could connect). `bind_socket` runs before the daemon
  starts any thread that writes files, since umask is process-wide.
- A socket file left by a daemon that was killed is replaced; one that a live
  daemon answers on is not (two daemons would fight over one database).
- `peer_uid` reads the connecting process's uid from the kernel (SO_PEERCRED),
  which a client cannot forge.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import socket
import stat
import struct
from collections.abc import Iterable
from pathlib import Path

MAX_PATH_BYTES = 107  # sun_path is 108 bytes with its terminating NUL
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class SocketError(Exception):
    """The socket cannot be set up; the message says why and what to do."""


def bind_socket(path: Path, backlog: int = 128) -> socket.socket:
    """A listening AF_UNIX socket at `path`, mode 0600, in a folder that exists."""
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        raise SocketError(
            f"the socket path {path} is {len(os.fsencode(path))} bytes long; Unix sockets "
            f"allow {MAX_PATH_BYTES}. Set `socket:` in the config to a shorter path"
        )
    _make_folder(path.parent)
    _remove_if_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise SocketError(f"cannot create the socket {path}: {exc.strerror}") from exc
    finally:
        os.umask(previous)
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def _make_folder(folder: Path) -> None:
    """Create the folder 0700 if missing. An existing folder is left as its owner made it."""
    previous = os.umask(0o077)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SocketError(f"cannot create the socket's folder {folder}: {exc.strerror}") from exc
    finally:
        os.umask(previous)


def _remove_if_stale(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SocketError(
            f"{path} exists and is not a socket; move it away or set `socket:` to another path"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.ENOENT):
            raise SocketError(f"cannot check the existing socket {path}: {exc}") from exc
    else:
        raise SocketError(
            f"another gladtui daemon is already listening on {path}; stop it first "
            "(or give this one its own `socket:` and database)"
        )
    finally:
        probe.close()
    # Nobody listens: a daemon was killed before it could clean up.
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def remove_socket(path: Path) -> None:
    """Remove the socket file at shutdown (only a socket: never a file put there since)."""
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process on the other end of a connected Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    _pid, uid, _gid = _PEERCRED.unpack(raw)
    return int(uid)


def resolve_users(users: Iterable[int | str]) -> frozenset[int]:
    """Config `api.allowed_users` (uids or names) as uids; an unknown name is an error."""
    uids = set()
    for user in users:
        if isinstance(user, int):
            uids.add(user)
            continue
        try:
            uids.add(pwd.getpwnam(user).pw_uid)
        except KeyError:
            raise SocketError(f"api.allowed_users: there is no user named {user!r}") from None
    return frozenset(uids)
