"""Connections that cannot hold the API: deadlines, aiohttp's own errors as JSON, no lingering.

Real daemons on real Unix sockets, with deadlines short enough to wait for.
The deadline tests wait for the daemon to close the connection (a read that
ends), with a generous socket timeout: on a daemon without deadlines that
read times out and the test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gladtui.client import ApiError
from tests.apidaemon import ApiDaemon, short_dir, task_yaml
from tests.flood import connect, read_all, split_answer
from tests.privileges import NOBODY, run_as

AS_ROOT = os.geteuid() == 0
SHORT = 0.5  # a deadline under test
LONG = 600.0  # a deadline that must not be the one to close the connection


@pytest.fixture
def folder() -> Iterator[Path]:
    path = short_dir("gtc-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def daemon(folder: Path, **api: Any) -> ApiDaemon:
    settings = {"header_seconds": LONG, "body_seconds": LONG, "idle_seconds": LONG, **api}
    return ApiDaemon(None, root=folder, settings={"api": settings}).start()


def error_of(raw: bytes) -> tuple[int, str, str]:
    """An answer's status, and its JSON error's code and message."""
    status, headers, body = split_answer(raw)
    assert headers["content-type"].startswith("application/json"), raw
    error = json.loads(body)["error"]
    assert error["status"] == status
    return status, error["code"], error["message"]


def test_a_connection_that_sends_nothing_is_answered_408_and_closed(folder: Path) -> None:
    d = daemon(folder, header_seconds=SHORT)
    try:
        with connect(d.socket) as sock:
            status, code, message = error_of(read_all(sock))
        assert (status, code) == (408, "timeout")
        assert "did not all arrive within 0.5 s (api.header_seconds)" in message
    finally:
        d.stop()


def test_half_sent_headers_are_answered_408_and_closed(folder: Path) -> None:
    d = daemon(folder, header_seconds=SHORT)
    try:
        with connect(d.socket) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
            assert error_of(read_all(sock))[:2] == (408, "timeout")
    finally:
        d.stop()


def test_one_byte_now_and_then_does_not_keep_a_request_alive(folder: Path) -> None:
    """The head's deadline is a total from its first byte: trickling resets nothing."""
    d = daemon(folder, header_seconds=1.0)
    closed = threading.Event()

    def trickle(sock: socket.socket) -> None:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nX-Trickle: ")
        while not closed.wait(0.1):  # a byte every 0.1 s, ten times within the deadline
            try:
                sock.send(b"a")
            except OSError:
                return

    try:
        with connect(d.socket) as sock:
            sender = threading.Thread(target=trickle, args=(sock,))
            sender.start()
            try:
                raw = read_all(sock)
            finally:
                closed.set()
                sender.join()
        assert error_of(raw)[:2] == (408, "timeout")
    finally:
        d.stop()


def test_a_body_that_never_comes_is_answered_408_and_closed(folder: Path) -> None:
    d = daemon(folder, body_seconds=SHORT)
    try:
        with connect(d.socket) as sock:
            sock.sendall(
                b"POST /api/tasks?name=t.yaml HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 1000\r\n\r\ntitle: only the start"
            )
            status, code, message = error_of(read_all(sock))
        assert (status, code) == (408, "timeout")
        assert "body did not all arrive within 0.5 s (api.body_seconds)" in message
        assert d.client.tasks()["total"] == 0  # nothing half-read was taken for a task
    finally:
        d.stop()


def test_a_kept_alive_connection_with_no_next_request_is_closed(folder: Path) -> None:
    d = daemon(folder, idle_seconds=SHORT)
    try:
        with connect(d.socket) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive
            raw = read_all(sock)  # the answer, then the close
        status, headers, body = split_answer(raw)
        assert status == 200
        assert json.loads(body[: int(headers["content-length"])])["ok"] is True
        assert len(body) == int(headers["content-length"])  # closed quietly, nothing after
    finally:
        d.stop()


def test_the_event_stream_outlives_every_deadline(folder: Path) -> None:
    d = ApiDaemon(
        None,
        root=folder,
        settings={
            "api": {
                "header_seconds": 5.0,  # ample for the head, on a busy machine too
                "body_seconds": SHORT,
                "idle_seconds": SHORT,
                "heartbeat_seconds": 0.2,
            }
        },
    ).start()
    try:
        with connect(d.socket) as sock:
            sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
            seen = b""
            # 40 heartbeats: at least 8 s, past every deadline.
            while seen.count(b"event: heartbeat") < 40:
                chunk = sock.recv(65536)
                assert chunk, f"the stream was closed after {seen.count(b'event: heartbeat')}"
                seen += chunk
    finally:
        d.stop()


