"""Numbers in the API's paths and queries are ASCII digits, or a 422 naming the parameter.

`str.isdigit()` took "²" (then `int()` failed: a 500), and `int()` took "١"
(Arabic-Indic one: served variation 1), " 1", "+1" and "1_0". Each route that
reads a number is asked with each of them, on a real daemon's socket.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gladtui.client import UnixHTTPConnection
from tests.apidaemon import ApiDaemon, http_get
from tests.storedpictures import add_review_task

# (as sent in a URL, as the daemon decodes it)
NOT_NUMBERS = [
    ("%C2%B2", "²"),  # superscript two: isdigit() is True, int() fails
    ("%D9%A1", "١"),  # Arabic-Indic one: int() reads 1
    ("%2B1", "+1"),
    ("%201", " 1"),
    ("1_0", "1_0"),
]
VARIATION_ROUTES = ["image", "preview", "thumbnail?width=64"]
QUERY_ROUTES = [
    ("/api/tasks?limit={}", "limit"),
    ("/api/tasks?offset={}", "offset"),
    ("/api/posts?limit={}", "limit"),
    ("/api/posts?offset={}", "offset"),
    ("/api/events?since={}", "since"),
    ("/api/tasks/numbers/variations/1/thumbnail?width=6{}", "width"),
]


@pytest.fixture(scope="module")
def daemon() -> Iterator[ApiDaemon]:
    d = ApiDaemon(None).start()
    add_review_task(d, "numbers", (128, 128), 1)
    yield d
    d.cleanup()


def refused(d: ApiDaemon, url: str, name: str) -> dict[str, Any]:
    status, body = d.raw("GET", url)
    assert status == 422, (url, status, body)
    assert body["error"]["code"] == "invalid"
    assert body["error"]["message"].startswith(f"{name}: expected a whole number"), body
    return dict(body["error"])


@pytest.mark.parametrize("route", VARIATION_ROUTES)
@pytest.mark.parametrize(("sent", "decoded"), NOT_NUMBERS)
def test_a_variation_index_is_ascii_digits(
    daemon: ApiDaemon, route: str, sent: str, decoded: str
) -> None:
    error = refused(daemon, f"/api/tasks/numbers/variations/{sent}/{route}", "variation")
    assert repr(decoded) in error["message"]  # the value as the daemon read it


@pytest.mark.parametrize(("url", "name"), QUERY_ROUTES)
@pytest.mark.parametrize(("sent", "decoded"), NOT_NUMBERS)
def test_a_query_number_is_ascii_digits(
    daemon: ApiDaemon, url: str, name: str, sent: str, decoded: str
) -> None:
    refused(daemon, url.format(sent), name)


@pytest.mark.parametrize("value", ["+1", "1_0", "١"])
def test_last_event_id_is_ascii_digits(daemon: ApiDaemon, value: str) -> None:
    status, _, body = http_get(
        daemon.socket, "/api/events", {"Last-Event-ID": value.encode().decode("latin-1")}
    )
    assert status == 422, body
    assert b"Last-Event-ID: expected a whole number" in body
    # also when `since` is given and would be used: a malformed header is the client's bug
    status, _, body = http_get(
        daemon.socket, "/api/events?since=0", {"Last-Event-ID": value.encode().decode("latin-1")}
    )
    assert status == 422, body


def test_the_same_routes_take_plain_digits(daemon: ApiDaemon) -> None:
    """The control: what the refusals above would be if the number were read."""
    assert http_get(daemon.socket, "/api/tasks/numbers/variations/1/image")[0] == 200
    assert http_get(daemon.socket, "/api/tasks/numbers/variations/1/thumbnail?width=64")[0] == 200
    assert daemon.raw("GET", "/api/tasks?limit=10&offset=0")[0] == 200
    assert daemon.raw("GET", "/api/posts?limit=0010&offset=00")[0] == 200
    status, body = daemon.raw("GET", "/api/tasks?limit=99999999999999999999")
    assert status == 422 and body["error"]["message"].startswith("limit: must be between 1")
    status, body = daemon.raw("GET", "/api/posts?offset=-1")
    assert status == 422 and body["error"]["message"].startswith("offset: must be between 0")
    status, body = daemon.raw("GET", "/api/tasks?limit=100001")
    assert (
        status == 422
        and body["error"]["message"] == "limit: must be between 1 and 100000, got 100001"
    )


@pytest.mark.parametrize(
    "url", ["/api/tasks?limit=", "/api/posts?offset=", "/api/events?since=", "/api/tasks?undoable="]
)
def test_a_parameter_given_empty_is_refused_not_taken_for_the_default(
    daemon: ApiDaemon, url: str
) -> None:
    """Schemathesis found `undoable=` taken as false against its description: a value
    that is there must be one of the documented ones."""
    status, body = daemon.raw("GET", url)
    assert status == 422, body
    assert body["error"]["message"].startswith(url.rsplit("?", 1)[1].rstrip("=") + ":")


def test_an_empty_last_event_id_is_none(daemon: ApiDaemon) -> None:
    """SSE clients send no id as an empty one: the stream starts from now (a 422 before)."""
    connection = UnixHTTPConnection(daemon.socket, timeout=30)
    try:
        connection.request("GET", "/api/events", headers={"Last-Event-ID": ""})
        response = connection.getresponse()
        assert response.status == 200
        assert response.readline().startswith(b"event: heartbeat")
    finally:
        connection.close()
