"""Model loading: the tiny builtin, local folders, single files and hub ids, offline."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from daemon.pipeline import (
    TINY_MODEL,
    LoadedModel,
    ModelError,
    build_tiny_sdxl,
    choose_device,
    load_model,
    tiny_model_dir,
)
from gladtui.config import GenerationConfig


def weights_digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*.safetensors"))
    }


def first_image(model: LoadedModel, seed: int = 5) -> np.ndarray:  # type: ignore[type-arg]
    import torch

    image = model.pipeline(
        prompt="a cat",
        num_inference_steps=2,
        width=64,
        height=64,
        generator=torch.Generator("cpu").manual_seed(seed),
    ).images[0]
    return np.asarray(image)


def test_importing_the_loader_does_not_import_torch() -> None:
    probe = "import sys, daemon.pipeline; print('torch' in sys.modules, 'diffusers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "False"]


def test_tiny_build_is_deterministic(tmp_path: Path) -> None:
    first = build_tiny_sdxl(tmp_path / "a")
    second = build_tiny_sdxl(tmp_path / "b")
    digests = weights_digest(first)
    assert len(digests) >= 4  # unet, vae, two text encoders
    assert digests == weights_digest(second)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_builtin_is_built_once_then_loaded_and_generates(tmp_path: Path) -> None:
    config = GenerationConfig(model=TINY_MODEL)
    model = load_model(config, cache_dir=tmp_path)
    folder = tiny_model_dir(tmp_path)
    assert (folder / "model_index.json").exists()
    stamp = (folder / "model_index.json").stat().st_mtime_ns
    again = load_model(config, cache_dir=tmp_path)
    assert (folder / "model_index.json").stat().st_mtime_ns == stamp  # not rebuilt
    assert (model.name, model.device, model.dtype) == ("tiny-sdxl", "cpu", "float32")
    assert np.array_equal(first_image(model), first_image(again))
    assert not np.array_equal(first_image(model, seed=5), first_image(model, seed=6))


def test_a_local_diffusers_folder_loads_by_path(tmp_path: Path) -> None:
    elsewhere = tmp_path / "my-sdxl"
    shutil.copytree(build_tiny_sdxl(tmp_path / "built"), elsewhere)
    model = load_model(GenerationConfig(model=str(elsewhere)), cache_dir=tmp_path / "cache")
    reference = load_model(GenerationConfig(model=TINY_MODEL), cache_dir=tmp_path / "cache")
    assert model.name == "my-sdxl"
    assert np.array_equal(first_image(model), first_image(reference))


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a diffusers folder"):
        load_model(GenerationConfig(model=str(tmp_path / "nope")), cache_dir=tmp_path)


def test_hub_model_not_in_cache_offline_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = GenerationConfig(
        model="stabilityai/stable-diffusion-xl-base-1.0", allow_download=False
    )
    with pytest.raises(ModelError) as refused:
        load_model(config, cache_dir=tmp_path)
    message = str(refused.value)
    assert "generation.allow_download is false" in message
    assert "huggingface-cli download stabilityai/stable-diffusion-xl-base-1.0" in message
    assert "builtin:tiny-sdxl" in message


def test_single_file_errors_name_the_fix(tmp_path: Path) -> None:
    missing = GenerationConfig(model=str(tmp_path / "gone.safetensors"))
    with pytest.raises(ModelError, match="does not exist"):
        load_model(missing, cache_dir=tmp_path)
    checkpoint = tmp_path / "model.safetensors"
    folder = build_tiny_sdxl(tmp_path / "base")
    shutil.copyfile(folder / "unet" / "diffusion_pytorch_model.safetensors", checkpoint)
    offline = GenerationConfig(model=str(checkpoint), allow_download=False)
    with pytest.raises(ModelError, match=r"needs generation\.config_dir"):
        load_model(offline, cache_dir=tmp_path)
    # A file of diffusers-layout keys is not a single-file checkpoint.
    with_config = GenerationConfig(model=str(checkpoint), allow_download=False, config_dir=folder)
    with pytest.raises(ModelError, match="original Stability layout"):
        load_model(with_config, cache_dir=tmp_path)


def test_device_choice_on_this_machine() -> None:
    import torch

    assert choose_device("auto", "auto") == ("cpu", torch.float32)
    assert choose_device("cpu", "bfloat16") == ("cpu", torch.bfloat16)
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no cuda device"):
            choose_device("cuda", "auto")
    with pytest.raises(ModelError, match="float16 is not usable on the CPU"):
        choose_device("cpu", "float16")


def test_memory_switches_are_applied(tmp_path: Path) -> None:
    config = GenerationConfig(model=TINY_MODEL, vae_tiling=True, vae_slicing=True, cpu_offload=True)
    model = load_model(config, cache_dir=tmp_path)
    assert model.pipeline.vae.use_tiling and model.pipeline.vae.use_slicing
    assert first_image(model).shape == (64, 64, 3)  # offload is CUDA-only: ignored here


def test_model_index_names_an_sdxl_pipeline(tmp_path: Path) -> None:
    index = json.loads((build_tiny_sdxl(tmp_path / "t") / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionXLPipeline"
