"""What the page may ask the daemon, and the pass-through that asks it.

Only the routes the page uses pass (ALLOWED): reading tasks, status, pictures,
previews and the event stream, and the five decisions. Submitting files, the
media endpoint, the posts and the API's description stay on the socket. The
request goes to the daemon's socket (the local one or the one ssh forwards),
so the daemon's peer check sees the reviewer's own user. Answers stream back
chunk by chunk as they arrive: the event stream is never held in a buffer.
"""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
from aiohttp import web

TASK = r"/api/tasks/[A-Za-z0-9._-]+"
VARIATION = TASK + r"/variations/[0-9]+/(?:image|thumbnail|preview)"
ALLOWED: dict[str, re.Pattern[str]] = {
    "GET": re.compile(rf"/api/(?:health|status|tasks|events)|{TASK}|{VARIATION}"),
    "POST": re.compile(rf"{TASK}/(?:approve|reject|generate|cancel|undo)"),
}
# Headers that carry meaning through: caching, the stream's position, the body's type.
REQUEST_HEADERS = ("Accept", "Content-Type", "If-None-Match", "Last-Event-ID")
ANSWER_HEADERS = ("Content-Type", "ETag", "Cache-Control", "Last-Modified")
MAX_BODY = 64 * 1024  # a decision's JSON is a few hundred bytes


def allowed(method: str, path: str) -> bool:
    pattern = ALLOWED.get(method)
    return pattern is not None and pattern.fullmatch(path) is not None


class Passthrough:
    """One aiohttp session on the daemon's Unix socket, shared by all requests."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self._session: aiohttp.ClientSession | None = None

    async def start(self, _app: web.Application) -> None:
        # No overall timeout: the event stream stays open as long as the page does.
        timeout = aiohttp.ClientTimeout(total=None, connect=10)
        connector = aiohttp.UnixConnector(path=str(self.socket))
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)

    async def close(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not allowed(request.method, request.path):
            raise web.HTTPNotFound(text="not a route of the review page\n")
        assert self._session is not None, "started with the app"
        body = await request.content.read(MAX_BODY + 1) if request.can_read_body else None
        if body is not None and len(body) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(body))
        headers = {k: request.headers[k] for k in REQUEST_HEADERS if k in request.headers}
        try:
            upstream = await self._session.request(
                request.method,
                f"http://localhost{request.rel_url}",
                data=body,
                headers=headers,
                allow_redirects=False,
                auto_decompress=False,
            )
        except (aiohttp.ClientConnectionError, OSError):
            return unreachable()
        async with upstream:
            return await _relay(request, upstream)


async def _relay(request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
    answer = web.StreamResponse(status=upstream.status)
    for name in ANSWER_HEADERS:
        if name in upstream.headers:
            answer.headers[name] = upstream.headers[name]
    if upstream.content_type == "text/event-stream":
        answer.headers["Cache-Control"] = "no-cache"
    elif upstream.content_length is not None:
        answer.content_length = upstream.content_length
    await answer.prepare(request)
    try:
        async for chunk in upstream.content.iter_any():
            await answer.write(chunk)
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
        return answer  # the daemon went away mid-answer: the browser sees the end
    await answer.write_eof()
    return answer


def unreachable() -> web.Response:
    """The daemon is not there: the page shows it and tries again (as the TUI does)."""
    return web.json_response(
        {
            "error": {
                "status": 502,
                "code": "unreachable",
                "message": "the daemon does not answer on its socket",
            }
        },
        status=502,
    )
