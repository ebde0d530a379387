"""The API's answers: JSON bodies, and every failure as its one JSON error shape.

`{"error": {"status": 409, "code": "conflict", "message": "…"}}`: the refusals
the review layer raises (ActionError and its kinds), a task file refused,
aiohttp's own errors (unknown route, method, body too large, timeouts), a
client that hung up, and anything unexpected (500, logged, no traceback sent).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from daemon.review.outcomes import ActionError
from gladtui.shapes import ErrorCode, ErrorJSON
from gladtui.taskfile import TaskFileError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_STATUS_OF_CODE = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.INVALID: 422,
    ErrorCode.REFUSED: 400,
}
_CODE_OF_STATUS = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    408: ErrorCode.TIMEOUT,
    413: ErrorCode.TOO_LARGE,
}


def error_response(status: int, code: ErrorCode, message: str) -> web.Response:
    body: ErrorJSON = {"error": {"status": status, "code": code, "message": message}}
    return json_response(body, status=status)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=encode(data), status=status, content_type="application/json")


def encode(data: Any) -> bytes:
    return orjson.dumps(data)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a JSON error body; nothing leaks a traceback to clients."""
    try:
        return await handler(request)
    except ActionError as exc:
        return error_response(_STATUS_OF_CODE.get(exc.code, 400), exc.code, str(exc))
    except TaskFileError as exc:
        return error_response(422, ErrorCode.INVALID, str(exc))
    except web.HTTPException as exc:  # aiohttp's own: unknown route, method, body too large
        return _http_error(request, exc)
    except ConnectionResetError:
        # The client hung up before its body ended (a lying Content-Length, a killed
        # client): its fault, not the daemon's, and nobody is left to read an answer.
        log.info("a client hung up during %s %s", request.method, request.path)
        message = "the connection closed before the body ended"
        return error_response(400, ErrorCode.INCOMPLETE, message)
    except Exception:
        log.exception("the API failed on %s %s", request.method, request.path)
        message = "the daemon failed on this request; see its log"
        return error_response(500, ErrorCode.INTERNAL, message)


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    code = _CODE_OF_STATUS.get(exc.status, ErrorCode.HTTP_ERROR)
    if exc.status == 404:
        return error_response(404, code, f"no such endpoint: {request.method} {request.path}")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        message = f"{request.method} is not allowed on {request.path}; use {allowed}"
        response = error_response(405, code, message)
        response.headers["Allow"] = allowed  # RFC 9110: a 405 names what is allowed
        return response
    message = exc.text if exc.text else exc.reason
    return error_response(exc.status, code, str(message).removeprefix(f"{exc.status}: "))


def size_check(limit: int) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Refuse a body announced too large at once, from its header.

    aiohttp's own limit applies while reading, so a client announcing 10 MB and
    sending nothing would hold its connection open waiting for bytes to count.
    """

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        size = request.content_length
        if size is not None and size > limit:
            response = error_response(
                413,
                ErrorCode.TOO_LARGE,
                f"the request body is {size:,} bytes; the limit is {limit:,} "
                "(api.max_request_bytes)",
            )
            response.force_close()  # the unread body must not be taken for a next request
            return response
        return await handler(request)

    return check
