"""The API's OpenAPI description: served, valid, the same routes as the app, in docs/api.md.

The fuzzing against it is tests/daemon/api/test_api_fuzz.py.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from openapi_spec_validator import validate

from daemon.api import apidoc
from daemon.api.bodies import ApproveBody, GenerateBody, MediaBody, RejectBody, fields_of
from daemon.api.description import OPERATIONS
from daemon.api.openapi import check_routes, describe
from gladtui.client import UnixHTTPConnection
from tests.apidaemon import ApiDaemon, http_get
from tests.paths import REPO
from tests.privileges import run_unprivileged
from tests.storedpictures import add_review_task

API_PAGE = REPO / "docs" / "api.md"


@pytest.fixture(scope="module")
def daemon() -> Iterator[ApiDaemon]:
    d = ApiDaemon(None).start()
    add_review_task(d, "described", (96, 64), 2)
    yield d
    d.cleanup()


def test_the_daemon_serves_a_valid_openapi_31_document(daemon: ApiDaemon) -> None:
    status, served = daemon.raw("GET", "/api/openapi.json")
    assert status == 200
    assert served == describe()
    assert served["openapi"].startswith("3.1")
    validate(served)  # the OpenAPI 3.1 meta-schema, JSON Schema 2020-12 included


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_the_peer_check_guards_the_description(daemon: ApiDaemon) -> None:
    for folder in (daemon.root, daemon.socket.parent):  # as if an admin opened the modes
        folder.chmod(0o755)
    daemon.socket.chmod(0o666)
    try:
        status, body = run_unprivileged(lambda: daemon.raw("GET", "/api/openapi.json"))
    finally:
        daemon.socket.parent.chmod(0o700)
    assert status == 403 and "may not use this daemon" in body["error"]["message"]


def test_bodies_and_answers_are_the_codes_own_shapes() -> None:
    document = describe()
    schemas = document["components"]["schemas"]
    for body in (ApproveBody, RejectBody, GenerateBody, MediaBody):
        described = schemas[body.__name__]
        assert set(described["properties"]) == fields_of(body)
        assert described["additionalProperties"] is False  # unknown fields are refused
    assert schemas["ApproveBody"]["required"] == ["variation"]
    task = schemas["TaskJSON"]
    assert {"variations", "content", "actions", "status"} <= set(task["properties"])
    approve = document["paths"]["/api/tasks/{task_id}/approve"]["post"]
    assert approve["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ActionJSON"
    }


async def _fake_handler(_request: web.Request) -> web.Response:
    return web.Response()


def app_with(routes: list[tuple[str, str]]) -> web.Application:
    app = web.Application()
    app.add_routes([web.route(method, path, _fake_handler) for method, path in routes])
    return app


def test_routes_and_description_must_agree() -> None:
    described = [(op.method, op.path) for op in OPERATIONS]
    check_routes(app_with(described))  # the same: nothing to say
    with pytest.raises(RuntimeError, match=r"registered but not described: DELETE /api/tasks"):
        check_routes(app_with([*described, ("DELETE", "/api/tasks/{task_id}")]))
    with pytest.raises(RuntimeError, match=r"described but not registered: GET /api/posts"):
        check_routes(app_with([r for r in described if r != ("GET", "/api/posts")]))


def test_every_described_route_is_served(daemon: ApiDaemon) -> None:
    """The daemon started, so build_app's check passed; and each route answers as itself."""
    for op in OPERATIONS:
        path = op.path.format(task_id="described", index=1)
        if op.method == "GET":
            query = "?width=64" if path.endswith("/thumbnail") else ""
            if path == "/api/events":
                query = "?since=x"  # refused before the stream opens
            status, _, raw = http_get(daemon.socket, path + query)
            body = json.loads(raw) if status == 404 else None
        else:
            status, body = daemon.raw(op.method, path, b"[")  # bad JSON: refused as such
        unknown = status == 404 and body["error"]["message"].startswith("no such endpoint")
        assert not unknown, (op.method, path, body)


def test_a_405_names_the_allowed_methods(daemon: ApiDaemon) -> None:
    """Schemathesis found 405s without the Allow header HTTP requires."""
    connection = UnixHTTPConnection(daemon.socket, timeout=30)
    try:
        connection.request("DELETE", "/api/health")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 405
    assert response.getheader("Allow") == "GET, HEAD"
    assert b'"code":"method_not_allowed"' in body


def test_a_whole_number_written_with_a_fraction_is_whole(daemon: ApiDaemon) -> None:
    """JSON Schema's integer takes 1.0 and 1e0; Schemathesis sent them and got a 422."""
    status, body = daemon.raw("POST", "/api/tasks/described/approve", b'{"variation": 1.0}')
    assert status == 200, body
    assert body["task"]["selected_variation"] == 1
    status, body = daemon.raw("POST", "/api/tasks/described/approve", b'{"variation": 1.5}')
    assert status == 422 and "variation: expected a whole number" in body["error"]["message"]


def test_the_api_page_route_table_is_the_description() -> None:
    page = API_PAGE.read_text(encoding="utf-8")
    assert apidoc.rewritten(page, describe()) == page, "run scripts/apidoc"
    section = page[page.index(apidoc.BEGIN) : page.index(apidoc.END)]
    routes = re.findall(r"^\| `(\w+) (/api/[^?`]*)", section, re.MULTILINE)
    assert sorted(routes) == sorted((op.method, op.path) for op in OPERATIONS)


def test_the_api_page_check_fails_when_it_drifts(tmp_path: Path) -> None:
    stale = tmp_path / "api.md"
    text = API_PAGE.read_text(encoding="utf-8")
    stale.write_text(text.replace("a page of posts, newest first", "the posts"))
    assert apidoc.main(["--check", str(stale)]) == 1
    assert apidoc.main([str(stale)]) == 0
    assert stale.read_text() == text
    assert apidoc.main(["--check", str(stale)]) == 0
