"""The API client and the CLI commands built on it, without the real daemon.

The client is checked against small HTTP servers made here with the standard
library on real Unix sockets: error bodies, broken answers, the event-stream
framing (chunked, as aiohttp sends it), timeouts. The CLI runs as the
installed `gladtui` command. Formatting is checked on dicts of the API's shapes.
Round trips against the real daemon live with its fixture (tests/apidaemon.py).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gladtui import humanize
from gladtui.cli import cliformat
from gladtui.client import ApiError, Client, ClientError, DaemonUnreachable
from gladtui.eventstream import (
    HeartbeatEvent,
    ProgressEvent,
    ResyncEvent,
    StoredEvent,
    parse_sse,
)
from gladtui.shapes import (
    MAX_PAGE,
    ActionJSON,
    GenerateRequest,
    PostJSON,
    PostPageJSON,
    ReplicaJSON,
    StatusJSON,
    TaskJSON,
    TaskPageJSON,
    TaskStatus,
    TaskSummaryJSON,
    VariationJSON,
)
from tests.privileges import run_unprivileged

GLADTUI = Path(sys.executable).parent / "gladtui"
NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat().replace("+00:00", "Z")


# -- realistic bodies, built to the TypedDicts ---------------------------------------


def post_json(
    task_id: str = "muffins-001",
    slug: str = "making-delicious-muffins",
    destination: str = "local",
    location: str | None = None,
) -> PostJSON:
    return {
        "id": 7,
        "task_id": task_id,
        "title": "Making Delicious Muffins",
        "slug": slug,
        "featured_image_url": f"https://cdn.example.com/glad-labs/{slug}-8f3a1c.png",
        "created_at": ago(hours=1),
        "updated_at": ago(hours=1),
        "destination": destination,
        "location": location,
    }


def summary_json(task_id: str = "muffins-001", **changes: Any) -> TaskSummaryJSON:
    task: TaskSummaryJSON = {
        "id": task_id,
        "title": "Making Delicious Muffins",
        "status": "review",
        "prompt": "blueberry muffins on a rustic table, food photography",
        "negative_prompt": "blurry, low quality",
        "slug": "making-delicious-muffins",
        "error": None,
        "source_file": "muffins.yaml",
        "variations_requested": 3,
        "steps": 30,
        "guidance_scale": 7.0,
        "width": 1024,
        "height": 768,
        "seed": 42,
        "created_at": ago(minutes=3),
        "updated_at": ago(minutes=1),
        "variation_count": 2,
        "selected_variation": None,
        "post": None,
        "progress": None,
        "scheduler": None,
        "loras": {},
        "preset": None,
        "warnings": [],
    }
    task.update(changes)  # type: ignore[typeddict-item]
    return task


def variation_json(index: int, *, selected: bool = False, removed: bool = False) -> VariationJSON:
    return {
        "index": index,
        "round": 1,
        "path": f"/home/me/Downloads/glad-labs-generated-images/sdxl-muffins-001-variation-{index}"
        "-20250301_115800.png",
        "thumbnail": None,
        "seed": 42 + index,
        "prompt": "blueberry muffins on a rustic table, food photography",
        "negative_prompt": "blurry, low quality",
        "width": 1024,
        "height": 768,
        "steps": 30,
        "guidance_scale": 7.0,
        "model": "stabilityai/stable-diffusion-xl-base-1.0",
        "selected": selected,
        "removed_at": ago(minutes=1) if removed else None,
        "created_at": ago(minutes=2),
        "scheduler": None,
        "sampler": "Euler",
        "loras": {},
        "preset": None,
        "from_variation": None,
        "missing": False,
    }


def task_json(**changes: Any) -> TaskJSON:
    variations = [variation_json(1, removed=True), variation_json(2), variation_json(3)]
    return {**summary_json(**changes), "content": "# Muffins\n", "variations": variations}


def status_json() -> StatusJSON:
    return {
        "version": "0.1.0",
        "pid": 4242,
        "started_at": ago(hours=2),
        "uptime_seconds": 7300.5,
        "socket": "/run/user/1000/gladtui/daemon.sock",
        "drop_dir": "/home/me/gladtui/drop",
        "preview_dir": "/home/me/Downloads/glad-labs-generated-images",
        "database": "/home/me/.local/share/gladtui/gladtui.duckdb",
        "model": {
            "name": "stabilityai/stable-diffusion-xl-base-1.0",
            "device": "cuda",
            "state": "generating",
            "error": None,
            "load_seconds": 12.5,
            "images_generated": 31,
            "backend": "local",
            "replicas": [],
        },
        "tasks": {str(s): i for i, s in enumerate(TaskStatus)},
        "jobs": {"pending": 2, "running": 1, "done": 40, "failed": 1, "cancelled": 0},
        "last_event_id": 981,
        "publishing": {
            "publisher": "cloudinary",
            "destination": "Cloudinary cloud demo, folder glad-labs",
            "on_duplicate_slug": "suffix",
            "posts_to": "postgres",
            "posts_destination": "PostgreSQL table posts in database blog (user gladtui)",
        },
    }


# -- formatting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "0s"),
        (0, "0s"),
        (5, "5s"),
        (59, "59s"),
        (60, "1m"),
        (200, "3m"),
        (7300, "2h"),
        (86399, "23h"),
        (4 * 86400 + 5, "4d"),
    ],
)
def test_durations_use_the_largest_whole_unit(seconds: float, text: str) -> None:
    assert humanize.duration(seconds) == text


def test_task_table_fits_the_width_and_cuts_long_titles() -> None:
    long_title = "A very long title about muffins, " * 5
    page: TaskPageJSON = {
        "tasks": [
            summary_json("muffins-001", created_at=ago(seconds=5)),
            summary_json(
                "pie-2",
                status="generating",
                title=long_title,
                variation_count=0,
                created_at=ago(days=4, hours=1),
            ),
        ],
        "total": 2,
        "offset": 0,
        "limit": 100000,
    }
    text = cliformat.format_tasks(page, NOW, width=60)
    header, first, second = text.splitlines()
    assert header.split() == ["ID", "STATUS", "VARS", "AGE", "TITLE"]
    assert first.split()[:4] == ["muffins-001", "review", "2", "5s"]
    assert first.endswith("Making Delicious Muffins")
    assert second.split()[:4] == ["pie-2", "generating", "0", "4d"]
    assert len(second) == 60 and second.endswith("…")
    assert second.index("A very") == header.index("TITLE")  # columns line up


def test_task_table_keeps_ids_whole_on_a_narrow_terminal() -> None:
    page: TaskPageJSON = {
        "tasks": [summary_json("a-rather-long-task-identifier-0001")],
        "total": 1,
        "offset": 0,
        "limit": 10,
    }
    row = cliformat.format_tasks(page, NOW, width=20).splitlines()[1]
    assert row.startswith("a-rather-long-task-identifier-0001  review")
    assert row.endswith("Making De…")  # the title keeps a minimum width


def test_empty_lists_say_so() -> None:
    assert cliformat.format_tasks({"tasks": [], "total": 0, "offset": 0, "limit": 5}, NOW, 80) == (
        "no tasks"
    )
    assert cliformat.format_posts({"posts": [], "total": 0, "offset": 0, "limit": 5}) == "no posts"


def test_paging_note() -> None:
    assert cliformat.paging_note(10, 10, 0, "tasks", "tasks") is None
    assert cliformat.paging_note(0, 0, 0, "tasks", "tasks") is None
    note = cliformat.paging_note(100, 250, 100, "tasks", "tasks")
    assert note == "showing tasks 101-200 of 250; for more: gladtui tasks --offset 200 [--limit N]"
    assert cliformat.paging_note(0, 5, 9, "posts", "posts") == "no posts from offset 9; there are 5"


def test_show_lists_the_fields_then_the_variations() -> None:
    task = task_json(status="review", selected_variation=3)
    task["variations"][2]["selected"] = True
    lines = cliformat.format_task(task).splitlines()
    fields = dict(line.split(":", 1) for line in lines if not line.startswith(" "))
    fields = {key: value.strip() for key, value in fields.items()}
    assert fields["id"] == "muffins-001"
    assert fields["status"] == "review"
    assert fields["slug"] == "making-delicious-muffins"
    assert fields["negative prompt"] == "blurry, low quality"
    assert fields["size"] == "1024x768"
    assert fields["seed"] == "42"
    assert fields["guidance"] == "7.0"
    assert fields["source file"] == "muffins.yaml"
    assert fields["variations"] == "2 of 3 requested"
    assert "error" not in fields and "post" not in fields and "progress" not in fields
    first, second, third = (line.split() for line in lines if line.startswith("  "))
    assert first[0] == "1" and first[-1] == "(deleted)" and "*" not in first
    assert second[:3] == ["2", "seed", "44"] and second[-1].endswith(".png")
    assert third[:4] == ["3", "*", "seed", "45"]


def test_show_adds_error_post_and_progress_when_there_are() -> None:
    task = task_json(
        status="generating",
        error="CUDA out of memory",
        post=post_json(destination="postgres", location="posts id 42"),
        progress={"step": 12, "steps": 30, "images_done": 1, "images_total": 3},
        seed=None,
        source_file=None,
    )
    text = cliformat.format_task(task)
    assert "\nerror:           CUDA out of memory\n" in text
    assert "post:            https://cdn.example.com/glad-labs/making-delicious-muffins" in text
    assert "\nposted to:       postgres: posts id 42\n" in text
    assert "progress:        step 12/30, 1/3 images done" in text
    assert "seed:            random" in text
    assert "source file:     (submitted through the API)" in text


def test_show_names_sampler_loras_preset_warnings_and_each_variations_recipe() -> None:
    task = task_json(
        scheduler="dpmpp_2m_karras",
        loras={"brand-style": 0.8},
        preset="draft",
        warnings=['prompt: cut at 75 tokens (generation.max_prompt_tokens); dropped: "at dusk"'],
    )
    final = task["variations"][2]
    final.update(
        sampler="DPM++ 2M Karras", preset="final", loras={"brand-style": 0.8}, from_variation=2
    )
    lines = cliformat.format_task(task).splitlines()
    fields = {k: v.strip() for k, v in (line.split(":", 1) for line in lines if line[0] != " ")}
    assert fields["sampler"] == "dpmpp_2m_karras"
    assert fields["preset"] == "draft"
    assert fields["loras"] == "brand-style 0.8"
    assert fields["warning"].startswith("prompt: cut at 75 tokens")
    third = next(line for line in lines if line.startswith("    3"))
    assert "final, DPM++ 2M Karras, 30 steps, cfg 7, brand-style 0.8, from 2" in third
    second = next(line for line in lines if line.startswith("    2"))
    assert "Euler, 30 steps, cfg 7" in second and "from" not in second.split("cfg")[1]
    plain = cliformat.format_task(task_json())
    assert "sampler:         the model's own" in plain and "warning" not in plain


def test_status_lines() -> None:
    text = cliformat.format_status(status_json())
    assert "version:  0.1.0" in text and "pid:      4242" in text
    assert "uptime:   2h" in text
    assert "model:    stabilityai/stable-diffusion-xl-base-1.0 (generating on cuda" in text
    for index, status in enumerate(TaskStatus):
        assert f"  {status}:".ljust(14) + str(index) in text
    assert "jobs:     2 pending, 1 running" in text
    assert "socket:   /run/user/1000/gladtui/daemon.sock" in text
    assert "drop:     /home/me/gladtui/drop" in text
    assert "images:   Cloudinary cloud demo, folder glad-labs\n" in text
    posts = "PostgreSQL table posts in database blog (user gladtui) (duplicate slugs: suffix)"
    assert f"posts:    {posts}" in text


def test_status_shows_each_ray_replica_and_what_it_is_doing() -> None:
    status = status_json()
    status["model"]["backend"] = "ray"
    replica: ReplicaJSON = {
        "name": "replica-1", "state": "generating", "task_id": "muffins", "device": "cuda",
        "node": "gpu-2", "error": None, "images_generated": 12,
    }  # fmt: skip
    lost: ReplicaJSON = {
        **replica, "name": "replica-2", "state": "unavailable", "task_id": None,
        "device": None, "node": None, "error": "replica-2 was lost mid-job",
    }  # fmt: skip
    status["model"]["replicas"] = [replica, lost]
    lines = cliformat.format_status(status).splitlines()
    assert "  replica-1  generating muffins  cuda on gpu-2, 12 images made" in lines
    assert "  replica-2  unavailable, 12 images made  error: replica-2 was lost mid-job" in lines
    assert not any("replica" in line for line in cliformat.format_status(status_json()).split())


def test_posts_table_says_where_each_went_and_keeps_urls_whole() -> None:
    page: PostPageJSON = {
        "posts": [
            post_json(),
            post_json("pie-2", "apple-pie-2", "postgres", "posts id 42"),
            post_json("tart", "tart", "markdown", "/srv/blog/content/posts/tart.md"),
        ],
        "total": 3,
        "offset": 0,
        "limit": 100,
    }
    header, *rows = cliformat.format_posts(page).splitlines()
    assert header.split() == ["SLUG", "TASK", "WHERE", "URL"]
    assert rows[0].split()[2] == "local"
    assert rows[1].split() == [
        "apple-pie-2",
        "pie-2",
        "postgres:",
        "posts",
        "id",
        "42",
        "https://cdn.example.com/glad-labs/apple-pie-2-8f3a1c.png",
    ]
    assert "markdown: /srv/blog/content/posts/tart.md  https://cdn" in rows[2]


def test_action_prints_the_message_and_the_new_status() -> None:
    action: ActionJSON = {
        "task": task_json(status="publishing"),
        "changed": True,
        "message": "approved variation 2 of muffins-001",
    }
    assert cliformat.format_action(action) == (
        "approved variation 2 of muffins-001\nmuffins-001: publishing"
    )


# -- the event-stream framing --------------------------------------------------------


def test_sse_parser_handles_comments_multiline_data_and_missing_ids() -> None:
    stream = [
        b": connected\n",
        b"retry: 1000\n",
        b"id: 5\n",
        b"event: created\n",
        b'data: {"id": 5,\n',
        b'data: "kind": "created"}\n',
        b"\n",
        b"event: progress\r\n",
        b'data: {"task_id": "t", "step": 3}\r\n',
        b"\r\n",
        b"\n",  # a blank line with nothing pending dispatches nothing
        b'data:{"plain":true}\n',
        b"\n",
        b"event: half\n",  # cut off before its blank line: never dispatched
    ]
    assert list(parse_sse(stream)) == [
        StoredEvent("created", 5, {"id": 5, "kind": "created"}),
        ProgressEvent({"task_id": "t", "step": 3}),
        StoredEvent("message", None, {"plain": True}),
    ]


def test_sse_events_are_typed_by_their_kind() -> None:
    stream = [
        b"event: heartbeat\n",
        b'data: {"last_id": 7, "at": "2026-01-01T00:00:00Z"}\n',
        b"\n",
        b"event: resync\n",
        b'data: {"last_id": 9, "reason": "too far behind"}\n',
        b"\n",
        b"id: 10\n",
        b"event: a_kind_from_a_newer_daemon\n",
        b'data: {"id": 10}\n',
        b"\n",
    ]
    assert list(parse_sse(stream)) == [
        HeartbeatEvent({"last_id": 7, "at": "2026-01-01T00:00:00Z"}),
        ResyncEvent({"last_id": 9, "reason": "too far behind"}),
        StoredEvent("a_kind_from_a_newer_daemon", 10, {"id": 10}),
    ]


def test_sse_data_that_is_not_json_is_a_client_error() -> None:
    with pytest.raises(ClientError, match="not JSON"):
        list(parse_sse([b"event: x\n", b"data: {oops\n", b"\n"]))


# -- a small HTTP server on a Unix socket --------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


Route = Callable[[BaseHTTPRequestHandler, Seen], None]


@dataclass
class FakeServer:
    """Answers with `routes[(method, path without query)]`; records every request."""

    socket: Path
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def reply(status: int, body: bytes | dict[str, Any], ctype: str = "application/json") -> Route:
    data = json.dumps(body).encode() if isinstance(body, dict) else body

    def route(handler: BaseHTTPRequestHandler, _seen: Seen) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return route


def short_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="gtc-", dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture
def folder() -> Iterator[Path]:
    path = short_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server(folder: Path) -> Iterator[FakeServer]:
    fake = FakeServer(folder / "s.sock")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
            fake.seen.append(seen)
            route = fake.routes.get((self.command, urlsplit(self.path).path))
            (route or reply(404, {"error": {"status": 404, "code": "not_found", "message": "?"}}))(
                self, seen
            )

        do_GET = do_POST = _serve

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    httpd = Server(str(fake.socket), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield fake
    fake.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def client_of(server: FakeServer, timeout: float = 5.0) -> Client:
    return Client(server.socket, timeout=timeout)


ACTION = {"task": task_json(), "changed": True, "message": "done"}


def test_requests_carry_their_parameters(server: FakeServer) -> None:
    page = {"tasks": [summary_json()], "total": 1, "offset": 10, "limit": 5}
    server.routes[("GET", "/api/tasks")] = reply(200, page)
    for action in ["approve", "reject", "generate", "cancel"]:
        server.routes[("POST", f"/api/tasks/a%20b%2F/{action}")] = reply(200, ACTION)
    server.routes[("POST", "/api/tasks")] = reply(201, ACTION)
    client = client_of(server)

    assert client.tasks(["review", "failed"], "muffin pie", limit=5, offset=10) == page
    assert server.seen[-1].query == {
        "status": ["review,failed"],
        "q": ["muffin pie"],
        "limit": ["5"],
        "offset": ["10"],
    }
    client.approve("a b/", 2)
    client.reject("a b/", keep_files=True)
    client.generate("a b/", GenerateRequest(count=2, steps=4))
    client.cancel("a b/")
    bodies = [json.loads(seen.body) for seen in server.seen[-4:]]
    assert bodies == [
        {"variation": 2},
        {"keep_files": True},  # what is left out is the daemon's default
        {"count": 2, "steps": 4},  # None is left out, so the daemon's defaults apply
        {},
    ]
    assert server.seen[-1].path == "/api/tasks/a%20b%2F/cancel"
    assert client.submit(b"title: x\nprompt: y\n", "muffins.yaml") == ACTION
    assert server.seen[-1].body == b"title: x\nprompt: y\n"
    assert server.seen[-1].headers["Content-Type"] == "application/yaml"
    assert server.seen[-1].query == {"name": ["muffins.yaml"]}


def test_tasks_raw_is_the_body_as_sent(server: FakeServer) -> None:
    body = b'{"tasks":[],"total":0,"offset":0,"limit":100000}'
    server.routes[("GET", "/api/tasks")] = reply(200, body)
    assert client_of(server).tasks_raw(limit=MAX_PAGE) == body


def test_error_bodies_become_api_errors(server: FakeServer) -> None:
    error = {"error": {"status": 409, "code": "conflict", "message": "task is generating"}}
    server.routes[("POST", "/api/tasks/t1/approve")] = reply(409, error)
    with pytest.raises(ApiError) as caught:
        client_of(server).approve("t1", 1)
    assert (caught.value.status, caught.value.code) == (409, "conflict")
    assert caught.value.message == str(caught.value) == "task is generating"


@pytest.mark.parametrize(
    "body", [b"<html>Internal Server Error</html>", b'{"error": "flat"}', b"[1]", b""]
)
def test_an_error_without_the_error_shape_still_gives_a_clean_api_error(
    server: FakeServer, body: bytes
) -> None:
    server.routes[("GET", "/api/status")] = reply(500, body, "text/html")
    with pytest.raises(ApiError) as caught:
        client_of(server).status()
    assert caught.value.status == 500 and caught.value.code == "http_error"
    assert "500 Internal Server Error" in caught.value.message


def test_a_2xx_answer_that_is_not_json_is_a_client_error(server: FakeServer) -> None:
    server.routes[("GET", "/api/health")] = reply(200, b"hello", "text/plain")
    with pytest.raises(ClientError, match="invalid JSON"):
        client_of(server).health()


def test_a_silent_daemon_times_out_as_unreachable(server: FakeServer) -> None:
    server.routes[("GET", "/api/status")] = lambda _h, _s: server.release.wait(10) and None
    started = time.monotonic()
    with pytest.raises(DaemonUnreachable, match=r"did not answer within 0\.3 s"):
        client_of(server, timeout=0.3).status()
    assert time.monotonic() - started < 3


def test_a_connection_closed_without_an_answer_is_unreachable(server: FakeServer) -> None:
    def hang_up(handler: BaseHTTPRequestHandler, _seen: Seen) -> None:
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_RDWR)

    server.routes[("GET", "/api/status")] = hang_up
    with pytest.raises(DaemonUnreachable, match="closed the connection"):
        client_of(server).status()


def test_one_client_serves_many_threads(server: FakeServer) -> None:
    server.routes[("GET", "/api/health")] = reply(200, {"ok": True, "version": "0.1.0"})
    client = client_of(server)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.health(), range(64)))
    assert answers == [{"ok": True, "version": "0.1.0"}] * 64


def chunked_stream(pieces: list[bytes], then: Callable[[], object] = lambda: None) -> Route:
    """An event stream in chunked encoding, as aiohttp sends it, cut where `pieces` say."""

    def route(handler: BaseHTTPRequestHandler, _seen: Seen) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for piece in pieces:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            handler.wfile.flush()
        then()
        handler.wfile.write(b"0\r\n\r\n")
        handler.close_connection = True

    return route


def test_event_stream_over_http(server: FakeServer) -> None:
    created = json.dumps({"id": 8, "kind": "created", "task_id": "t1"})
    text = (
        ": hello\n\n"
        'event: resync\ndata: {"last_id": 7, "reason": "event 90 is not known here"}\n\n'
        f"id: 8\nevent: created\ndata: {created}\n\n"
        'event: progress\ndata: {"task_id": "t1", "step": 1, "steps": 2,\n'
        'data: "images_done": 0, "images_total": 1}\n\n'
        'event: heartbeat\ndata: {"last_id": 9, "at": "2025-03-01T12:00:00Z"}\n\n'
    ).encode()
    cuts = [0, 3, 40, 41, 100, len(text) - 1, len(text)]  # events cut across chunks
    pieces = [text[a:b] for a, b in itertools.pairwise(cuts)]
    server.routes[("GET", "/api/events")] = chunked_stream(pieces)
    stream = client_of(server).events(since=90, timeout=5)
    assert server.seen[-1].headers["Last-Event-ID"] == "90"
    assert stream.last_id == 90
    kinds = []
    for event in stream:
        kinds.append((event.kind, event.id, stream.last_id))
    assert kinds == [
        ("resync", None, 7),  # the position the daemon gave
        ("created", 8, 8),
        ("progress", None, 8),  # no id: not stored, not a position
        ("heartbeat", None, 9),
    ]


def test_event_stream_without_since_sends_no_last_event_id(server: FakeServer) -> None:
    server.routes[("GET", "/api/events")] = chunked_stream([b"event: x\ndata: {}\n\n"])
    with client_of(server).events() as stream:
        assert [event.kind for event in stream] == ["x"]
        assert stream.last_id is None
    assert "Last-Event-ID" not in server.seen[-1].headers


def test_a_missed_heartbeat_is_unreachable(server: FakeServer) -> None:
    beat = b'event: heartbeat\ndata: {"last_id": 3, "at": "2025-03-01T12:00:00Z"}\n\n'
    server.routes[("GET", "/api/events")] = chunked_stream([beat], lambda: server.release.wait(10))
    stream = client_of(server).events(timeout=0.3)
    assert next(stream).kind == "heartbeat"
    started = time.monotonic()
    with pytest.raises(DaemonUnreachable, match=r"did not answer within 0\.3 s"):
        next(stream)
    assert time.monotonic() - started < 3
    assert stream.last_id == 3  # where a new stream resumes


def test_an_event_stream_refused_is_an_api_error(server: FakeServer) -> None:
    error = {"error": {"status": 400, "code": "invalid", "message": "since: bad"}}
    server.routes[("GET", "/api/events")] = reply(400, error)
    with pytest.raises(ApiError, match="since: bad"):
        client_of(server).events(since=1)


# -- no daemon -----------------------------------------------------------------------


def test_a_missing_socket_is_unreachable_and_says_how_to_start(folder: Path) -> None:
    path = folder / "none.sock"
    with pytest.raises(DaemonUnreachable) as caught:
        Client(path).health()
    message = str(caught.value)
    assert f"{path} does not exist" in message
    assert "`gladtui daemon`" in message and "systemctl --user start gladtui" in message


def stale_socket(folder: Path) -> Path:
    """A socket file nobody listens on: what a killed daemon leaves."""
    path = folder / "stale.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()
    return path


def test_a_stale_socket_is_unreachable(folder: Path) -> None:
    path = stale_socket(folder)
    with pytest.raises(DaemonUnreachable, match=f"no daemon is listening on {path}"):
        Client(path).status()


def test_someone_elses_socket_says_so(server: FakeServer) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to try the socket as another user")
    server.socket.chmod(0o600)  # root's socket in a folder anyone may enter

    def connect() -> str:
        try:
            Client(server.socket).health()
        except DaemonUnreachable as exc:
            return str(exc)
        return "connected"

    assert "belongs to another user" in run_unprivileged(connect)


# -- the commands --------------------------------------------------------------------


def gladtui(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "GLADTUI_CONFIG"}
    return subprocess.run([str(GLADTUI), *args], capture_output=True, env=env, timeout=60)


def config_for(folder: Path, sock: Path) -> str:
    config = folder / "config.yaml"
    config.write_text(f"socket: {sock}\n")
    return str(config)


def test_client_module_loads_neither_httpx_nor_pydantic() -> None:
    probe = (
        "import sys, gladtui.client; print([m for m in ('httpx', 'pydantic') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


@pytest.mark.parametrize("value", ["reviewed", "review,nope", ","])
def test_an_unknown_status_is_a_usage_error(value: str) -> None:
    result = gladtui("tasks", "--status", value)
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert "unknown status" in stderr
    assert "valid: " + ", ".join(str(s) for s in TaskStatus) in stderr


@pytest.mark.parametrize(
    "args",
    [
        ["approve", "t1"],
        ["approve", "t1", "--variation", "0"],
        ["tasks", "--limit", "100001"],
        ["generate", "t1", "--count", "two"],
        ["show"],
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str]) -> None:
    assert gladtui(*args).returncode == 2


def test_no_daemon_exits_3_and_says_how_to_start_it(folder: Path) -> None:
    path = folder / "run" / "daemon.sock"
    result = gladtui("tasks", "--config", config_for(folder, path))
    assert result.returncode == 3
    stderr = result.stderr.decode()
    assert str(path) in stderr
    assert "gladtui daemon" in stderr and "systemctl --user start gladtui" in stderr
    assert result.stdout == b""


def test_a_stale_socket_exits_3(folder: Path) -> None:
    path = stale_socket(folder)
    result = gladtui("status", "--json", "--config", config_for(folder, path))
    assert result.returncode == 3
    assert f"no daemon is listening on {path}" in result.stderr.decode()


def test_tasks_json_is_the_api_body_unchanged(server: FakeServer, folder: Path) -> None:
    body = json.dumps(
        {"tasks": [summary_json(title="Crème brûlée ✓")], "total": 1, "offset": 0, "limit": 100000},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    server.routes[("GET", "/api/tasks")] = reply(200, body)
    config = config_for(folder, server.socket)
    result = gladtui(
        "tasks", "--json", "--status", "review,failed", "--status=queued", "--config", config
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == body + b"\n"
    assert server.seen[-1].query == {
        "status": ["review,failed,queued"],
        "limit": ["100000"],
        "offset": ["0"],
    }


def test_tasks_says_when_the_list_is_cut(server: FakeServer, folder: Path) -> None:
    page = {"tasks": [summary_json(f"t{i}") for i in range(3)], "total": 7, "offset": 2, "limit": 3}
    server.routes[("GET", "/api/tasks")] = reply(200, page)
    config = config_for(folder, server.socket)
    result = gladtui(
        "tasks", "--limit", "3", "--offset", "2", "--search", "muf", "--config", config
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert [line.split()[0] for line in lines] == ["ID", "t0", "t1", "t2"]
    assert "showing tasks 3-5 of 7" in result.stderr.decode()
    assert "--offset 5" in result.stderr.decode()
    assert server.seen[-1].query["q"] == ["muf"]


def test_a_refused_action_exits_1_with_the_daemons_reason(server: FakeServer, folder: Path) -> None:
    message = "cannot approve task t1 (status: generating)"
    error = {"error": {"status": 409, "code": "conflict", "message": message}}
    server.routes[("POST", "/api/tasks/t1/approve")] = reply(409, error)
    result = gladtui(
        "approve", "t1", "--variation", "2", "--config", config_for(folder, server.socket)
    )
    assert result.returncode == 1
    assert result.stderr.decode() == f"gladtui: {message}\n"
    assert json.loads(server.seen[-1].body) == {"variation": 2}


def test_an_action_prints_the_message_or_the_json(server: FakeServer, folder: Path) -> None:
    action = {"task": task_json(status="queued"), "changed": True, "message": "3 more queued"}
    server.routes[("POST", "/api/tasks/t1/reject")] = reply(200, action)
    config = config_for(folder, server.socket)
    result = gladtui("reject", "t1", "--prompt", "pie", "--keep-files", "--config", config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "3 more queued\nmuffins-001: queued\n"
    assert json.loads(server.seen[-1].body) == {"prompt": "pie", "keep_files": True}
    result = gladtui("reject", "t1", "--json", "--config", config)
    assert json.loads(result.stdout) == action


def test_a_reader_that_stops_early_is_no_error(server: FakeServer, folder: Path) -> None:
    tasks = [summary_json(f"t{i}") for i in range(2000)]
    body = json.dumps({"tasks": tasks, "total": 2000, "offset": 0, "limit": 100000}).encode()
    server.routes[("GET", "/api/tasks")] = reply(200, body)
    config = config_for(folder, server.socket)
    for args in (["tasks", "--json"], ["tasks"]):  # one big write; many small ones
        reader = subprocess.Popen(
            [str(GLADTUI), *args, "--config", config],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert reader.stdout is not None and reader.stderr is not None
        assert len(reader.stdout.read(10)) == 10
        reader.stdout.close()  # as `| head -c 10` does
        assert reader.wait(timeout=60) == 0
        assert reader.stderr.read() == b""
        reader.stderr.close()
