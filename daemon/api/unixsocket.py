"""The API's Unix socket: created private, a stale one replaced, peers identified.

- The folder is created 0700 and the socket is bound under umask 0177, so
  the socket is 0600 from the moment it exists (a chmod afterwards would leave
  a moment when anyone could connect). `bind_socket` runs before the daemon
  starts any thread that writes files, since umask is process-wide.
- With a reviewers' group (`api.group`), the folder, if the daemon owns it,
  becomes 0750 and the socket 0660, both with that group. The socket is
  given the group while still 0600 and only then opened to it, so it is never
  more open than it ends; a folder the daemon does not own is left as it is.
- A socket file left by a daemon that was killed is replaced; one that a live
  daemon answers on is not (two daemons would fight over one database).
- `peer_uid` reads the connecting process's uid from the kernel (SO_PEERCRED),
  which a client cannot forge.
"""

from __future__ import annotations

import contextlib
import errno
import grp
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


def bind_socket(path: Path, backlog: int = 128, group: int | None = None) -> socket.socket:
    """A listening AF_UNIX socket at `path`, mode 0600 (0660 with `group`'s gid)."""
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        raise SocketError(
            f"the socket path {path} is {len(os.fsencode(path))} bytes long; Unix sockets "
            f"allow {MAX_PATH_BYTES}. Set `socket:` in the config to a shorter path"
        )
    _make_folder(path.parent)
    if group is not None:
        _share_folder(path.parent, group)
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
    if group is not None:
        try:  # the group first, while the mode still shuts it out; then open to it
            os.chown(path, -1, group)
            path.chmod(0o660)
        except OSError as exc:
            sock.close()
            remove_socket(path)
            raise SocketError(f"cannot give the socket {path} to its group: {exc}") from exc
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


def _share_folder(folder: Path, group: int) -> None:
    """The daemon's own folder becomes 0750 with the group; another's is left alone."""
    info = folder.stat()
    if info.st_uid != os.geteuid():  # e.g. /tmp: not ours to change (see closed_to_group)
        return
    try:
        if info.st_gid != group:
            os.chown(folder, -1, group)
        if stat.S_IMODE(info.st_mode) != 0o750:
            folder.chmod(0o750)
    except OSError as exc:
        raise SocketError(f"cannot give the socket's folder {folder} to its group: {exc}") from exc


def closed_to_group(folder: Path, group: int) -> Path | None:
    """The first folder on the way to `folder` (itself included) a member cannot enter."""
    for step in [*reversed(folder.parents), folder]:
        try:
            info = step.stat()
        except OSError:
            return step
        mode = info.st_mode
        if not (mode & 0o001 or (info.st_gid == group and mode & 0o010)):
            return step
    return None


def socket_group(name: str | None) -> int | None:
    """`api.group` as a gid the daemon may give the socket to; SocketError saying why not."""
    if name is None:
        return None
    try:
        gid = grp.getgrnam(name).gr_gid
    except KeyError:
        raise SocketError(
            f"api.group: there is no group named {name!r}; create it "
            f"(sudo groupadd --system {name}) or correct the name"
        ) from None
    if os.geteuid() == 0 or gid == os.getegid() or gid in os.getgroups():
        return gid
    user = user_name(os.geteuid())
    raise SocketError(
        f"api.group: this daemon runs as {user}, who is not a member of {name}, so it "
        f"cannot give the socket to that group. Add it (sudo usermod -aG {name} {user}) "
        f"and start the daemon from a new login session, or under systemd set "
        f"SupplementaryGroups={name}"
    )


def user_name(uid: int) -> str:
    """The user's name, or "uid:N" when the uid has no passwd entry."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


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


def peer_credentials(sock: socket.socket) -> tuple[int, int]:
    """The (uid, gid) of the process on the other end of a connected Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    _pid, uid, gid = _PEERCRED.unpack(raw)
    return int(uid), int(gid)


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
