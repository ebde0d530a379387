"""`gladtui web`: the local server's guard and pass-through, over real HTTP, to a real
daemon (tests/apidaemon.py, the tiny model), the command run as a reviewer runs it.

One daemon and one server for the module; each test signs in (or not) as it needs.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.generation.models import LoadedModel
from tests.apidaemon import ApiDaemon, http_get, task_yaml
from tests.webserver import WebServer


@pytest.fixture(scope="module")
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    running = ApiDaemon(tiny).start()
    yield running
    running.cleanup()


@pytest.fixture(scope="module")
def muffins(live: ApiDaemon) -> str:
    return str(live.in_review("Web Muffins", variations=2)["id"])


@pytest.fixture(scope="module")
def server(live: ApiDaemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    log = tmp_path_factory.mktemp("web") / "web.log"
    running = WebServer("--config", str(live.config_file), log=log)
    running.sign_in()
    yield running
    running.stop()


def test_the_token_is_traded_for_a_strict_cookie_and_leaves_the_address(
    server: WebServer,
) -> None:
    fresh = WebServer.__new__(WebServer)  # a second tab: same server, no cookie yet
    fresh.__dict__.update(server.__dict__, cookie="")
    answer = fresh.sign_in()
    assert answer.status == 303 and answer.headers["Location"] == "/"
    set_cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie, set_cookie
    assert server.token not in set_cookie  # the cookie is a secret of its own
    page = fresh.request("GET", "/")
    assert page.status == 200 and b"/static/app.js" in page.body
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp, csp
    assert "unsafe-inline" not in csp


@pytest.mark.parametrize("path", ["/", "/api/tasks", "/static/app.js", "/keys.json", "/nowhere"])
def test_without_the_cookie_everything_is_a_bare_403(server: WebServer, path: str) -> None:
    answer = server.request("GET", path, cookie=False)
    assert (answer.status, answer.body) == (403, b"forbidden\n")
    wrong = server.request("GET", "/?token=" + "A" * len(server.token), cookie=False)
    assert (wrong.status, wrong.body) == (403, b"forbidden\n")
    assert "Set-Cookie" not in wrong.headers


@pytest.mark.parametrize("host", ["localhost:{port}", "evil.example:{port}", "127.0.0.1", ""])
def test_a_host_other_than_the_address_is_refused_even_with_the_cookie(
    server: WebServer, host: str
) -> None:
    answer = server.request("GET", "/api/tasks", headers={"Host": host.format(port=server.port)})
    assert (answer.status, answer.body) == (403, b"forbidden\n")
    # nor can a rebound name trade the token
    token = server.request(
        "GET", f"/?token={server.token}", headers={"Host": host.format(port=server.port)}
    )
    assert token.status == 403


def test_a_change_needs_the_pages_own_origin(
    server: WebServer, live: ApiDaemon, muffins: str
) -> None:
    path = f"/api/tasks/{muffins}/approve"
    for origin in ("http://evil.example", f"http://localhost:{server.port}", "null"):
        answer = server.request("POST", path, {"variation": 2}, headers={"Origin": origin})
        assert (answer.status, answer.body) == (403, b"forbidden\n"), origin
    no_origin = server.request("POST", path, {"variation": 2}, headers={"Origin": ""})
    assert no_origin.status == 403
    assert live.client.task(muffins)["status"] == "review"  # nothing reached the daemon


def test_only_the_pages_routes_pass(server: WebServer, live: ApiDaemon) -> None:
    for method, path in [
        ("POST", "/api/tasks"),  # submitting files stays on the socket
        ("GET", "/api/openapi.json"),
        ("GET", "/api/posts"),
        ("POST", "/api/media/generate-image-variations"),
        ("DELETE", "/api/tasks/x"),
        ("GET", "/api/tasks/x/../../openapi.json"),
    ]:
        answer = server.request(method, path, task_yaml("Smuggled") if method == "POST" else None)
        assert answer.status == 404, (method, path, answer.status)
    titles = [t["title"] for t in live.client.tasks([], None, 100, 0)["tasks"]]
    assert "Smuggled" not in titles


def test_reads_and_pictures_pass_through_unchanged(
    server: WebServer, live: ApiDaemon, muffins: str
) -> None:
    assert server.request("GET", f"/api/tasks/{muffins}").json() == live.client.task(muffins)
    for kind in ("image", "thumbnail?width=64"):
        path = f"/api/tasks/{muffins}/variations/2/{kind}"
        status, headers, body = http_get(live.socket, path)
        answer = server.request("GET", path)
        assert (answer.status, answer.body) == (status, body) == (200, body)
        assert answer.headers["Content-Type"] == headers["Content-Type"]
        etag = answer.headers["ETag"]
        assert server.request("GET", path, headers={"If-None-Match": etag}).status == 304


def test_a_decision_from_the_page_reaches_the_daemon(server: WebServer, live: ApiDaemon) -> None:
    task_id = str(live.in_review("Web Rejected", variations=1)["id"])
    answer = server.request("POST", f"/api/tasks/{task_id}/reject", {"keep_files": True})
    assert answer.status == 200, answer.body
    assert live.wait_status(task_id, "rejected")["status"] == "rejected"
    again = server.request("POST", f"/api/tasks/{task_id}/approve", {"variation": 1})
    assert again.status == 409 and again.json()["error"]["code"] == "conflict"


def test_the_event_stream_passes_event_by_event(server: WebServer, live: ApiDaemon) -> None:
    """Each event arrives while the stream stays open: nothing waits for a buffer."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.putrequest("GET", "/api/events", skip_host=True)
    connection.putheader("Host", server.host)
    connection.putheader("Cookie", server.cookie)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    try:
        assert _next_event(response)[0] in ("heartbeat", "resync")
        task_id = live.submit(task_yaml("Streamed Through"), "streamed.yaml")
        seen: list[str] = []
        while not any(task_id in data for data in seen):
            seen.append(_next_event(response)[1])
    finally:
        connection.close()


def _next_event(response: http.client.HTTPResponse) -> tuple[str, str]:
    kind = data = ""
    while True:
        line = response.readline().decode()
        assert line, "the stream ended"
        if line == "\n" and kind:
            return kind, data
        if line.startswith("event: "):
            kind = line[7:].strip()
        elif line.startswith("data: "):
            data = line[6:].strip()


def test_keys_json_is_the_tuis_table(server: WebServer) -> None:
    from gladtui import keys

    table = server.request("GET", "/keys.json").json()
    assert [tuple(row) for row in table["help"]["review"]] == keys.screen_help("review")
    approve = next(k for k in table["groups"]["decide"] if k["action"] == "approve")
    assert approve["browser"] == ["a"]


def test_stopped_it_leaves_no_port_and_no_secret_in_the_log(
    live: ApiDaemon, tmp_path: Path
) -> None:
    """Ctrl-C ends it cleanly; the log names requests but never the token or cookie."""
    server = WebServer("--config", str(live.config_file), log=tmp_path / "web.log")
    server.sign_in()
    assert server.request("GET", "/api/tasks").status == 200
    server.request("GET", "/api/tasks", cookie=False)
    assert server.stop() == 0
    log = server.log()
    assert "GET /api/tasks 200" in log and "GET /api/tasks 403" in log, log
    session = server.cookie.split("=", 1)[1]
    assert server.token not in log and session not in log, log
    assert server.printed.decode().count(server.token) == 1  # the address, once
    assert session not in server.printed.decode()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", server.port), timeout=5),
    ):
        pass
