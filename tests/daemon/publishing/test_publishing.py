"""Publishing with the local publisher: the original checklist, slug policies, failures.

A real daemon (tiny model, real DuckDB, real files); the CDN is the local
publisher's folder. The Cloudinary publisher has its own tests
(tests/daemon/publishing/test_cloudinary.py) and the crash test
(tests/daemon/publishing/test_publish_crash.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.generation.models import LoadedModel
from daemon.publishing.cleanup import sweep_expired
from daemon.publishing.publishers import PublishError, asset_id_for, make_publisher
from daemon.publishing.publishers.local import LocalPublisher
from daemon.store import NewTask, NewVariation, Store
from gladtui.config import Config, ConfigError
from gladtui.shapes import TaskStatus
from tests.apidaemon import ApiDaemon, wait_until
from tests.fakecloudinary import API_SECRET, FakeCloudinary

CDN = "https://cdn.example.com/images"


def start(tiny: LoadedModel, **publishing: Any) -> ApiDaemon:
    settings = {"publishing": {"local": {"dir": "cdn", "base_url": CDN}, **publishing}}
    return ApiDaemon(tiny, settings=settings).start()


@pytest.fixture
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    running = start(tiny)
    yield running
    running.cleanup()


def cdn_files(d: ApiDaemon) -> list[Path]:
    folder = d.root / "cdn"
    return sorted(folder.iterdir()) if folder.exists() else []


# -- the original checklist -------------------------------------------------------------


def test_three_variations_are_saved_with_task_id_and_timestamp(live: ApiDaemon) -> None:
    task = live.in_review("Three", name="three.yaml")
    names = [Path(v["path"]).name for v in task["variations"]]
    assert len(names) == 3 and all(Path(v["path"]).is_file() for v in task["variations"])
    for n, name in enumerate(names, start=1):
        assert re.fullmatch(rf"sdxl-{task['id']}-variation-{n}-\d{{8}}_\d{{6}}\.png", name)
    assert {Path(v["path"]).parent for v in task["variations"]} == {live.config.preview_dir}


def test_approving_variation_2_uploads_its_bytes_and_stores_the_cdn_url(live: ApiDaemon) -> None:
    task = live.in_review("Choose two", name="two.yaml")
    chosen = Path(task["variations"][1]["path"]).read_bytes()
    published = live.approve_and_wait(task["id"], 2)
    assert published["status"] == "published", published["error"]
    [uploaded] = cdn_files(live)
    assert uploaded.read_bytes() == chosen
    assert uploaded.read_bytes() != Path(task["variations"][0]["path"]).read_bytes()
    assert uploaded.name == asset_id_for(task["id"], chosen) + ".png"
    post = published["post"]
    assert post["featured_image_url"] == f"{CDN}/{uploaded.name}"
    assert (post["slug"], post["title"], post["task_id"]) == (
        "choose-two",
        "Choose two",
        task["id"],
    )
    assert Path(task["variations"][1]["path"]).is_file()  # kept: delete_local_after_publish off


def test_the_same_title_twice_never_fails_and_gets_a_suffix(live: ApiDaemon) -> None:
    first = live.in_review("Making Delicious Muffins", name="a.yaml", variations=1)
    second = live.in_review("Making Delicious Muffins", name="b.yaml", variations=1, seed=7)
    assert live.approve_and_wait(first["id"], 1)["post"]["slug"] == "making-delicious-muffins"
    preview = live.raw("GET", f"/api/tasks/{second['id']}")[1]
    assert (preview["slug"], preview["slug_outcome"], preview["slug_taken_by"]) == (
        "making-delicious-muffins-2",
        "suffixed",
        first["id"],
    )
    assert live.approve_and_wait(second["id"], 1)["post"]["slug"] == "making-delicious-muffins-2"
    status, again = live.raw("POST", f"/api/tasks/{second['id']}/approve", {"variation": 1})
    assert status == 200 and again["changed"] is False  # a retry returns what it made
    assert live.raw("GET", "/api/posts")[1]["total"] == 2


def test_reject_removes_the_files_and_a_new_prompt_regenerates(live: ApiDaemon) -> None:
    task = live.in_review("Not this", name="not.yaml", variations=2)
    assert live.raw("POST", f"/api/tasks/{task['id']}/reject", {"prompt": "figs"})[0] == 200
    assert not any(Path(v["path"]).exists() for v in task["variations"])
    again = live.wait_status(task["id"], "review")
    assert [v["prompt"] for v in again["variations"] if not v["removed_at"]] == ["figs", "figs"]
    assert live.approve_and_wait(task["id"], 3)["status"] == "published"


# -- duplicate-slug policies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "second_slug", "posts", "content_from"),
    [("update", "same-title", 1, "second"), ("skip", "same-title", 1, "first")],
)
def test_update_and_skip_policies(
    tiny: LoadedModel, policy: str, second_slug: str, posts: int, content_from: str
) -> None:
    d = start(tiny, on_duplicate_slug=policy)
    try:
        first = d.in_review("Same title", name="1.yaml", variations=1, content="first")
        second = d.in_review("Same title", name="2.yaml", variations=1, seed=9, content="second")
        d.approve_and_wait(first["id"], 1)
        preview = d.raw("GET", f"/api/tasks/{second['id']}")[1]
        expected_outcome = "takes_over" if policy == "update" else "links"
        assert (preview["slug_outcome"], preview["slug_taken_by"]) == (
            expected_outcome,
            first["id"],
        )
        done = d.approve_and_wait(second["id"], 1)
        assert done["status"] == "published" and done["post"]["slug"] == second_slug
        assert d.raw("GET", "/api/posts")[1]["total"] == posts
        assert d.daemon is not None
        [post] = d.daemon.store.posts.list()
        assert post.content == content_from and post.task_id == first["id"]
        second_image = Path(second["variations"][0]["path"]).read_bytes()
        assert (post.asset_id == asset_id_for(second["id"], second_image)) == (policy == "update")
    finally:
        d.cleanup()


# -- exactly once and failures ------------------------------------------------------------


def test_an_upload_done_before_a_crash_is_reused_not_repeated(live: ApiDaemon) -> None:
    task = live.in_review("Uploaded once", name="once.yaml", variations=1)
    path = Path(task["variations"][0]["path"])
    # What the attempt that died after its upload left behind, under the same id.
    LocalPublisher(live.root / "cdn", CDN).upload(path, asset_id_for(task["id"], path.read_bytes()))
    published = live.approve_and_wait(task["id"], 1)
    assert published["status"] == "published" and len(cdn_files(live)) == 1
    assert live.daemon is not None
    [event] = [e for e in live.daemon.store.events.for_task(task["id"]) if e.kind == "published"]
    assert event.detail is not None and event.detail["asset_existed"] is True


def test_a_different_file_under_the_asset_id_fails_at_once(live: ApiDaemon) -> None:
    task = live.in_review("Clash", name="clash.yaml", variations=1)
    data = Path(task["variations"][0]["path"]).read_bytes()
    (live.root / "cdn").mkdir()
    (live.root / "cdn" / f"{asset_id_for(task['id'], data)}.png").write_bytes(b"other")
    failed = live.approve_and_wait(task["id"], 1)
    assert failed["status"] == "failed" and "different content" in failed["error"]
    assert (live.root / "cdn" / f"{asset_id_for(task['id'], data)}.png").read_bytes() == b"other"


def test_an_image_that_cannot_be_read_is_not_retried_but_a_cdn_folder_is(tmp_path: Path) -> None:
    """The local publisher tells the approved image's own fault from its folder's."""
    moved = tmp_path / "moved-away.png"
    with pytest.raises(PublishError) as gone:
        LocalPublisher(tmp_path / "cdn", CDN).upload(moved, "t-1")
    assert not gone.value.retryable and str(gone.value) == (
        f"cannot read the approved image {moved}: No such file or directory; put the file "
        "back at that path and approve again, or generate more variations"
    )
    image = tmp_path / "image.png"
    image.write_bytes(b"png")
    (tmp_path / "blocked").write_text("a file where the CDN folder should be")
    with pytest.raises(PublishError) as blocked:
        LocalPublisher(tmp_path / "blocked", CDN).upload(image, "t-1")
    assert blocked.value.retryable and "cannot copy to" in str(blocked.value)


def test_a_cdn_that_keeps_failing_fails_the_task_then_approve_retries(tiny: LoadedModel) -> None:
    d = start(tiny, max_attempts=2, retry_base_seconds=0.01)
    try:
        (d.root / "cdn").write_text("a file where the CDN folder should be")
        task = d.in_review("Flaky CDN", name="flaky.yaml", variations=1)
        assert d.daemon is not None
        failed = d.approve_and_wait(task["id"], 1)
        assert failed["status"] == "failed" and "cannot copy to" in failed["error"]
        kinds = [e.kind for e in d.daemon.store.events.for_task(task["id"])]
        assert kinds.count("publish_failed") == 2  # one retry, then the end
        (d.root / "cdn").unlink()  # the condition clears
        assert d.approve_and_wait(task["id"], 1)["status"] == "published"
    finally:
        d.cleanup()


def test_delete_local_after_publish(tiny: LoadedModel) -> None:
    d = start(tiny, delete_local_after_publish=True)
    try:
        task = d.in_review("Tidy", name="tidy.yaml", variations=2)
        d.approve_and_wait(task["id"], 1)
        # The file goes after the post is committed (never before): wait for it.
        wait_until(lambda: d.client.task(task["id"])["variations"][0]["removed_at"])
        first, second = d.client.task(task["id"])["variations"]
        assert first["removed_at"] and not Path(first["path"]).exists()
        assert Path(first["thumbnail"]).exists()  # the TUI still shows what was published
        assert second["removed_at"] is None and Path(second["path"]).exists()
    finally:
        d.cleanup()


# -- retention ----------------------------------------------------------------------------


def test_retention_removes_old_previews_of_decided_tasks_only(tmp_path: Path) -> None:
    now = [datetime(2026, 1, 1)]
    store = Store.open(tmp_path / "s.duckdb", clock=lambda: now[0])
    try:
        for task_id, status in [("done", "published"), ("no", "rejected"), ("wait", "review")]:
            store.tasks.create(
                NewTask(id=task_id, title=task_id, prompt="p", variations=1, steps=1,
                        guidance_scale=1.0, width=64, height=64),
                status=TaskStatus(status),
            )  # fmt: skip
            image = tmp_path / f"{task_id}.png"
            image.write_bytes(b"png")
            store.variations.add(
                NewVariation(task_id=task_id, idx=1, path=str(image), seed=1, prompt="p",
                             negative_prompt="", width=64, height=64, steps=1,
                             guidance_scale=1.0, model="m")
            )  # fmt: skip
        now[0] += timedelta(days=29)
        assert sweep_expired(store, 30) == []
        now[0] += timedelta(days=2)
        removed = sweep_expired(store, 30)
        assert sorted(v.task_id for v in removed) == ["done", "no"]
        assert sorted(p.name for p in tmp_path.glob("*.png")) == ["wait.png"]
        assert sweep_expired(store, 0) == []  # 0 keeps forever
    finally:
        store.close()


# -- Cloudinary through the daemon ----------------------------------------------------------


def test_wrong_cloudinary_credentials_fail_the_task_saying_what_to_fix(
    tiny: LoadedModel, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeCloudinary() as cdn:
        wrong = cdn.url.replace(API_SECRET, "wrong-secret-value")
        publishing = {"url": wrong, "upload_prefix": cdn.prefix, "timeout_seconds": 5}
        d = ApiDaemon(
            tiny, settings={"publishing": {"publisher": "cloudinary", "cloudinary": publishing}}
        ).start()
        try:
            task = d.in_review("Wrong key", name="wrong.yaml", variations=1)
            failed = d.approve_and_wait(task["id"], 1)
            assert failed["status"] == "failed" and "check CLOUDINARY_URL" in failed["error"]
            shown = str(d.raw("GET", f"/api/tasks/{task['id']}")) + str(d.raw("GET", "/api/status"))
            assert "wrong-secret-value" not in shown + caplog.text
            assert cdn.assets == {}
        finally:
            d.cleanup()


def test_cloudinary_without_credentials_is_refused_at_start(tmp_path: Path) -> None:
    config = Config.model_validate(
        {"state_dir": str(tmp_path), "publishing": {"publisher": "cloudinary"}}
    )
    with pytest.raises(ConfigError, match="set CLOUDINARY_URL"):
        make_publisher(config)
