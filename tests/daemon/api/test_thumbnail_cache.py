"""The daemon's thumbnail cache: step widths, the image itself, a bounded LRU folder.

Through a real daemon on its socket; the variations are real PNGs put in its
store (tests/storedpictures.py), so no model runs.
"""

from __future__ import annotations

import io
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from gladtui.shapes import THUMBNAIL_WIDTHS, thumbnail_step
from gladtui.tui.pictures import Pictures
from tests.apidaemon import ApiDaemon, http_get
from tests.storedpictures import add_review_task, sha256_of


@pytest.fixture(scope="module")
def daemon() -> Iterator[ApiDaemon]:
    d = ApiDaemon(None).start()
    yield d
    d.cleanup()


def thumbnail(d: ApiDaemon, task_id: str, index: int, width: int) -> tuple[dict[str, str], bytes]:
    url = f"/api/tasks/{task_id}/variations/{index}/thumbnail?width={width}"
    status, headers, body = http_get(d.socket, url)
    assert status == 200, body
    return headers, body


def cached_files(d: ApiDaemon) -> list[Path]:
    folder = d.config.cache_dir / "api-thumbnails"
    return sorted(folder.glob("*.png")) if folder.is_dir() else []


def test_the_steps_are_ascending_and_round_up() -> None:
    assert list(THUMBNAIL_WIDTHS) == sorted(set(THUMBNAIL_WIDTHS))
    assert [thumbnail_step(w) for w in (1, 64, 65, 320, 321, 8192, 9000)] == [
        64, 64, 128, 320, 512, 8192, 8192,
    ]  # fmt: skip


def test_widths_wider_than_the_image_are_the_image_with_one_etag(daemon: ApiDaemon) -> None:
    """The issue's experiment: 100 widths above a 1024² image wrote 100 scaled copies."""
    [path] = add_review_task(daemon, "wide", (1024, 1024), 1)
    before = cached_files(daemon)
    etags = set()
    for width in range(4000, 4100):
        headers, body = thumbnail(daemon, "wide", 1, width)
        etags.add(headers["ETag"])
        assert headers["Thumbnail-Width"] == "1024"
    assert etags == {f'"{sha256_of(path)}"'}  # the image's own ETag
    assert body == path.read_bytes()
    assert cached_files(daemon) == before


def test_widths_between_steps_are_rounded_up_to_the_step(daemon: ApiDaemon) -> None:
    [path] = add_review_task(daemon, "steps", (700, 350), 1)
    sha = sha256_of(path)
    answers = [thumbnail(daemon, "steps", 1, w) for w in (65, 100, 127, 128)]
    # every width from 65 to 128 is the one 128 px copy
    assert len({(h["ETag"], h["Thumbnail-Width"], body) for h, body in answers}) == 1
    headers, body = thumbnail(daemon, "steps", 1, 100)
    assert (headers["ETag"], headers["Thumbnail-Width"]) == (f'"{sha}-w128"', "128")
    assert Image.open(io.BytesIO(body)).size == (128, 64)
    assert [p.name for p in cached_files(daemon) if p.name.startswith(sha)] == [f"{sha}-w128.png"]
    headers, _ = thumbnail(daemon, "steps", 1, 16)
    assert headers["Thumbnail-Width"] == "64"
    headers, _ = thumbnail(daemon, "steps", 1, 640)
    assert (headers["ETag"], headers["Thumbnail-Width"]) == (f'"{sha}-w640"', "640")
    # 641 rounds up to 768, at or above the image's 700: the image itself
    headers, body = thumbnail(daemon, "steps", 1, 641)
    assert (headers["ETag"], headers["Thumbnail-Width"], body) == (
        f'"{sha}"',
        "700",
        path.read_bytes(),
    )


def test_the_cache_folder_and_files_are_private(daemon: ApiDaemon) -> None:
    add_review_task(daemon, "modes", (300, 300), 1)
    thumbnail(daemon, "modes", 1, 100)
    folder = daemon.config.cache_dir / "api-thumbnails"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = cached_files(daemon)
    assert files
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}


def test_the_tuis_pictures_ask_for_step_widths(daemon: ApiDaemon) -> None:
    [path] = add_review_task(daemon, "tui", (1024, 512), 1)
    picture = Pictures(daemon.client, width=300).fetch(
        "tui", daemon.client.task("tui")["variations"][0]
    )
    assert picture is not None and picture.size == (320, 160)
    assert daemon.client.thumbnail("tui", 1, 200) == thumbnail(daemon, "tui", 1, 256)[1]
    sha = sha256_of(path)
    assert sorted(p.name for p in cached_files(daemon) if p.name.startswith(sha)) == [
        f"{sha}-w256.png", f"{sha}-w320.png",
    ]  # fmt: skip


def test_the_cache_stays_under_its_cap_and_the_least_recently_used_go_first() -> None:
    cap_mb = 0.25
    d = ApiDaemon(None, settings={"api": {"thumbnail_cache_mb": cap_mb}}).start()
    try:
        paths = add_review_task(d, "many", (256, 256), 24)
        name_of = {f"{sha256_of(p)}-w128.png": index for index, p in enumerate(paths, 1)}
        thumbnail(d, "many", 1, 128)
        for index in range(2, 25):
            thumbnail(d, "many", index, 128)
            thumbnail(d, "many", 1, 128)  # used again: the most recently used but one
            total = sum(p.stat().st_size for p in cached_files(d))
            assert total <= cap_mb * (1 << 20)
        kept = sorted(name_of[p.name] for p in cached_files(d))
        assert kept[0] == 1  # used all along: never the least recent
        # the others kept are the latest ones: each removal took the oldest
        assert kept[1:] == list(range(kept[1], 25))
        assert kept[1] > 3, "the cap was never reached: nothing was removed"
    finally:
        d.cleanup()
