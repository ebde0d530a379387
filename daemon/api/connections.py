"""One API connection: aiohttp's HTTP protocol inside, deadlines around it.

aiohttp closes a connection only when it has been idle, after a response
(`keepalive_timeout`, here `api.idle_seconds`). A client that sends half a
request, or a body that never comes, or one byte every few seconds, held its
connection for ever; a thousand of them took every descriptor the daemon had.
`GuardedConnection` wraps aiohttp's protocol and adds:

- the head: a request's line and headers must all arrive within
  `api.header_seconds` of its first byte (of the connection, for the first
  request). A total, so a byte now and then does not keep it alive. Late:
  408 with the API's JSON error, and the connection closed.
- the body: once the head is in, the body must all arrive within
  `api.body_seconds`. Late: the handler's read fails with 408 (the API's
  error middleware answers it) and the connection is closed after that answer.
- while a handler runs with its body in (an event stream, for as long as it
  lasts), no deadline applies.

The protocol learns where a request starts and ends from `track_requests`, the
application's outermost middleware: it starts when the middleware is entered
with the parsed head, and ends when the task that runs the handler and writes
its response is done. The body's end is the request payload's `on_eof`.

aiohttp's lingering close (reading up to 10 s of a body nobody will use,
after a 403 or a 413) is turned off, so the connection is closed at once. The
answer is not lost: on a Unix socket the client reads what was sent before the
close, and gladtui's client reads it even when its own send of the body fails.

`JsonErrorsHandler` is aiohttp's protocol with its own error answers (a
request it cannot parse, a header too long) in the API's JSON rather than
plain text.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import StreamReader, web
from aiohttp.web_protocol import RequestHandler

from daemon.api.answers import Handler, encode, error_response
from daemon.api.connlimits import Slot
from daemon.api.lograte import RateLimitedLog
from gladtui.shapes import ErrorCode, ErrorJSON

log = logging.getLogger(__name__)

MAX_DETAIL = 200  # characters of a parser's message quoted back to the client


@dataclass(frozen=True)
class Deadlines:
    header: float  # api.header_seconds
    body: float  # api.body_seconds
    idle: float  # api.idle_seconds (aiohttp's keepalive_timeout)


class Phase(enum.Enum):
    HEAD = "head"  # a request's line and headers are awaited
    BODY = "body"  # its head is in, its body not yet
    BUSY = "busy"  # a handler runs with its whole request, or writes its answer
    IDLE = "idle"  # between requests: aiohttp's keep-alive timer watches


class GuardedConnection(asyncio.Protocol):
    """aiohttp's protocol for one connection, closed when a request is late.

    Everything the transport says is passed on to `inner` unchanged; `slot` is
    given back to the connection gate when the connection ends.
    """

    def __init__(
        self, inner: RequestHandler, deadlines: Deadlines, slot: Slot, notes: RateLimitedLog
    ) -> None:
        self._inner = inner
        self._deadlines = deadlines
        self._slot = slot
        self._notes = notes
        self._phase = Phase.HEAD
        self._timer: asyncio.TimerHandle | None = None
        self._payload: StreamReader | None = None
        self._transport: asyncio.Transport | None = None

    @property
    def phase(self) -> Phase:
        return self._phase

    # -- the transport's calls ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._inner.connection_made(transport)
        self._await_head()  # the first request must come in time too

    def data_received(self, data: bytes) -> None:
        if self._phase is Phase.IDLE:
            self._await_head()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        self._inner.eof_received()
        return None  # aiohttp's answer: the transport closes

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._transport = None
        self._payload = None
        self._slot.release()
        self._inner.connection_lost(exc)

    # -- from track_requests -------------------------------------------------------------

    def request_started(self, payload: StreamReader) -> None:
        self._cancel_timer()
        if payload.is_eof():
            self._phase = Phase.BUSY
            return
        self._phase = Phase.BODY
        self._payload = payload
        self._timer = asyncio.get_running_loop().call_later(
            self._deadlines.body, self._body_late, payload
        )
        payload.on_eof(lambda: self._body_in(payload))

    def request_finished(self) -> None:
        self._cancel_timer()
        self._payload = None
        if self._transport is not None:
            self._phase = Phase.IDLE

    # -- deadlines -----------------------------------------------------------------------

    def _await_head(self) -> None:
        self._cancel_timer()
        self._phase = Phase.HEAD
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._deadlines.header, self._head_late)

    def _head_late(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None or self._phase is not Phase.HEAD:
            return
        seconds = self._deadlines.header
        message = (
            f"the request's line and headers did not all arrive within {seconds:g} s "
            "(api.header_seconds); the connection is closed"
        )
        transport.write(raw_error(408, "Request Timeout", ErrorCode.TIMEOUT, message))
        transport.close()  # after the answer: close() sends what is buffered first
        self._notes.note(
            "head", f"closed an API connection whose request was not in within {seconds:g} s"
        )

    def _body_in(self, payload: StreamReader) -> None:
        if self._payload is payload and self._phase is Phase.BODY:
            self._cancel_timer()
            self._phase = Phase.BUSY

    def _body_late(self, payload: StreamReader) -> None:
        self._timer = None
        if self._payload is not payload or self._phase is not Phase.BODY:
            return
        seconds = self._deadlines.body
        # The handler reading the body gets this, and the API's error middleware
        # answers it; aiohttp then closes the connection, the body being unfinished.
        payload.set_exception(
            web.HTTPRequestTimeout(
                text=f"the request body did not all arrive within {seconds:g} s "
                "(api.body_seconds); send it faster or in smaller requests"
            )
        )
        self._notes.note(
            "body", f"cut short an API request whose body was not in within {seconds:g} s"
        )

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@web.middleware
async def track_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tell the request's GuardedConnection where the request starts and ends."""
    transport = request.transport
    guard = transport.get_protocol() if transport is not None else None
    task = asyncio.current_task()
    if isinstance(guard, GuardedConnection) and task is not None:
        guard.request_started(request.content)
        # The task runs the handler, then writes its answer: done means answered.
        task.add_done_callback(lambda _task: guard.request_finished())
    return await handler(request)


