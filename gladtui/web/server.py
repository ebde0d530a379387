"""The local review server: the page's files, its key table, and the pass-through.

Built on aiohttp (already the daemon's server). Every request goes through
the guard (guard.py) first; the page's own files are read from the package
(static/, declared as package data), so an installed wheel serves them with
no build step and nothing fetched from elsewhere.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from gladtui import keys
from gladtui.web.guard import Guard, add_security_headers
from gladtui.web.proxy import Passthrough

log = logging.getLogger(__name__)

STATIC = {
    "app.js": "text/javascript",
    "app.css": "text/css",
}


def build_app(socket: Path, guard: Guard) -> web.Application:
    """The app for one run; `guard.host` is set once the port is known."""
    app = web.Application(middlewares=[_access_log, guard.middleware])
    app.on_response_prepare.append(add_security_headers)
    passthrough = Passthrough(socket)
    app.on_startup.append(passthrough.start)
    app.on_cleanup.append(passthrough.close)
    app.add_routes(
        [
            web.get("/", _page),
            web.get("/keys.json", _keys),
            web.get("/static/{name}", _static),
            web.route("*", "/api/{tail:.*}", passthrough.handle),
        ]
    )
    return app


@web.middleware
async def _access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Method, path and status, never the query (the token travels there once) nor a
    header (the cookie)."""
    response = await handler(request)
    log.info("%s %s %d", request.method, request.path, response.status)
    return response


def _read(name: str) -> bytes:
    return resources.files("gladtui.web").joinpath("static", name).read_bytes()


async def _page(_request: web.Request) -> web.Response:
    return web.Response(
        body=_read("index.html"),
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )


async def _keys(_request: web.Request) -> web.Response:
    return web.json_response(keys.table_json())


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.Response(
        body=_read(name),
        content_type=STATIC[name],
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )
