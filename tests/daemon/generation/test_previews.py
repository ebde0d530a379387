"""Live previews while generating: a real daemon, the tiny model, the real API.

The tiny model's VAE has random weights, so its final images bear no relation
to SDXL's colours; "the last preview is close to the final image" is checked
against the final latents (the image before the VAE), taken from a bare
pipeline call with the same seed and projected the same way.
"""

from __future__ import annotations

import io
import itertools
import logging
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from daemon.generation.models import LoadedModel
from daemon.generation.previewdecode import ApproxDecoder
from daemon.generation.tinymodel import save_tiny_taesd
from gladtui.atomicfiles import is_temp_name
from gladtui.client import ApiError, Client, ClientError
from gladtui.eventstream import StreamEvent
from tests.apidaemon import ApiDaemon, http_get, short_dir, task_yaml, wait_until

SIZE, STEPS, SEED = 96, 12, 42
GLADTUI = Path(sys.executable).parent / "gladtui"


@pytest.fixture(scope="module")
def every_step(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    """A daemon that decodes an approx preview at every step, two images a batch."""
    d = ApiDaemon(
        tiny, settings={"generation": {"preview_interval_seconds": 0, "batch_size": 2}}
    ).start()
    yield d
    d.cleanup()


def pixels(png: bytes) -> np.ndarray[Any, Any]:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64)


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def assert_no_preview_files(d: ApiDaemon) -> None:
    """Only variations (or their temp files while written) are in the preview folder."""
    for path in files_in(d.config.preview_dir):
        assert path.name.startswith("sdxl-") or is_temp_name(path.name), path


class Watcher:
    """Polls one variation's preview endpoint and reads the event stream until stopped."""

    def __init__(self, d: ApiDaemon, task_id: str, index: int) -> None:
        self.d, self.task_id, self.index = d, task_id, index
        self.seen: list[tuple[str, bytes]] = []  # (Preview-Step, PNG), each new one
        self.events: list[StreamEvent] = []
        self.misses: list[str] = []
        self.done = threading.Event()
        self._threads = [
            threading.Thread(target=self._poll),
            threading.Thread(target=self._follow),
        ]

    def __enter__(self) -> Watcher:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        for thread in self._threads:
            thread.join(30)

    def _poll(self) -> None:
        client = self.d.client
        while not self.done.is_set():
            assert_no_preview_files(self.d)
            try:
                png, step = client.preview(self.task_id, self.index)
            except ApiError as exc:
                self.misses.append(str(exc))
            else:
                if not self.seen or self.seen[-1][0] != step:
                    self.seen.append((step, png))
            self.done.wait(0.02)

    def _follow(self) -> None:
        with self.d.client.events(timeout=10) as stream:
            for event in stream:
                if event.kind == "progress" and event.data.get("task_id") == self.task_id:
                    self.events.append(event)
                if self.done.is_set():
                    return


def final_latent_colour(tiny: LoadedModel, seed: int) -> np.ndarray[Any, Any]:
    """The mean colour of the approx projection of the bare pipeline's final latents."""
    import torch

    latents = tiny.pipeline(
        prompt="blueberry muffins on a rustic table",
        negative_prompt="blurry",
        num_inference_steps=STEPS,
        guidance_scale=7.0,
        width=SIZE,
        height=SIZE,
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="latent",
    ).images
    picture = ApproxDecoder().decode(latents)[0]
    return np.asarray(picture, dtype=np.float64).reshape(-1, 3).mean(axis=0)


