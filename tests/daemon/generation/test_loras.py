"""LoRAs from generation.lora_dir on the real pipeline: effect, weights, switching, refusals."""

from __future__ import annotations

import hashlib
import itertools
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from daemon.generation.images import parse_a1111_parameters, read_parameters
from daemon.generation.models import LoadedModel
from gladtui.config import Config
from gladtui.shapes import TaskStatus
from gladtui.taskfile import TaskFileError, parse_task
from tests.daemon.generation.test_generate import Running, pixels
from tests.lorahelpers import write_tiny_lora

_ids = itertools.count()


@pytest.fixture(scope="module")
def lora_dir(tmp_path_factory: pytest.TempPathFactory, tiny: LoadedModel) -> Path:
    folder = tmp_path_factory.mktemp("loras")
    unet = tiny.pipeline.unet.config
    write_tiny_lora(unet, folder / "style-a.safetensors", seed=1)
    write_tiny_lora(unet, folder / "style b.safetensors", seed=2)  # a space, as files have
    # Misfits: another UNet's layer sizes; made for SD 1.5 (kohya's metadata); no LoRA.
    write_tiny_lora(
        unet, folder / "wide.safetensors", seed=3, changes={"block_out_channels": (32, 32, 128)}
    )
    write_tiny_lora(
        unet, folder / "for-sd15.safetensors", seed=4, metadata={"ss_base_model_version": "sd_v1"}
    )
    (folder / "not-a-lora.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (folder / "damaged.safetensors").write_bytes(b"\xff" * 16)
    return folder


class Loader:
    """Counts how often the base model is loaded (the generator must load it once)."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.calls = 0

    def __call__(self) -> LoadedModel:
        self.calls += 1
        return self.model


@pytest.fixture
def running(tmp_path: Path, tiny: LoadedModel, lora_dir: Path) -> Iterator[Running]:
    generator = Running(tmp_path, tiny, lora_dir=str(lora_dir))
    yield generator
    generator.close()


def render(running: Running, **fields: Any) -> tuple[np.ndarray[Any, Any], Any]:
    """One image (seed 42): its pixels and its variation row."""
    task_id = f"l{next(_ids)}"
    running.add_task(task_id, variations=1, **fields)
    running.wait_for(task_id, TaskStatus.REVIEW, TaskStatus.FAILED)
    task = running.store.tasks.get(task_id)
    assert task is not None and task.status is TaskStatus.REVIEW, task and task.error
    (variation,) = running.store.variations.list(task_id)
    return pixels(Path(variation.path)), variation


def failure(running: Running, **fields: Any) -> str:
    task_id = f"f{next(_ids)}"
    running.add_task(task_id, variations=1, **fields)
    running.wait_for(task_id, TaskStatus.FAILED)
    task = running.store.tasks.get(task_id)
    assert task is not None and task.error is not None
    assert running.store.jobs.pending_for_task(task_id) == []  # not retried: it cannot help
    return task.error


def test_a_lora_changes_the_image_and_weight_zero_is_no_lora(running: Running) -> None:
    plain, _ = render(running)
    styled, _ = render(running, loras={"style-a": 0.8})
    zero, _ = render(running, loras={"style-a": 0.0})
    half, _ = render(running, loras={"style-a": 0.4})
    assert not np.array_equal(styled, plain)
    assert np.array_equal(zero, plain)
    assert not np.array_equal(half, styled) and not np.array_equal(half, plain)


def test_switching_loras_between_tasks_never_reloads_the_model(
    tmp_path: Path, tiny: LoadedModel, lora_dir: Path
) -> None:
    loader = Loader(tiny)
    running = Running(tmp_path, None, loader=loader, lora_dir=str(lora_dir))
    loras = tiny.conditioner.loras
    before = loras.file_loads
    try:
        first_a, _ = render(running, loras={"style-a": 1.0})
        b, _ = render(running, loras={"style b": 1.0})
        both, _ = render(running, loras={"style-a": 1.0, "style b": 0.5})
        none, _ = render(running)
        again_a, _ = render(running, loras={"style-a": 1.0})
    finally:
        running.close()
    assert loader.calls == 1
    assert loras.file_loads - before <= 2  # each file at most once (an earlier test may have)
    assert np.array_equal(first_a, again_a)
    assert len({img.tobytes() for img in (first_a, b, both, none)}) == 4


def test_the_png_records_loras_as_automatic1111_does(running: Running, lora_dir: Path) -> None:
    _, variation = render(running, prompt="muffins", loras={"style-a": 0.8, "style b": 0.5})
    meta = parse_a1111_parameters(read_parameters(Path(variation.path)) or "")
    # In name order (the task keeps them as JSON with sorted keys).
    assert meta["prompt"] == "muffins <lora:style b:0.5> <lora:style-a:0.8>"
    hashes = [
        a1111_lora_hash(lora_dir / "style b.safetensors"),
        a1111_lora_hash(lora_dir / "style-a.safetensors"),
    ]
    assert meta["Lora hashes"] == f"style b: {hashes[0]}, style-a: {hashes[1]}"
    assert variation.loras == {"style-a": 0.8, "style b": 0.5}


def a1111_lora_hash(path: Path) -> str:
    """As A1111 hashes a .safetensors LoRA: SHA-256 of what follows the header, 12 digits."""
    data = path.read_bytes()
    (header,) = struct.unpack("<Q", data[:8])
    return hashlib.sha256(data[8 + header :]).hexdigest()[:12]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("wide", r"LoRA wide does not fit this SDXL model: \d+ of its layers have other sizes"),
        ("for-sd15", r"LoRA for-sd15 was made for sd_v1 \(its metadata says so\), not SDXL"),
        ("not-a-lora", "LoRA not-a-lora does not fit this SDXL model: none of its weights match"),
        ("damaged", "LoRA damaged is not a readable .safetensors file"),
    ],
)
def test_a_lora_that_does_not_fit_fails_the_task_with_the_reason(
    running: Running, name: str, reason: str
) -> None:
    error = failure(running, loras={name: 1.0})
    assert re.search(reason, error), error
    assert "\n" not in error and len(error) < 400
    render(running, loras={"style-a": 1.0})  # the generator, and the LoRAs it has, still serve


def test_a_missing_lora_is_a_task_file_error_listing_what_is_there(lora_dir: Path) -> None:
    rules = Config.model_validate({"generation": {"lora_dir": str(lora_dir)}}).task_rules()
    data = b"title: T\nprompt: p\nloras: {style-c: 0.8, ../etc/passwd: 1, style-a: big}\n"
    with pytest.raises(TaskFileError) as refused:
        parse_task(data, file_name="t.yaml", rules=rules)
    problems = refused.value.problems
    assert any(
        p.startswith("loras: '../etc/passwd' is not a LoRA name: name a file") for p in problems
    )
    assert "loras: a LoRA weight is a number, got 'big'" in problems
    missing = next(p for p in problems if "style-c" in p)
    assert missing == (
        f"loras: no LoRA 'style-c' (style-c.safetensors) in {lora_dir}; found: damaged, for-sd15, "
        "not-a-lora, style b, style-a, wide"
    )
    no_dir = Config().task_rules()
    with pytest.raises(TaskFileError, match=r"generation\.lora_dir is not set"):
        parse_task(b"title: T\nprompt: p\nloras: {style-a: 1}\n", file_name="t.yaml", rules=no_dir)


def test_config_default_loras_apply_and_task_files_add_or_reweight(lora_dir: Path) -> None:
    config = Config.model_validate(
        {"generation": {"lora_dir": str(lora_dir), "loras": {"style-a": 0.5}}}
    )
    rules = config.task_rules()
    plain = parse_task(b"title: T\nprompt: p\n", file_name="t.yaml", rules=rules)
    assert plain.loras == {"style-a": 0.5}
    data = b"title: T\nprompt: p\nloras: {style b: 1.0, style-a: 0}\n"
    spec = parse_task(data, file_name="t.yaml", rules=rules)
    assert spec.loras == {"style-a": 0.0, "style b": 1.0}
    assert spec.file_loras == {"style b": 1.0, "style-a": 0.0}


def test_a_negative_weight_works_and_a_replaced_file_is_loaded_again(
    tmp_path: Path, tiny: LoadedModel
) -> None:
    folder = tmp_path / "loras"
    lora = write_tiny_lora(tiny.pipeline.unet.config, folder / "changing.safetensors", seed=21)
    running = Running(tmp_path / "run", tiny, lora_dir=str(folder))
    loads = tiny.conditioner.loras.file_loads
    try:
        plain, _ = render(running)
        first, _ = render(running, loras={"changing": 1.0})
        negative, _ = render(running, loras={"changing": -1.0})
        assert len({img.tobytes() for img in (plain, first, negative)}) == 3
        assert tiny.conditioner.loras.file_loads == loads + 1  # one file, loaded once
        write_tiny_lora(tiny.pipeline.unet.config, lora, seed=22)  # replaced on disk
        second, _ = render(running, loras={"changing": 1.0})
        assert tiny.conditioner.loras.file_loads == loads + 2
        assert not np.array_equal(second, first)
    finally:
        running.close()
