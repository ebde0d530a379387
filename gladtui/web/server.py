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
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from gladtui import keys
from gladtui.shapes import EventKind
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
            web.get("/favicon.ico", _no_icon),
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


async def _no_icon(_request: web.Request) -> web.Response:
    return web.Response(status=204)


def _read(name: str) -> bytes:
    return resources.files("gladtui.web").joinpath("static", name).read_bytes()


async def _page(_request: web.Request) -> web.Response:
    return web.Response(
        body=_read("index.html"),
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )


def page_tables() -> dict[str, Any]:
    """What the page reads once: the keys (gladtui/keys.py), the TUI's filters, and the
    event kinds that are stored (the ones that carry an id to resume from)."""
    from gladtui.tui.filters import FILTERS  # the TUI's own list, not a copy

    unstored = {EventKind.PROGRESS, EventKind.HEARTBEAT, EventKind.RESYNC}
    return {
        **keys.table_json(),
        "filters": [
            {
                "name": f.key,
                "label": f.label,
                "statuses": None if f.statuses is None else [str(s) for s in f.statuses],
                "undoable": f.undoable,
                "apart": [str(s) for s in f.apart],
            }
            for f in FILTERS
        ],
        "event_kinds": [str(kind) for kind in EventKind if kind not in unstored],
    }


async def _keys(_request: web.Request) -> web.Response:
    return web.json_response(page_tables())


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
