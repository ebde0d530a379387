"""Posts to a webhook: a real HTTP receiver in this process checks what a CMS plugin would.

The receiver verifies each request's HMAC signature and keeps posts by
Idempotency-Key, as docs/publishing.md's protocol asks; a script of answers makes it
fail the ways a real one does (500s, a taken slug).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from daemon.generation.models import LoadedModel
from daemon.publishing.destinations.base import DestinationUnusable, Placed, PostDraft
from daemon.publishing.destinations.webhook import WebhookDestination
from daemon.service.process import Daemon
from gladtui.config import WebhookPostsConfig, load_config
from tests.apidaemon import ApiDaemon, task_yaml
from tests.paths import REPO

SECRET = "whsec-test-2f9c81"
MUFFINS = "Making Delicious Muffins"


@dataclass
class Receiver:
    """A blog's webhook endpoint. `script`: statuses to answer first, in order, before
    behaving (201, or 409 for a slug it has)."""

    script: list[int] = field(default_factory=list)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by Idempotency-Key
    slugs: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get("x-gladtui-signature", ""), expected):
            self.bad_signatures += 1
            return 401, {"error": "bad signature"}
        body = json.loads(raw)
        key = headers["idempotency-key"]
        with self.lock:
            self.requests.append({"key": key, **body})
            if self.script:
                return self.script.pop(0), {"error": "scripted"}
            if key in self.posts:  # a retry: the post it already made
                return 200, self.posts[key]
            if body["slug"] in self.slugs and not body["replace"]:
                return 409, {"slug": body["slug"], "title": "Theirs", "url": "https://blog/theirs"}
            self.slugs.add(body["slug"])
            post = {"slug": body["slug"], "id": len(self.posts) + 1}
            post["url"] = f"https://blog.example/{body['slug']}/"
            self.posts[key] = post
            return 201, post


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body = state.answer(headers, raw)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/hooks/gladtui?token=abc"
    server.shutdown()
    server.server_close()


def start(
    tiny: LoadedModel, url: str, monkeypatch: pytest.MonkeyPatch, policy: str = "suffix"
) -> ApiDaemon:
    monkeypatch.setenv("GLADTUI_WEBHOOK_SECRET", SECRET)
    settings = {
        "publishing": {
            "retry_base_seconds": 0.05,
            "on_duplicate_slug": policy,
            "posts": {"to": "webhook", "webhook": {"url": url}},
        }
    }
    return ApiDaemon(tiny, settings=settings).start()


def test_two_500s_then_200_make_one_post_with_the_same_key_and_body(
    tiny: LoadedModel, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = receiver
    state.script = [500, 500]
    d = start(tiny, url, monkeypatch)
    try:
        task_id = d.in_review(MUFFINS, name="m.yaml", variations=1)["id"]
        done = d.approve_and_wait(task_id)
        events = d.raw("GET", "/api/status")[1]["publishing"]
    finally:
        d.cleanup()
    assert done["status"] == "published", done["error"]
    assert state.bad_signatures == 0
    assert len(state.requests) == 3 and {r["key"] for r in state.requests} == {task_id}
    first = state.requests[0]
    assert all(r == first for r in state.requests)  # the same post each time
    assert (first["title"], first["slug"], first["replace"]) == (
        MUFFINS,
        "making-delicious-muffins",
        False,
    )
    assert first["featured_image_url"] == done["post"]["featured_image_url"]
    assert list(state.posts) == [task_id]  # one post
    post = done["post"]
    assert (post["destination"], post["location"]) == (
        "webhook",
        "https://blog.example/making-delicious-muffins/",
    )
    assert events["posts_destination"] == (
        f"webhook POST to http://127.0.0.1:{url.split(':')[2].split('/')[0]}/hooks/gladtui"
        " (signed, HMAC-SHA256)"
    )  # no query string: it may hold a token


def test_a_409_sends_the_next_free_slug(
    tiny: LoadedModel, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = receiver
    state.slugs.add("making-delicious-muffins")  # a post the blog made itself
    d = start(tiny, url, monkeypatch)
    try:
        done = d.approve_and_wait(d.in_review(MUFFINS, name="m.yaml", variations=1)["id"])
    finally:
        d.cleanup()
    assert [r["slug"] for r in state.requests] == [
        "making-delicious-muffins",
        "making-delicious-muffins-2",
    ]
    assert done["post"]["slug"] == "making-delicious-muffins-2" and done["error"] is None


def test_a_retry_after_a_lost_answer_gets_the_post_already_made(
    tiny: LoadedModel, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = receiver
    d = start(tiny, url, monkeypatch)
    try:
        first = d.published(d.in_review(MUFFINS, name="a.yaml", variations=1)["id"])
        # The receiver made the second post under -2, but its answer never arrived:
        second_id = d.submit(task_yaml(MUFFINS, variations=1, seed=3), "b.yaml")
        state.posts[second_id] = {"slug": "making-delicious-muffins-7", "id": 99}
        d.wait_status(second_id, "review")
        d.raw("POST", f"/api/tasks/{second_id}/approve", {"variation": 1})
        second = d.wait_status(second_id, "published", "failed")
    finally:
        d.cleanup()
    assert first["post"]["slug"] == "making-delicious-muffins"
    assert second["post"]["slug"] == "making-delicious-muffins-7"  # what the receiver has
    assert second["post"]["location"] == "127.0.0.1 id 99"
    assert len(state.posts) == 2


def test_update_sends_replace_and_skip_sends_nothing_more(
    tiny: LoadedModel, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = receiver
    state.slugs.add("making-delicious-muffins")
    d = start(tiny, url, monkeypatch, policy="update")
    try:
        done = d.approve_and_wait(d.in_review(MUFFINS, name="m.yaml", variations=1)["id"])
    finally:
        d.cleanup()
    assert [(r["slug"], r["replace"]) for r in state.requests] == [
        ("making-delicious-muffins", False),
        ("making-delicious-muffins", True),
    ]
    assert done["post"]["slug"] == "making-delicious-muffins"
    state.requests.clear()
    d = start(tiny, url, monkeypatch, policy="skip")
    try:
        linked = d.approve_and_wait(d.in_review("Apple Pie", name="p.yaml", variations=1)["id"])
        state.slugs.add("pear-tart")
        skipped = d.approve_and_wait(d.in_review("Pear Tart", name="t.yaml", variations=1)["id"])
    finally:
        d.cleanup()
    assert linked["post"]["slug"] == "apple-pie"
    assert [r["slug"] for r in state.requests] == ["apple-pie", "pear-tart"]  # one each
    assert (skipped["post"]["title"], skipped["post"]["location"]) == (
        "Theirs",
        "https://blog/theirs",
    )


def test_a_refused_signature_fails_the_task_at_once_with_the_answer(
    tiny: LoadedModel, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = receiver
    d = start(tiny, url, monkeypatch)
    monkeypatch.setenv("GLADTUI_WEBHOOK_SECRET", "not-the-secret")
    d.stop()
    d.start()  # restarted with the wrong secret
    try:
        failed = d.approve_and_wait(d.in_review(MUFFINS, name="m.yaml", variations=1)["id"])
    finally:
        d.cleanup()
    assert state.bad_signatures == 1 and not state.posts
    assert failed["error"] == (
        "webhook: the receiver answered 401 for 'making-delicious-muffins': "
        '{"error": "bad signature"}'
    )
    assert "not-the-secret" not in failed["error"]


def test_no_secret_refuses_the_start(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLADTUI_WEBHOOK_SECRET", raising=False)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "state_dir: state\npublishing:\n  posts:\n    to: webhook\n"
        "    webhook: {url: 'https://blog.example/hook'}\n"
    )
    with pytest.raises(DestinationUnusable, match="GLADTUI_WEBHOOK_SECRET is not set"):
        Daemon(load_config(config_file, env={}))


def readme_receiver() -> Any:
    """The receiver docs/publishing.md shows, run as it is written there."""
    page = (REPO / "docs" / "publishing.md").read_text()
    start = page.index("```python", page.index("A receiver in a few lines"))
    code = page[start + len("```python") : page.index("```", start + 3)]
    namespace: dict[str, Any] = {"__name__": "readme_receiver"}
    exec(compile(code, "docs/publishing.md", "exec"), namespace)
    return namespace["app"]


def test_the_readme_receiver_speaks_the_protocol(
    tiny: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from werkzeug.serving import make_server

    monkeypatch.setenv("GLADTUI_WEBHOOK_SECRET", SECRET)
    app = readme_receiver()
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/hooks/gladtui"
    d = start(tiny, url, monkeypatch)
    try:
        first = d.approve_and_wait(d.in_review(MUFFINS, name="a.yaml", variations=1)["id"])
        second = d.approve_and_wait(d.in_review(MUFFINS, name="b.yaml", variations=1, seed=5)["id"])
    finally:
        d.cleanup()
        server.shutdown()
    assert (first["post"]["slug"], first["post"]["location"]) == (
        "making-delicious-muffins",
        "127.0.0.1 id 1",
    )
    assert second["post"]["slug"] == "making-delicious-muffins-2"
    # A retry of the first task (same key) gets its post back, not a third one.
    destination = WebhookDestination(WebhookPostsConfig(url=url), SECRET)
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    destination.url = f"http://127.0.0.1:{server.server_port}/hooks/gladtui"
    try:
        again = destination.create(
            PostDraft(
                first["id"], MUFFINS, "making-delicious-muffins-3", "", "u", datetime.now(UTC)
            )
        )
    finally:
        server.shutdown()
    assert again == Placed("making-delicious-muffins", "127.0.0.1 id 1")


def test_the_body_carries_alt_text_caption_and_the_social_card(
    tiny: LoadedModel, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = receiver
    monkeypatch.setenv("GLADTUI_WEBHOOK_SECRET", SECRET)
    posts = {"to": "webhook", "webhook": {"url": url}}
    settings = {"publishing": {"posts": posts, "social_card": "1200x630"}}
    d = ApiDaemon(tiny, settings=settings).start()
    try:
        task_id = d.in_review("Muffins", name="m.yaml", variations=1, caption="Warm")["id"]
        done = d.published(task_id)
    finally:
        d.cleanup()
    [body] = state.requests
    assert body["alt"] == "Muffins: blueberry muffins on a rustic table"  # title + prompt
    assert body["caption"] == "Warm"
    card = body["social_image_url"]
    assert f"/{task_id}-card-" in card and card != done["post"]["featured_image_url"]
