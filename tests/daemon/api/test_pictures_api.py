"""The variations' pictures through the API: bytes, narrower copies, ETags and 304s.

A real daemon generates with the tiny model; the answers are compared with
the files it wrote, byte for byte and pixel for pixel.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from daemon.generation.models import LoadedModel
from tests.apidaemon import ApiDaemon, http_get
from tests.privileges import run_unprivileged


@pytest.fixture(scope="module")
def reviewed(tiny: LoadedModel) -> Iterator[tuple[ApiDaemon, dict[str, Any]]]:
    """One daemon with one task of two 96x64 variations, waiting for review."""
    d = ApiDaemon(tiny).start()
    task = d.in_review("Pictures", variations=2, width=96, height=64)
    yield d, task
    d.cleanup()


def url(task: dict[str, Any], index: int, what: str) -> str:
    return f"/api/tasks/{task['id']}/variations/{index}/{what}"


def test_the_image_is_the_file_with_its_sha256_as_etag(reviewed: tuple[ApiDaemon, Any]) -> None:
    d, task = reviewed
    for variation in task["variations"]:
        on_disk = Path(variation["path"]).read_bytes()
        status, headers, body = get(d, url(task, variation["index"], "image"))
        assert status == 200
        assert body == on_disk
        assert headers["Content-Type"] == "image/png"
        assert headers["ETag"] == f'"{hashlib.sha256(on_disk).hexdigest()}"'
        assert "max-age" in headers["Cache-Control"]


def test_a_repeat_with_the_etag_is_304_without_a_body(reviewed: tuple[ApiDaemon, Any]) -> None:
    d, task = reviewed
    for what in ("image", "thumbnail?width=48", "thumbnail?width=4000"):
        _, headers, _ = get(d, url(task, 1, what))
        status, again, body = get(d, url(task, 1, what), {"If-None-Match": headers["ETag"]})
        assert (status, body) == (304, b"")
        assert again["ETag"] == headers["ETag"]
        status, _, body = get(d, url(task, 1, what), {"If-None-Match": '"something-else"'})
        assert status == 200 and body


def test_a_thumbnail_is_the_image_narrowed_and_kept_in_the_cache(
    reviewed: tuple[ApiDaemon, Any],
) -> None:
    d, task = reviewed
    variation = task["variations"][1]
    # 48 is rounded up to the step 64: never less than asked, one cached copy per step.
    status, headers, body = get(d, url(task, 2, "thumbnail?width=48"))
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert headers["Thumbnail-Width"] == "64"
    thumb = Image.open(io.BytesIO(body))
    assert thumb.size == (64, 43)  # 96x64 at most 64 wide, aspect kept
    with Image.open(variation["path"]) as original:
        expected = original.convert("RGB").resize((64, 43), Image.Resampling.LANCZOS)
    assert _mean_difference(thumb.convert("RGB"), expected) < 8
    cached = list((d.config.cache_dir / "api-thumbnails").glob("*-w64.png"))
    assert [p.read_bytes() for p in cached if p.name.startswith(headers["ETag"][1:65])] == [body]
    # Never wider than the image: a large width gives the image itself.
    _, headers, wide = get(d, url(task, 2, "thumbnail?width=4000"))
    assert wide == Path(variation["path"]).read_bytes()
    assert headers["Thumbnail-Width"] == "96"


def test_a_removed_thumbnail_cache_is_rebuilt(reviewed: tuple[ApiDaemon, Any]) -> None:
    d, task = reviewed
    _, _, first = get(d, url(task, 1, "thumbnail?width=40"))
    removed = list((d.config.cache_dir / "api-thumbnails").glob("*-w64.png"))
    assert removed
    for path in removed:
        path.unlink()
    status, _, second = get(d, url(task, 1, "thumbnail?width=40"))
    assert status == 200 and second == first


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/api/tasks/nope/variations/1/image", 404, "no task 'nope'"),
        ("{task}/variations/9/image", 404, "has no variation 9"),
        ("{task}/variations/0/thumbnail?width=40", 422, "variation"),
        ("{task}/variations/x/image", 422, "variation"),
        ("{task}/variations/1/thumbnail", 422, "width: required"),
        ("{task}/variations/1/thumbnail?width=3", 422, "width: must be between 16 and 8192"),
        ("{task}/variations/1/thumbnail?width=ten", 422, "width"),
    ],
)
def test_what_cannot_be_served_is_a_json_error(
    reviewed: tuple[ApiDaemon, Any], path: str, status: int, words: str
) -> None:
    d, task = reviewed
    answer, body = d.raw("GET", path.format(task=f"/api/tasks/{task['id']}"))
    assert answer == status
    assert body["error"]["status"] == status and words in body["error"]["message"]


def test_the_narrowest_thumbnail_asked_for_is_16_pixels(reviewed: tuple[ApiDaemon, Any]) -> None:
    """The documented minimum exactly: 16 is served (at the first step, 64), 15 is refused."""
    d, task = reviewed
    status, headers, body = get(d, url(task, 1, "thumbnail?width=16"))
    assert (status, headers["Content-Type"]) == (200, "image/png")
    assert headers["Thumbnail-Width"] == "64"
    assert Image.open(io.BytesIO(body)).size == (64, 43)  # 96x64 scaled to the 64 step
    answer, refused = d.raw("GET", url(task, 1, "thumbnail?width=15"))
    assert answer == 422
    assert "width: must be between 16 and 8192, got 15" in refused["error"]["message"]


def test_a_rejected_tasks_pictures_are_gone(tiny: LoadedModel) -> None:
    d = ApiDaemon(tiny).start()
    try:
        task = d.in_review("Gone", variations=1)
        assert get(d, url(task, 1, "image"))[0] == 200
        d.client.reject(task["id"])
        d.wait_status(task["id"], "rejected")
        status, body = d.raw("GET", url(task, 1, "image"))
        assert status == 404 and "removed" in body["error"]["message"]
    finally:
        d.cleanup()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_the_peer_check_guards_the_pictures(reviewed: tuple[ApiDaemon, Any]) -> None:
    d, task = reviewed
    # As if an admin had opened the modes: the uid check still refuses.
    for folder in (d.root, d.socket.parent):
        folder.chmod(0o755)
    d.socket.chmod(0o666)
    try:
        status, body = run_unprivileged(lambda: d.raw("GET", url(task, 1, "image")))
    finally:
        d.socket.parent.chmod(0o700)
    assert status == 403 and "may not use this daemon" in body["error"]["message"]


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    pairs = zip(a.tobytes(), b.tobytes(), strict=True)
    return sum(abs(x - y) for x, y in pairs) / (a.width * a.height * 3)


def get(
    d: ApiDaemon, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return http_get(d.socket, url, headers)