class JsonErrorsHandler(RequestHandler):
    """aiohttp's protocol, answering what it refuses itself in the API's JSON errors."""

    __slots__ = ("_notes",)

    def __init__(self, manager: web.Server, notes: RateLimitedLog, **options: Any) -> None:
        super().__init__(manager, **options)
        self._notes = notes

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp's: too late for another answer
            raise ConnectionError("the answer had begun; the connection is closed")
        if status < 500:
            detail = " ".join((message or str(exc) or "malformed").split())[:MAX_DETAIL]
            self._notes.note("malformed", f"refused a request that is not valid HTTP: {detail}")
            response = error_response(
                status, ErrorCode.MALFORMED, f"the request is not valid HTTP: {detail}"
            )
        else:
            log.error("the API failed outside its handlers", exc_info=exc)
            response = error_response(
                status, ErrorCode.INTERNAL, "the daemon failed on this request; see its log"
            )
        response.force_close()
        return response


def make_protocol(
    server: web.Server, deadlines: Deadlines, notes: RateLimitedLog
) -> Callable[[Slot], GuardedConnection]:
    """The factory of admitted connections' protocols, for daemon/api/acceptor.py."""
    loop = asyncio.get_running_loop()

    def protocol(slot: Slot) -> GuardedConnection:
        inner = JsonErrorsHandler(
            server,
            notes,
            loop=loop,
            access_log=None,  # no access log
            keepalive_timeout=deadlines.idle,
            lingering_time=0.0,
        )
        return GuardedConnection(inner, deadlines, slot, notes)

    return protocol


def raw_error(status: int, reason: str, code: ErrorCode, message: str, *extra: str) -> bytes:
    """A whole HTTP answer with the API's JSON error, for a connection aiohttp does not
    serve (refused, or late): the connection closes after it. `extra`: header lines."""
    error: ErrorJSON = {"error": {"status": status, "code": code, "message": message}}
    body = encode(error)
    head = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *extra,
        "Connection: close",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
