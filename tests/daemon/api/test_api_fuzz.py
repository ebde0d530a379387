"""Schemathesis against a real daemon, from the OpenAPI document it serves.

A daemon on a real Unix socket (model parked: nothing is generated), with one
task of real pictures awaiting review. For each described operation,
Schemathesis generates requests from the document (valid and invalid ones,
derandomized: the same requests every run, a bounded number per operation)
and checks every answer: no 500, status codes, content types, headers and
bodies as documented, every error the API's JSON error shape, and each
server-sent event's data the shape its name says.

`/api/events` is fuzzed too: Schemathesis reads an event stream up to
`max_stream_events` events, then hangs up. Schema-valid requests may still be
refused (422) where the rules are not JSON Schema: a prompt's weighting
syntax and a task file's rules (see POSITIVE_MAY_FAIL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gladtui.shapes import ErrorCode
from tests.apidaemon import ApiDaemon
from tests.storedpictures import add_review_task
from tests.unixrequests import BASE_URL, unix_session

TASK = "fuzz"
EXAMPLES = 8  # per operation; the document's own examples and coverage cases come on top
STREAM_EVENTS = 2  # the opening heartbeat and one more (heartbeat_seconds is 0.5 here)
# Operations whose schema-valid bodies can still be invalid: prompts must parse
# (promptsyntax.py: balanced weights), a task file has rules of its own, a reason
# must be the config's, a `since` of the right shape must be a day that exists.
POSITIVE_MAY_FAIL = {
    "GET /api/stats",
    "POST /api/tasks",
    "POST /api/tasks/{task_id}/reject",
    "POST /api/tasks/{task_id}/generate",
    "POST /api/media/generate-image-variations",
}


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[ApiDaemon, requests.Session]]:
    d = ApiDaemon(None).start()
    add_review_task(d, TASK, (96, 64), 2)
    session = unix_session(d.socket)
    yield d, session
    session.close()
    d.cleanup()


@pytest.fixture(scope="module")
def document(fuzzed: tuple[ApiDaemon, requests.Session]) -> dict[str, Any]:
    _, session = fuzzed
    found: dict[str, Any] = session.get(f"{BASE_URL}/api/openapi.json", timeout=60).json()
    return found


@pytest.fixture(scope="module")
def api_schema(document: dict[str, Any]) -> Any:
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.max_stream_events = STREAM_EVENTS
    return loaded


@pytest.fixture(scope="module")
def task_schema(document: dict[str, Any]) -> Any:
    """The task routes again, on the task that exists: random ids only ever meet a 404."""
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.max_stream_events = STREAM_EVENTS
    loaded.config.update(parameters={"task_id": TASK})
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")
# The event stream again too: it then carries the events those actions made.
task_routes = schemathesis.pytest.from_fixture("task_schema").include(
    path_regex=r"\{task_id\}|^/api/events$"
)


@schemathesis.check
def errors_are_json_errors(ctx: Any, response: Any, case: Case) -> None:
    """Every 4xx and 5xx is `{"error": {"status", "code", "message"}}` with its own status."""
    if response.status_code < 400:
        return
    # Schemathesis' headers: lower-case names, each a list of values
    [content_type] = response.headers.get("content-type", [""])
    assert content_type.startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["status"] == response.status_code, body
    assert body["error"]["code"] in set(ErrorCode), body  # one of the codes clients know
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


def event_data_checker(document: dict[str, Any]) -> Any:
    """A check that each event's `data` is JSON of the shape its `event:` name is documented
    with (the document's `contentSchema`, which JSON Schema validators only annotate)."""
    item = document["paths"]["/api/events"]["get"]["responses"]["200"]["content"]
    variants = item["text/event-stream"]["schema"]["oneOf"]
    by_name = {v["properties"]["event"].get("const"): v for v in variants}

    def check(ctx: Any, response: Any, case: Case) -> None:
        if response.status_code != 200 or case.operation.path != "/api/events":
            return
        frames = [f for f in response.content.decode().split("\n\n") if f.strip()]
        assert frames, "no event before the stream was cut"
        for frame in frames:
            fields = dict(line.split(": ", 1) for line in frame.splitlines())
            variant = by_name.get(fields["event"], by_name[None])
            shape = variant["properties"]["data"]["contentSchema"]
            jsonschema.validate(json.loads(fields["data"]), {**shape, **document})

    return check


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_keeps_its_description(
    case: Case, fuzzed: tuple[ApiDaemon, requests.Session], document: dict[str, Any]
) -> None:
    call_and_validate(case, fuzzed[1], document)


@task_routes.parametrize()
@FUZZ_SETTINGS
def test_the_task_routes_keep_their_description_on_a_real_task(
    case: Case, fuzzed: tuple[ApiDaemon, requests.Session], document: dict[str, Any]
) -> None:
    call_and_validate(case, fuzzed[1], document)


def call_and_validate(case: Case, session: requests.Session, document: dict[str, Any]) -> None:
    excluded = [positive_data_acceptance] if case.operation.label in POSITIVE_MAY_FAIL else []
    case.call_and_validate(
        base_url=BASE_URL,
        session=session,
        timeout=60,
        additional_checks=[event_data_checker(document)],
        excluded_checks=excluded,
    )
