"""The HTTP/JSON API on the daemon's Unix socket: routes, checks, and errors as JSON.

Every answer is JSON (the event stream aside), errors included:
`{"error": {"status": 409, "code": "conflict", "message": "…"}}`. Handlers
run the store's blocking calls in threads, so a slow query or a commit
waiting for the write lock never stalls the event loop (or the event streams).

The routes, what they take and answer, are described in daemon/apidescription.py;
daemon/openapi.py makes that the OpenAPI document served at GET /api/openapi.json
and checks here, as the app is built, that the two list the same routes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from daemon import apirequests, openapi
from daemon.actions import Actions
from daemon.apiparams import flag, optional_number, whole_number
from daemon.destinations.base import Destination
from daemon.eventstream import EventStreamServer
from daemon.generator import GeneratorState
from daemon.imageserving import PictureRoutes, VariationPictures
from daemon.outcomes import ActionError, InvalidRequest, Outcome, TaskNotFound
from daemon.peers import Peers
from daemon.present import TaskViews, Widening, post_json
from daemon.previews import PreviewBoard
from daemon.previewserving import PreviewRoutes
from daemon.statusreport import status_json
from daemon.store import Store
from daemon.unixsocket import peer_credentials
from gladtui import __version__
from gladtui.config import Config
from gladtui.shapes import MAX_PAGE, ActionJSON, ErrorJSON, PostPageJSON, TaskStatus
from gladtui.taskfile import TaskFileError

log = logging.getLogger(__name__)

DEFAULT_PAGE = 100
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Who made the request, for the audit trail: the user name ("uid:N" if it has none).
ACTOR = web.RequestKey("actor", str)
_STATUS_OF_CODE = {"not_found": 404, "conflict": 409, "invalid": 422, "refused": 400}


@dataclass
class ApiContext:
    """What the handlers read and act on; built by the daemon, one per process."""

    config: Config
    store: Store
    views: TaskViews
    actions: Actions
    events: EventStreamServer
    model: GeneratorState
    destination: Destination  # where posts go
    peers: Peers  # who may connect
    socket_path: str
    started_at: datetime  # naive UTC, the store's clock
    started: float  # time.monotonic() at start, for the uptime
    previews: PreviewBoard | None = None  # live previews; None: the route answers 404


def error_response(status: int, code: str, message: str) -> web.Response:
    body: ErrorJSON = {"error": {"status": status, "code": code, "message": message}}
    return json_response(body, status=status)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=encode(data), status=status, content_type="application/json")


def encode(data: Any) -> bytes:
    return orjson.dumps(data)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a JSON error body; nothing leaks a traceback to clients."""
    try:
        return await handler(request)
    except ActionError as exc:
        return error_response(_STATUS_OF_CODE.get(exc.code, 400), exc.code, str(exc))
    except TaskFileError as exc:
        return error_response(422, "invalid", str(exc))
    except web.HTTPException as exc:  # aiohttp's own: unknown route, method, body too large
        return _http_error(request, exc)
    except ConnectionResetError:
        # The client hung up before its body ended (a lying Content-Length, a killed
        # client): its fault, not the daemon's, and nobody is left to read an answer.
        log.info("a client hung up during %s %s", request.method, request.path)
        return error_response(400, "incomplete", "the connection closed before the body ended")
    except Exception:
        log.exception("the API failed on %s %s", request.method, request.path)
        return error_response(500, "internal", "the daemon failed on this request; see its log")


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    code = {404: "not_found", 405: "method_not_allowed", 408: "timeout", 413: "too_large"}.get(
        exc.status, "http_error"
    )
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


def _size_check(limit: int) -> Callable[..., Awaitable[web.StreamResponse]]:
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
                "too_large",
                f"the request body is {size:,} bytes; the limit is {limit:,} "
                "(api.max_request_bytes)",
            )
            response.force_close()  # the unread body must not be taken for a next request
            return response
        return await handler(request)

    return check


def _peer_check(peers: Peers) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        sock = request.transport.get_extra_info("socket") if request.transport else None
        uid, gid = peer_credentials(sock) if sock is not None else (-1, -1)
        peer = peers.identify(uid, gid)
        if not peer.admitted:
            log.warning("refused an API request from %s (uid %d)", peer.name, uid)
            return error_response(403, "forbidden", peers.refusal(peer))
        request[ACTOR] = peer.name
        return await handler(request)

    return check


def build_app(ctx: ApiContext, outer: Sequence[Middleware] = ()) -> web.Application:
    """The routes and their checks; `outer`: middlewares around all of them (the
    server's connection tracking, daemon/connections.py)."""
    app = web.Application(
        middlewares=[
            *outer,
            _errors,
            _peer_check(ctx.peers),
            _size_check(ctx.config.api.max_request_bytes),
        ],
        client_max_size=ctx.config.api.max_request_bytes,
    )
    routes = Routes(ctx)
    app.add_routes(
        [
            web.get("/api/health", routes.health),
            web.get("/api/status", routes.status),
            web.get("/api/tasks", routes.tasks),
            web.post("/api/tasks", routes.submit),
            web.get("/api/tasks/{task_id}", routes.task),
            web.post("/api/tasks/{task_id}/approve", routes.approve),
            web.post("/api/tasks/{task_id}/reject", routes.reject),
            web.post("/api/tasks/{task_id}/generate", routes.generate),
            web.post("/api/tasks/{task_id}/cancel", routes.cancel),
            web.post("/api/tasks/{task_id}/undo", routes.undo),
            web.post("/api/media/generate-image-variations", routes.media_generate),
            web.get("/api/posts", routes.posts),
            web.get("/api/events", routes.events),
            web.get("/api/openapi.json", routes.openapi),
        ]
    )
    pictures = VariationPictures(
        ctx.store, ctx.config.cache_dir, ctx.config.api.thumbnail_cache_bytes()
    )
    app.add_routes(PictureRoutes(pictures).routes())
    previews = ctx.previews if ctx.previews is not None else PreviewBoard()  # empty is falsy
    app.add_routes(PreviewRoutes(previews, ctx.store).routes())
    openapi.check_routes(app)
    return app


