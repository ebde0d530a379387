"""The HTTP/JSON API on the daemon's Unix socket: routes, checks, and errors as JSON.

Every answer is JSON (the event stream aside), errors included:
`{"error": {"status": 409, "code": "conflict", "message": "…"}}`. Handlers
run the store's blocking calls in threads, so a slow query or a commit
waiting for the write lock never stalls the event loop (or the event streams).

The routes, what they take and answer, are described in daemon/api/description.py;
daemon/api/openapi.py makes that the OpenAPI document served at GET /api/openapi.json
and checks here, as the app is built, that the two list the same routes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from daemon.api import bodies, openapi
from daemon.api.answers import Handler, encode, error_response, errors, json_response, size_check
from daemon.api.context import ApiContext
from daemon.api.imageserving import PictureRoutes, VariationPictures
from daemon.api.params import flag, optional_number, whole_number
from daemon.api.peers import Peers
from daemon.api.previewserving import PreviewRoutes
from daemon.api.stats import since_time, stats_json
from daemon.api.status import status_json
from daemon.api.taskjson import Widening, post_json
from daemon.api.unixsocket import peer_credentials
from daemon.generation.previews import PreviewBoard
from daemon.review.outcomes import InvalidRequest, Outcome, TaskNotFound
from gladtui import __version__
from gladtui.shapes import MAX_PAGE, ActionJSON, ErrorCode, PostPageJSON, TaskStatus

log = logging.getLogger(__name__)

DEFAULT_PAGE = 100

# Who made the request, for the audit trail: the user name ("uid:N" if it has none).
ACTOR = web.RequestKey("actor", str)


def _peer_check(peers: Peers) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        sock = request.transport.get_extra_info("socket") if request.transport else None
        uid, gid = peer_credentials(sock) if sock is not None else (-1, -1)
        peer = peers.identify(uid, gid)
        if not peer.admitted:
            log.warning("refused an API request from %s (uid %d)", peer.name, uid)
            return error_response(403, ErrorCode.FORBIDDEN, peers.refusal(peer))
        request[ACTOR] = peer.name
        return await handler(request)

    return check


def build_app(ctx: ApiContext, outer: Sequence[Middleware] = ()) -> web.Application:
    """The routes and their checks; `outer`: middlewares around all of them (the
    server's connection tracking, daemon/api/connections.py)."""
    app = web.Application(
        middlewares=[
            *outer,
            errors,
            _peer_check(ctx.peers),
            size_check(ctx.config.api.max_request_bytes),
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
            web.get("/api/stats", routes.stats),
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
        index = bodies.approve_request(await request.read())
        return await self._act(request, self.ctx.actions.approve, index)

    async def reject(self, request: web.Request) -> web.Response:
        body = bodies.reject_request(await request.read())
        return await self._act(request, self.ctx.actions.reject_with, body)

    async def generate(self, request: web.Request) -> web.Response:
        body = bodies.generate_request(await request.read(), self.ctx.config.limits)
        return await self._act(request, self.ctx.actions.generate, body)

    async def cancel(self, request: web.Request) -> web.Response:
        bodies.empty_request(await request.read())
        return await self._act(request, self.ctx.actions.cancel)

    async def undo(self, request: web.Request) -> web.Response:
        bodies.empty_request(await request.read())
        return await self._act(request, self.ctx.actions.undo)

    async def media_generate(self, request: web.Request) -> web.Response:
        limits = self.ctx.config.limits
        task_id, body = bodies.media_request(await request.read(), limits)
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

    async def stats(self, request: web.Request) -> web.Response:
        since = since_time(request.query.get("since"), self.ctx.store.now())
        return json_response(await asyncio.to_thread(stats_json, self.ctx.store, since))

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
