"""The daemon's API from the reviewer's side: HTTP/JSON over its Unix socket.

Built on the standard library only (`http.client` on an AF_UNIX socket). The
CLI must start fast: httpx costs about 0.2 s of import, which is 40% of the
0.5 s budget for `gladtui tasks --json` with 10,000 tasks. Do not import httpx
here.

Every request opens its own connection, so one `Client` may be shared by
threads (the TUI calls it from Textual thread workers). A connection over a
local socket costs microseconds; keep-alive would buy nothing worth a lock.

Failures are two kinds (gladtui/clienterrors.py): `DaemonUnreachable` (no
daemon to talk to; the message says how to start one) and `ApiError` (the
daemon answered and refused).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, cast
from urllib.parse import quote, urlencode

from gladtui.clienterrors import ApiError, ClientError, DaemonUnreachable
from gladtui.eventstream import EventStream
from gladtui.shapes import ErrorCode, RejectRequest, thumbnail_step

if TYPE_CHECKING:
    from gladtui.config import Config
    from gladtui.shapes import (
        ActionJSON,
        GenerateRequest,
        PostPageJSON,
        StatsJSON,
        StatusJSON,
        TaskJSON,
        TaskPageJSON,
    )


__all__ = [
    "START_HINT",
    "ApiError",
    "Client",
    "ClientError",
    "DaemonUnreachable",
    "UnixHTTPConnection",
    "client_for",
]

START_HINT = (
    "start it with `gladtui daemon` in a terminal (with the same --config), "
    "or `systemctl --user start gladtui` for the service"
)


@dataclass(frozen=True)
class Remote:
    """A daemon on another host, its socket forwarded to this one (`gladtui --ssh`)."""

    host: str  # as given to --ssh: alice@review.example.com:2222
    socket: str  # the daemon's socket there

    @property
    def start_hint(self) -> str:
        return (
            f"start it on {self.host}: `gladtui daemon` in a terminal there, or "
            "`systemctl --user start gladtui` for the service there"
        )


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client on the daemon's Unix socket (the Host header says `localhost`)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path
        self._connect_timeout = timeout

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._connect_timeout)
            _connect(sock, self._path, self._connect_timeout)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _connect(sock: socket.socket, path: Path, timeout: float) -> None:
    """Connect, waiting while the daemon's backlog is full.

    With a timeout set, a Unix socket whose listen queue is full refuses at
    once with EAGAIN instead of waiting (Linux): try again until the timeout.
    """
    deadline, pause = time.monotonic() + timeout, 0.001
    while True:
        try:
            sock.connect(str(path))
            return
        except BlockingIOError:
            if time.monotonic() + pause > deadline:
                raise TimeoutError(f"{path}: the daemon's connection queue stayed full") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


P = ParamSpec("P")


def _decoded_page(raw: Callable[P, bytes]) -> Callable[P, TaskPageJSON]:
    """`raw` with its answer decoded, so `tasks` and `tasks_raw` share one signature."""

    def decoded(*args: P.args, **kwargs: P.kwargs) -> TaskPageJSON:
        return cast("TaskPageJSON", _decode(raw(*args, **kwargs)))

    return decoded


class Client:
    """Synchronous API calls. Each returns the parsed body (shapes of gladtui/shapes.py)."""

    def __init__(
        self, socket_path: Path, timeout: float = 30.0, *, remote: Remote | None = None
    ) -> None:
        """`remote`: the daemon is on another host, `socket_path` a forward to it."""
        self.socket_path = Path(socket_path)
        self.timeout = timeout
        self.remote = remote

    @property
    def start_hint(self) -> str:
        """How to start the daemon this client talks to: here, or on the remote host."""
        return START_HINT if self.remote is None else self.remote.start_hint

    # -- reading ---------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return cast("dict[str, Any]", self._json("GET", "/api/health"))

    def status(self) -> StatusJSON:
        return cast("StatusJSON", self._json("GET", "/api/status"))

    def stats(self, since: str | None = None) -> StatsJSON:
        """The review desk's figures; `since`: `7d`, `12h`, an ISO time (None: all)."""
        query = "" if since is None else f"?{urlencode({'since': since})}"
        return cast("StatsJSON", self._json("GET", f"/api/stats{query}"))

    def tasks_raw(
        self,
        status: Sequence[str] | None = None,
        query: str | None = None,
        limit: int = 100,
        offset: int = 0,
        *,
        undoable: bool = False,
        keep: str | None = None,
    ) -> bytes:
        """A page of tasks, the `GET /api/tasks` body as sent: the documented `tasks --json`
        output. `undoable`: with the decisions still in their grace period; `keep`: with
        this task whatever the filter (the one under a reviewer's cursor)."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = ",".join(status)
        if query:
            params["q"] = query
        if undoable:
            params["undoable"] = "true"
        if keep:
            params["keep"] = keep
        return self._request("GET", f"/api/tasks?{urlencode(params)}")

    tasks = _decoded_page(tasks_raw)  # the same page decoded, with the same parameters

    def task(self, task_id: str) -> TaskJSON:
        return cast("TaskJSON", self._json("GET", _task_url(task_id)))

    def image(self, task_id: str, index: int) -> bytes:
        """Variation `index`'s PNG, the bytes as they are on the daemon's disk."""
        return self._request("GET", f"{_task_url(task_id)}/variations/{index}/image")

    def thumbnail(self, task_id: str, index: int, width: int) -> bytes:
        """Variation `index` as a PNG at least `width` pixels wide, or the image itself.

        `width` is rounded up to the daemon's step (shapes.THUMBNAIL_WIDTHS), so
        every reviewer asks for the same few widths and shares its cache.
        """
        step = thumbnail_step(width)
        url = f"{_task_url(task_id)}/variations/{index}/thumbnail?width={step}"
        return self._request("GET", url)

    def preview(self, task_id: str, index: int) -> tuple[bytes, str]:
        """The live preview of variation `index` being generated: (PNG, "12/30").

        ApiError 404 before its first preview and once the variation is final.
        """
        url = f"{_task_url(task_id)}/variations/{index}/preview"
        connection = self._connection()
        try:
            response = self._send(connection, "GET", url, None, {})
            data = self._read(response)
        finally:
            connection.close()
        if response.status != 200:
            raise _api_error(response.status, response.reason, data)
        return data, response.getheader("Preview-Step") or ""

    def posts(self, limit: int = 100, offset: int = 0) -> PostPageJSON:
        query = urlencode({"limit": limit, "offset": offset})
        return cast("PostPageJSON", self._json("GET", f"/api/posts?{query}"))

    # -- acting ----------------------------------------------------------------------

    def submit(self, data: bytes, name: str) -> ActionJSON:
        """A task file's bytes; `changed` is false when the same content made a task before."""
        url = f"/api/tasks?{urlencode({'name': name})}"
        return self._action(url, data, "application/yaml")

    def approve(self, task_id: str, variation: int) -> ActionJSON:
        return self._act(task_id, "approve", {"variation": variation})

    def reject(
        self,
        task_id: str,
        prompt: str | None = None,
        keep_files: bool = False,
        *,
        again: bool = False,
        reasons: Sequence[str] = (),
    ) -> ActionJSON:
        """Reject; a new round with `prompt` (a new one) or `again` (the same one), with
        what the `reasons` (review.reject_reasons names) add to its prompts."""
        request = RejectRequest(prompt, again, tuple(reasons), keep_files)
        return self._act(task_id, "reject", request.body())

    def generate(self, task_id: str, request: GenerateRequest) -> ActionJSON:
        return self._act(task_id, "generate", request.body())

    def cancel(self, task_id: str) -> ActionJSON:
        return self._act(task_id, "cancel", {})

    def undo(self, task_id: str) -> ActionJSON:
        """Take back an approval or rejection still waiting out its grace period."""
        return self._act(task_id, "undo", {})

    # -- the event stream ------------------------------------------------------------

    def events(self, since: int | None = None, timeout: float | None = None) -> EventStream:
        """Server-sent events from `since` on (None: from now). Iterate; close when done.

        `timeout` bounds the wait for any line: the daemon sends a heartbeat every
        `api.heartbeat_seconds`, so a timeout above that turns a dead daemon into
        `DaemonUnreachable`. None waits for ever.
        """
        headers = {"Accept": "text/event-stream"}
        if since is not None:
            headers["Last-Event-ID"] = str(since)
        connection = self._connection()
        try:
            response = self._send(connection, "GET", "/api/events", None, headers)
            if not 200 <= response.status < 300:
                raise _api_error(response.status, response.reason, response.read())
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
        except BaseException:
            connection.close()
            raise
        return EventStream(self.unreachable, connection, response, since, timeout)

    # -- plumbing --------------------------------------------------------------------

    def _act(self, task_id: str, action: str, body: Mapping[str, object]) -> ActionJSON:
        data = json.dumps(body).encode()
        return self._action(f"{_task_url(task_id)}/{action}", data, "application/json")

    def _action(self, url: str, data: bytes, content_type: str) -> ActionJSON:
        body = self._request("POST", url, data, {"Content-Type": content_type})
        return cast("ActionJSON", _decode(body))

    def _json(self, method: str, url: str) -> Any:
        return _decode(self._request(method, url))

    def _request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        connection = self._connection()
        try:
            response = self._send(connection, method, url, body, headers or {})
            data = self._read(response)
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            raise _api_error(response.status, response.reason, data)
        return data

    def _connection(self) -> UnixHTTPConnection:
        return UnixHTTPConnection(self.socket_path, self.timeout)

    def _send(
        self,
        connection: UnixHTTPConnection,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
    ) -> http.client.HTTPResponse:
        try:
            try:
                connection.request(method, url, body=body, headers=headers)
            except (BrokenPipeError, ConnectionResetError) as exc:
                # The daemon may answer before it has the whole request, then close:
                # a refusal (503, too many connections) or a body announced too large.
                # Its answer is waiting to be read; without one, this is the error.
                return self._answer_after(connection, exc)
            return connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise self.unreachable(exc) from exc

    def _answer_after(
        self, connection: UnixHTTPConnection, failed: OSError
    ) -> http.client.HTTPResponse:
        try:
            return connection.getresponse()
        except (OSError, http.client.HTTPException):
            raise failed from None

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        try:
            return response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise self.unreachable(exc) from exc

    def unreachable(self, exc: BaseException, timeout: float | None = None) -> ClientError:
        """The error to raise for a failure of the socket or of the HTTP framing."""
        path, waited = self.socket_path, self.timeout if timeout is None else timeout
        if isinstance(exc, PermissionError):  # starting a daemon would not help
            return DaemonUnreachable(
                f"permission denied on {path}: the socket belongs to another user; "
                "join its reviewers' group (api.group) and log in again, run gladtui as "
                "the daemon's user, or use your own daemon's socket path"
            )
        if isinstance(exc, http.client.HTTPException) and not isinstance(
            exc, http.client.RemoteDisconnected | http.client.IncompleteRead
        ):
            return ClientError(f"{path} did not answer in HTTP: {exc!r}")
        if isinstance(exc, FileNotFoundError):
            why = f"no daemon is running: {path} does not exist"
        elif isinstance(exc, ConnectionRefusedError):
            why = f"no daemon is listening on {path} (a socket left by a daemon that stopped)"
        elif isinstance(exc, TimeoutError):
            why = f"the daemon on {path} did not answer within {waited:g} s"
        elif isinstance(exc, ConnectionError | http.client.HTTPException):
            why = f"the daemon on {path} closed the connection"
        else:
            why = f"cannot reach the daemon on {path}: {exc}"
        if self.remote is not None:  # the path is a private forward: name the far end
            why = (
                f"no daemon answers at {self.remote.socket} on {self.remote.host} "
                f"(through ssh; here: {why})"
            )
        return DaemonUnreachable(f"{why}; {self.start_hint}")


def _task_url(task_id: str) -> str:
    return f"/api/tasks/{quote(task_id, safe='')}"


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise ClientError(f"the daemon answered with invalid JSON: {body[:200]!r}") from None


def _api_error(status: int, reason: str, body: bytes) -> ApiError:
    """`{"error": {"status", "code", "message"}}`, else the status line."""
    unexplained = ApiError(
        status, ErrorCode.HTTP_ERROR, f"the daemon answered {status} {reason}".rstrip()
    )
    try:
        error = json.loads(body)["error"]
        code, message = error["code"], error["message"]
    except (ValueError, TypeError, KeyError):
        return unexplained
    if not isinstance(code, str) or not isinstance(message, str):
        return unexplained
    return ApiError(status, code, message)


def client_for(config: Config, socket: Path | None = None, remote: Remote | None = None) -> Client:
    """A client for the daemon that `config` describes, or the one on `socket`
    (a forwarded socket, `gladtui --ssh`: `remote` says where it leads)."""
    return Client(config.socket_path() if socket is None else socket, remote=remote)