class Routes:
    """The handlers. Each parses its input, then runs the store's work in a thread."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    async def health(self, _request: web.Request) -> web.Response:
        return json_response({"ok": True, "version": __version__})

    async def openapi(self, _request: web.Request) -> web.Response:
        body = await asyncio.to_thread(openapi.document_bytes)  # built once: pydantic's work
        return web.Response(body=body, content_type="application/json")

    async def status(self, _request: web.Request) -> web.Response:
        return json_response(await asyncio.to_thread(status_json, self.ctx))

    async def tasks(self, request: web.Request) -> web.Response:
        query = request.query
        statuses = _statuses(query.get("status", ""))
        limit = optional_number(query, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
        offset = optional_number(query, "offset", 0, 0, 2**62)
        title = query.get("q") or None
        widen = Widening(undoable=flag(query, "undoable"), keep=query.get("keep") or None)

        def page() -> bytes:  # encoding 10,000 tasks is CPU work too: off the loop
            return encode(self.ctx.views.page(statuses, title, limit, offset, widen))

        body = await asyncio.to_thread(page)
        return web.Response(body=body, content_type="application/json")

    async def task(self, request: web.Request) -> web.Response:
        task_id = request.match_info["task_id"]
        found = await asyncio.to_thread(self.ctx.views.task, task_id)
        if found is None:
            raise TaskNotFound(f"no task {task_id!r}")
        return json_response(found)

    async def submit(self, request: web.Request) -> web.Response:
        body = await request.read()
        name = request.query.get("name") or "api.yaml"
        outcome = await asyncio.to_thread(self.ctx.actions.submit, body, name, actor=request[ACTOR])
        return await self._answer(outcome, status=201 if outcome.changed else 200)

    async def approve(self, request: web.Request) -> web.Response:
        index = apirequests.approve_request(await request.read())
        return await self._act(request, self.ctx.actions.approve, index)

    async def reject(self, request: web.Request) -> web.Response:
        body = apirequests.reject_request(await request.read())
        return await self._act(
            request, self.ctx.actions.reject, prompt=body.prompt, keep_files=body.keep_files
        )

    async def generate(self, request: web.Request) -> web.Response:
        body = apirequests.generate_request(await request.read(), self.ctx.config.limits)
        return await self._act(request, self.ctx.actions.generate, body)

    async def cancel(self, request: web.Request) -> web.Response:
        apirequests.empty_request(await request.read())
        return await self._act(request, self.ctx.actions.cancel)

    async def undo(self, request: web.Request) -> web.Response:
        apirequests.empty_request(await request.read())
        return await self._act(request, self.ctx.actions.undo)

    async def media_generate(self, request: web.Request) -> web.Response:
        limits = self.ctx.config.limits
        task_id, body = apirequests.media_request(await request.read(), limits)
        outcome = await asyncio.to_thread(
            self.ctx.actions.generate, task_id, body, actor=request[ACTOR]
        )
        return await self._answer(outcome)

    async def posts(self, request: web.Request) -> web.Response:
        limit = optional_number(request.query, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
        offset = optional_number(request.query, "offset", 0, 0, 2**62)

        def page() -> PostPageJSON:
            posts = self.ctx.store.posts.list(limit, offset)
            total = self.ctx.store.posts.count()
            return {
                "posts": [post_json(p) for p in posts],
                "total": total,
                "offset": offset,
                "limit": limit,
            }

        return json_response(await asyncio.to_thread(page))

    async def events(self, request: web.Request) -> web.StreamResponse:
        return await self.ctx.events.serve(request, _resume_after(request))

    async def _act(
        self, request: web.Request, action: Callable[..., Outcome], *args: Any, **kwargs: Any
    ) -> web.Response:
        task_id = request.match_info["task_id"]
        outcome = await asyncio.to_thread(action, task_id, *args, actor=request[ACTOR], **kwargs)
        return await self._answer(outcome)

    async def _answer(self, outcome: Outcome, status: int = 200) -> web.Response:
        task = await asyncio.to_thread(self.ctx.views.task, outcome.task_id)
        if task is None:  # deleted in between: cannot happen today, tasks are kept
            raise TaskNotFound(f"no task {outcome.task_id!r}")
        body: ActionJSON = {"task": task, "changed": outcome.changed, "message": outcome.message}
        return json_response(body, status=status)


def _resume_after(request: web.Request) -> int | None:
    """`since`, else Last-Event-ID; each checked when given, even if the other wins.

    An empty Last-Event-ID is none (the SSE standard); `since=` without digits is a 422.
    """
    header = request.headers.get("Last-Event-ID") or None
    after = None if header is None else whole_number("Last-Event-ID", header, 0, 2**62)
    since = request.query.get("since")
    return after if since is None else whole_number("since", since, 0, 2**62)


def _statuses(raw: str) -> list[TaskStatus] | None:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if not names:
        return None
    known = [str(s) for s in TaskStatus]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InvalidRequest(f"status: unknown {', '.join(unknown)}; known: {', '.join(known)}")
    return [TaskStatus(name) for name in names]
