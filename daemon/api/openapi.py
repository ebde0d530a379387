"""The OpenAPI 3.1 document of the API, made from daemon/api/description.py.

The JSON Schemas of bodies and answers come from their TypedDicts through
pydantic (gladtui/shapes.py for answers, daemon/api/bodies.py for request
bodies), so the description cannot drift from the shapes the code builds and
parses. `check_routes` compares the document with the routes an app
registers; build_app (daemon/api/routes.py) calls it, so a route added without a
description, or described and gone, stops the daemon at start.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from aiohttp import web
from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from daemon.api.description import (
    EVENT_SHAPES,
    EVENTS,
    JSON,
    OPERATIONS,
    STORED_EVENT,
    Operation,
    Param,
)
from gladtui import __version__
from gladtui.shapes import ErrorJSON

REF = "#/components/schemas/{model}"
ERRORS = {
    400: "refused, or the connection closed before the body ended",
    403: "the caller is not admitted (api.allowed_users, api.group); the message says how",
    404: "no such task, variation or picture (or no such endpoint)",
    409: "the task's state does not allow it now; the message says what would",
    413: "the body is larger than api.max_request_bytes",
    422: "invalid: every problem by name",
}


@functools.cache
def document_bytes() -> bytes:
    """The document as served: built once per process."""
    return orjson.dumps(describe())


def describe() -> dict[str, Any]:
    refs, components = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gladtui daemon API",
            "version": __version__,
            "description": "HTTP/JSON on the daemon's Unix socket (`socket` in the config). "
            "Every error is JSON: the ErrorJSON shape.",
        },
        "servers": [{"url": "http://localhost", "description": "over the Unix socket"}],
        "paths": paths,
        "components": {"schemas": components},
    }


def check_routes(app: web.Application) -> None:
    """RuntimeError unless `app` registers exactly the described routes."""
    registered = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None  # HEAD: aiohttp's, per GET
    }
    described = {(op.method, op.path) for op in OPERATIONS}
    problems = [f"registered but not described: {m} {p}" for m, p in registered - described]
    problems += [f"described but not registered: {m} {p}" for m, p in described - registered]
    if problems:
        raise RuntimeError(
            "the API's routes and daemon/api/description.py disagree: "
            + "; ".join(sorted(problems))
        )


def _schemas() -> tuple[dict[tuple[type, str], dict[str, Any]], dict[str, Any]]:
    """Each shape's `$ref` by (type, mode), and the components they refer to."""
    wanted: list[tuple[type, JsonSchemaMode]] = [(ErrorJSON, "serialization")]
    wanted += [(op.answer, "serialization") for op in OPERATIONS if op.answer is not None]
    wanted += [(op.body, "validation") for op in OPERATIONS if op.body is not None]
    wanted += [(shape, "serialization") for shape in EVENT_SHAPES.values()]
    unique = list(dict.fromkeys(wanted))
    inputs: list[tuple[type, JsonSchemaMode, TypeAdapter[Any]]] = [
        (shape, mode, TypeAdapter(shape)) for shape, mode in unique
    ]
    refs, top = TypeAdapter.json_schemas(inputs, ref_template=REF)
    return {key: dict(schema) for key, schema in refs.items()}, dict(top.get("$defs", {}))


def _operation(op: Operation, refs: dict[tuple[type, str], dict[str, Any]]) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": _operation_id(op),
        "summary": op.doc.split(";")[0],
        "description": op.doc,
        "responses": _responses(op, refs),
    }
    if op.params:
        described["parameters"] = [_parameter(p) for p in op.params]
    body = _request_body(op, refs)
    if body is not None:
        described["requestBody"] = body
    return described


def _operation_id(op: Operation) -> str:
    words = op.path.removeprefix("/api/").replace("{", "").replace("}", "")
    return op.method.lower() + "_" + "_".join(filter(None, words.replace(".", "/").split("/")))


def _parameter(param: Param) -> dict[str, Any]:
    return {
        "name": param.name,
        "in": param.where,
        "required": param.required or param.where == "path",
        "description": param.doc,
        "schema": param.schema,
    }


def _request_body(op: Operation, refs: dict[tuple[type, str], dict[str, Any]]) -> Any:
    if op.body_media is not None:  # a task file: a YAML mapping (see "Task files")
        schema = {"type": "object", "description": "a task file, as the drop folder takes"}
        return {"required": True, "content": {op.body_media: {"schema": schema}}}
    if op.body is None:
        return None
    required = bool(op.body.__required_keys__)  # type: ignore[attr-defined]
    return {"required": required, "content": {JSON: {"schema": refs[(op.body, "validation")]}}}


def _responses(op: Operation, refs: dict[tuple[type, str], dict[str, Any]]) -> dict[str, Any]:
    headers = {
        name: {"description": doc, "required": True, "schema": {"type": "string"}}
        for name, doc in op.headers.items()
    }
    answers: dict[str, Any] = {}
    for status in op.successes:
        if status == 304:
            answers["304"] = {"description": "not modified: the ETag holds", "headers": headers}
            continue
        answer: dict[str, Any] = {"description": "done" if status == 200 else "created"}
        answer["content"] = {op.media: _answer_media(op, refs)}
        if headers:
            answer["headers"] = headers
        answers[str(status)] = answer
    error = {JSON: {"schema": refs[(ErrorJSON, "serialization")]}}
    for status in sorted({403, *op.errors}):
        answers[str(status)] = {"description": ERRORS[status], "content": error}
    return answers


def _answer_media(op: Operation, refs: dict[tuple[type, str], dict[str, Any]]) -> dict[str, Any]:
    if op.answer is not None:
        return {"schema": refs[(op.answer, "serialization")]}
    if op.media == EVENTS:
        return {"schema": _event_schema(refs)}
    if op.media == JSON:
        return {"schema": {"type": "object"}}
    return {"schema": {"type": "string", "format": "binary"}}


def _event_schema(refs: dict[tuple[type, str], dict[str, Any]]) -> dict[str, Any]:
    """One server-sent event (OpenAPI 3.1: `schema` describes each event of a stream).

    `data` is JSON of the shape its `event:` name says (`contentSchema`); stored
    events are named by their kind and carry an `id`. The others send none, but an
    SSE reader gives every event the last id it saw (WHATWG's lastEventId).
    """
    named = [name for name in EVENT_SHAPES if name != STORED_EVENT]
    kinds = [
        {
            "properties": {
                "event": {"const": name},
                "data": {"contentSchema": refs[(EVENT_SHAPES[name], "serialization")]},
            },
        }
        for name in named
    ]
    stored = {
        "properties": {
            "event": {"not": {"enum": named}},
            "data": {"contentSchema": refs[(EVENT_SHAPES[STORED_EVENT], "serialization")]},
        },
        "required": ["id"],
    }
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"type": "string"},
            "data": {"type": "string", "contentMediaType": JSON},
            "id": {"type": "string", "pattern": "^[0-9]+$"},
        },
        "oneOf": [*kinds, stored],
    }