def test_approx_previews_from_the_first_steps_change_and_end_near_the_image(
    every_step: ApiDaemon, tiny: LoadedModel
) -> None:
    d = every_step
    data = task_yaml(
        "Forming", variations=2, steps=STEPS, width=SIZE, height=SIZE, guidance_scale=7.0
    )
    task_id = d.submit(data)
    with Watcher(d, task_id, 1) as watcher:
        d.wait_status(task_id, "review")
        wait_until(lambda: watcher.misses and "final" in watcher.misses[-1], timeout=10)
    steps = [int(step.split("/")[0]) for step, _ in watcher.seen]
    assert {step.split("/")[1] for step, _ in watcher.seen} == {str(STEPS)}
    assert steps[0] <= 3, f"the first preview came late: {steps}"
    assert len(steps) >= 4 and steps == sorted(steps), steps
    pictures = [pixels(png) for _, png in watcher.seen]
    assert pictures[0].shape == (SIZE // 8, SIZE // 8, 3)  # approx: one pixel per latent
    changes = [np.abs(a - b).mean() for a, b in itertools.pairwise(pictures)]
    assert min(changes) > 0, "a new step gave the same picture"
    # The last preview is the image as it ends (before the VAE), in mean colour.
    last = pictures[-1].reshape(-1, 3).mean(axis=0)
    assert np.abs(last - final_latent_colour(tiny, SEED)).max() < 8, last
    # Once final, the image endpoint takes over.
    assert "is final: fetch its image" in watcher.misses[-1]
    # The event stream told when each preview came, with its batch's variations.
    marks = [e.data["preview"] for e in watcher.events if e.data.get("preview")]
    assert marks and marks[0]["variations"] == [1, 2] and marks[0]["steps"] == STEPS
    assert [m["step"] for m in marks] == sorted(m["step"] for m in marks)
    assert_no_preview_files(d)


def test_a_preview_has_an_etag_a_step_header_and_answers_304(every_step: ApiDaemon) -> None:
    d = every_step
    task_id = d.submit(task_yaml("Etags", variations=1, steps=150, width=64, height=64))
    try:
        wait_until(lambda: _has_preview(d, task_id), timeout=60)
        status, headers, body = get(d, f"/api/tasks/{task_id}/variations/1/preview")
        assert status == 200 and body.startswith(b"\x89PNG")
        assert headers["Content-Type"] == "image/png"
        assert headers["Preview-Step"].endswith("/150")
        status, _, body = get(
            d, f"/api/tasks/{task_id}/variations/1/preview", {"If-None-Match": headers["ETag"]}
        )
        assert status in (200, 304)  # 200 only if a newer preview came meanwhile
        assert status == 200 or body == b""
        status, _, _ = get(d, f"/api/tasks/{task_id}/variations/2/preview")
        assert status == 404  # not asked for: never generated
    finally:
        d.client.cancel(task_id)
    d.wait_status(task_id, "failed")


def _has_preview(d: ApiDaemon, task_id: str) -> bool:
    try:
        d.client.preview(task_id, 1)
    except ApiError:
        return False
    return True


def test_cancel_while_previews_stream_leaves_no_preview(every_step: ApiDaemon) -> None:
    d = every_step
    task_id = d.submit(task_yaml("Cancelled", variations=2, steps=150, width=64, height=64))
    with pytest.raises(ApiError) as before:
        d.client.preview(task_id, 1)
    assert before.value.status == 404
    wait_until(lambda: _has_preview(d, task_id), timeout=60)
    d.client.cancel(task_id)
    task = d.wait_status(task_id, "failed")
    assert task["variations"] == []
    for index in (1, 2):
        with pytest.raises(ApiError) as after:
            d.client.preview(task_id, index)
        assert after.value.status == 404
    assert d.daemon is not None and len(d.daemon.previews) == 0
    assert_no_preview_files(d)
    assert not list(d.config.preview_dir.glob(f"sdxl-{task_id}-*"))


def test_taesd_previews_from_a_local_model_are_sharper_than_approx(tiny: LoadedModel) -> None:
    root = short_dir()
    model = save_tiny_taesd(root / "taesd")
    d = ApiDaemon(
        tiny,
        root=root,
        settings={
            "generation": {
                "previews": "taesd",
                "preview_model": str(model),
                "allow_download": False,
                "preview_interval_seconds": 0,
            }
        },
    ).start()
    try:
        task_id = d.submit(task_yaml("Sharper", variations=1, steps=150, width=96, height=64))
        wait_until(lambda: _has_preview(d, task_id), timeout=60)
        png, _ = d.client.preview(task_id, 1)
        height, width, _ = pixels(png).shape
        # Sharper than approx (one pixel a latent: 12x8), and the image's shape. (Up
        # to the image's size: a slow machine gets smaller ones, see TaesdDecoder.)
        assert 12 < width <= 96 and abs(width / height - 1.5) < 0.1, (width, height)
        d.client.cancel(task_id)
        d.wait_status(task_id, "failed")
    finally:
        d.cleanup()


def test_a_missing_taesd_model_gives_approx_previews_and_one_log_line(
    tiny: LoadedModel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="daemon.generation.previewdecode")
    d = ApiDaemon(
        tiny,
        settings={
            "generation": {
                "previews": "taesd",
                "preview_model": "madebyollin/not-downloaded-here",
                "allow_download": False,
                "preview_interval_seconds": 0,
            }
        },
    ).start()
    try:
        for title in ("First", "Second"):  # one line, not one per task
            task_id = d.submit(task_yaml(title, variations=1, steps=150, width=64, height=64))
            wait_until(lambda: _has_preview(d, task_id), timeout=60)  # noqa: B023
            png, _ = d.client.preview(task_id, 1)
            assert pixels(png).shape == (8, 8, 3)  # approx: one pixel per latent
            d.client.cancel(task_id)
            d.wait_status(task_id, "failed")
    finally:
        d.cleanup()
    lines = [r.getMessage() for r in caplog.records if r.name == "daemon.generation.previewdecode"]
    assert len(lines) == 1, lines
    assert "approx previews instead" in lines[0]
    assert "madebyollin/not-downloaded-here" in lines[0] and "allow_download" in lines[0]


def test_previews_off_serves_none(tiny: LoadedModel) -> None:
    d = ApiDaemon(tiny, settings={"generation": {"previews": "off"}}).start()
    try:
        task_id = d.submit(task_yaml("Blind", variations=1, steps=60, width=64, height=64))
        d.wait_status(task_id, "generating")
        wait_until(lambda: (d.client.task(task_id)["progress"] or {}).get("step", 0) > 5)
        assert not _has_preview(d, task_id)
        assert d.client.task(task_id)["progress"]["preview"] is None  # type: ignore[index]
        d.client.cancel(task_id)
        d.wait_status(task_id, "failed")
    finally:
        d.cleanup()


def test_show_watch_prints_progress_until_the_task_leaves_generating(
    every_step: ApiDaemon,
) -> None:
    d = every_step
    # Queued behind another, so the watch surely starts before it generates.
    blocker = d.submit(task_yaml("Blocker", variations=1, steps=150, width=64, height=64))
    d.wait_status(blocker, "generating")
    task_id = d.submit(task_yaml("Watched", variations=2, steps=10, width=64, height=64))
    watch = subprocess.Popen(
        [str(GLADTUI), "--config", str(d.config_file), "show", task_id, "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stdout is not None
        assert watch.stdout.readline() == f"{task_id}: queued\n"
        d.client.cancel(blocker)
        stdout, stderr = watch.communicate(timeout=120)
    finally:
        watch.kill()
    assert watch.returncode == 0, stderr
    lines = stdout.splitlines()
    steps = [line for line in lines if line.startswith(f"{task_id}: step ")]
    assert steps, stdout
    assert steps[-1].startswith(f"{task_id}: step 10/10, 0/2 images done"), steps
    assert any("; preview of 1, 2 at step " in line for line in steps), steps
    # One line a step, though each step is sent again once its preview is ready.
    said = [line.split(";")[0] for line in steps]
    assert len(said) == len(set(said)), steps
    # Then the task as `show` prints it, in review now.
    assert any(line.split() == ["status:", "review"] for line in lines), stdout
    assert d.client.task(task_id)["status"] == "review"


def test_kill_9_while_previews_stream_leaves_nothing_behind(tiny: LoadedModel) -> None:
    model = Path(tiny.pipeline.name_or_path).resolve()  # the session's tiny model folder
    root = short_dir()
    config = root / "config.yaml"
    config.write_text(
        "drop_dir: drop\nstate_dir: state\npreview_dir: previews\ncache_dir: cache\n"
        f"socket: run/d.sock\ngeneration:\n  model: {model}\n  device: cpu\n"
        "  preview_interval_seconds: 0\n"
    )
    (root / "drop").mkdir()
    (root / "drop" / "killed.yaml").write_bytes(
        task_yaml("Killed", variations=2, steps=150, width=64, height=64)
    )
    daemon = subprocess.Popen(
        [str(GLADTUI), "--config", str(config), "daemon"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = Client(root / "run" / "d.sock", timeout=5)
        wait_until(lambda: _has_preview_at(client, "killed"), timeout=120)
    finally:
        daemon.kill()
        daemon.wait()
    try:
        assert not files_in(root / "previews"), "a file reached the preview folder"
        # No picture anywhere: the previews were in memory only (the model is elsewhere).
        assert not [p for p in files_in(root) if p.suffix == ".png"]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _has_preview_at(client: Client, task_id: str) -> bool:
    try:
        client.preview(task_id, 1)
    except ClientError:  # not up yet, or no preview yet
        return False
    return True


def get(
    d: ApiDaemon, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return http_get(d.socket, url, headers)