def test_a_body_slower_than_the_head_deadline_is_accepted_within_its_own(folder: Path) -> None:
    """A legitimate upload on a slow link: the body has its own, longer deadline."""
    d = daemon(folder, header_seconds=5.0, body_seconds=LONG)
    padding = b"".join(b"# padding line %05d of a slowly sent task file\n" % n for n in range(1200))
    body = task_yaml("Slow upload") + padding  # about 58 KB, under the 64 KB task file cap
    pieces = [body[i : i + 2048] for i in range(0, len(body), 2048)]
    try:
        with connect(d.socket) as sock:
            sock.sendall(
                b"POST /api/tasks?name=slow.yaml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)
            )
            for piece in pieces:  # 29 pieces, 0.35 s apart: over 10 s, twice header_seconds
                time.sleep(0.35)
                sock.sendall(piece)
            status, _headers, answer = split_answer(read_all(sock))
        assert status == 201, answer
        assert json.loads(answer)["task"]["title"] == "Slow upload"
    finally:
        d.stop()


@pytest.mark.parametrize(
    ("request_head", "said"),
    [
        (b"GARBAGE\r\n\r\n", "Invalid method"),
        (b"GET /api/health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", ""),
        (b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n", ""),
    ],
    ids=["garbage request line", "bad header", "header too large"],
)
def test_requests_aiohttp_refuses_before_routing_get_the_api_json_error(
    folder: Path, request_head: bytes, said: str
) -> None:
    d = daemon(folder)
    try:
        with connect(d.socket) as sock:
            sock.sendall(request_head)
            status, code, message = error_of(read_all(sock))
        assert (status, code) == (400, "malformed")
        assert message.startswith("the request is not valid HTTP: ")
        assert said in message
        assert "\n" not in message
    finally:
        d.stop()


BODY_NEVER_READ = 8 << 20  # far more than any socket buffer holds


def send_what_was_announced(path: Path) -> tuple[int, str, str]:
    """Announce a body of BODY_NEVER_READ bytes, read the answer, then send the body.

    Returns the answer's status and error code, and what became of the body:
    "refused" if the daemon closed the connection before taking it all.
    """
    with connect(path) as sock:
        sock.sendall(
            b"POST /api/tasks?name=big.yaml HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: %d\r\n\r\n" % BODY_NEVER_READ
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        status, headers, _ = split_answer(head)
        body = json.loads(sock.recv(int(headers["content-length"]), socket.MSG_WAITALL))
        try:
            sock.sendall(b"x" * BODY_NEVER_READ)
        except OSError:  # EPIPE or ECONNRESET: the daemon has closed
            return status, body["error"]["code"], "refused"
        return status, body["error"]["code"], "taken"


def test_a_body_announced_too_large_is_not_waited_for(folder: Path) -> None:
    """413, then the connection closes at once: aiohttp's lingering close, which read and
    threw away up to 10 s of the unwanted body, is off."""
    d = daemon(folder, max_request_bytes=1024)
    try:
        assert send_what_was_announced(d.socket) == (413, "too_large", "refused")
    finally:
        d.stop()


def test_gladtuis_client_reads_the_answer_the_daemon_gave_before_closing(folder: Path) -> None:
    """The daemon answers 413 on the head and closes, so the client's send of the body
    fails; the client reads the answer anyway instead of "closed the connection"."""
    d = daemon(folder, max_request_bytes=1024)
    try:
        with pytest.raises(ApiError) as refused:
            d.client.submit(b"# far too long\n" * (BODY_NEVER_READ // 15), "big.yaml")
        assert (refused.value.status, refused.value.code) == (413, "too_large")
        assert "(api.max_request_bytes)" in refused.value.message
    finally:
        d.stop()


@pytest.mark.skipif(not AS_ROOT, reason="needs root to run a client as another user")
def test_a_refused_peer_is_not_waited_for(folder: Path) -> None:
    """403 to a user the modes let in but the daemon does not admit; closed at once."""
    d = daemon(folder)
    try:
        d.socket.parent.chmod(0o711)
        d.socket.chmod(0o666)
        outcome = run_as(lambda: send_what_was_announced(d.socket), NOBODY, NOBODY)
        assert outcome == (403, "forbidden", "refused")
    finally:
        d.stop()
