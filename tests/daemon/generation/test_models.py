"""Model loading (generation/models.py): every form of generation.model, offline, on real files.

Real diffusers and the tiny builtin model throughout; nothing is mocked. The
single-file test writes the tiny pipeline as one checkpoint in the original
Stability layout with tests/model_helpers.py, checks that mapping with diffusers'
own conversion functions, then loads it with the network cut off.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from daemon.generation.checkpoint import layout_problem
from daemon.generation.models import (
    TINY_MODEL,
    LoadedModel,
    ModelError,
    build_tiny_sdxl,
    choose_device,
    load_model,
    tiny_model_dir,
)
from gladtui.config import GenerationConfig
from tests.model_helpers import pipeline_to_original, write_original_checkpoint
from tests.paths import REPO

ROOT = REPO
COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")


def gen_config(model: str, **extra: Any) -> GenerationConfig:
    return GenerationConfig.model_validate({"model": model, "device": "cpu", **extra})


def weights_digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*.safetensors"))
    }


def generate(model: LoadedModel, seeds: list[int], prompt: str = "a red fox") -> list[Any]:
    images: list[Any] = model.pipeline(
        prompt=[prompt] * len(seeds),
        num_inference_steps=2,
        width=64,
        height=64,
        generator=[torch.Generator().manual_seed(seed) for seed in seeds],
    ).images
    return images


def pixels(image: Any) -> np.ndarray[Any, Any]:
    return np.asarray(image, dtype=np.int16)


def assert_same_weights(a: Any, b: Any) -> None:
    for name in COMPONENTS:
        first, second = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert first.keys() == second.keys(), name
        different = [key for key in first if not torch.equal(first[key], second[key])]
        assert not different, f"{name}: {different[:3]}"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def tiny(cache_dir: Path) -> LoadedModel:
    """The builtin, built on first use into the module's cache folder."""
    return load_model(gen_config(TINY_MODEL), cache_dir=cache_dir)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every attempt to open a connection fails, and fails the test even if caught."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError(f"network access attempted: {address}")

    def refuse_lookup(host: object, *args: object, **kwargs: object) -> None:
        attempts.append(host)
        raise OSError(f"network access attempted: {host}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)
    yield
    assert attempts == []


# ---------------------------------------------------------------- import, device


def test_importing_daemon_models_loads_no_torch() -> None:
    probe = (
        "import sys, json, daemon.generation.models\n"
        "print(json.dumps([m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert json.loads(result.stdout) == []


@pytest.mark.skipif(
    torch.cuda.is_available() or torch.backends.mps.is_available(), reason="needs a CPU-only host"
)
def test_choose_device_on_a_cpu_only_machine() -> None:
    assert choose_device("auto", "auto") == ("cpu", torch.float32)
    assert choose_device("cpu", "auto") == ("cpu", torch.float32)
    assert choose_device("cpu", "bfloat16") == ("cpu", torch.bfloat16)
    with pytest.raises(ModelError, match=r"no cuda device .*generation\.device"):
        choose_device("cuda", "auto")
    with pytest.raises(ModelError, match="no mps device"):
        choose_device("mps", "auto")
    with pytest.raises(ModelError, match="float16 is not usable on the CPU"):
        choose_device("auto", "float16")


# ---------------------------------------------------------------- the tiny builtin


def test_tiny_build_is_deterministic_and_leaves_rng_alone(tmp_path: Path) -> None:
    state = torch.random.get_rng_state()
    first = build_tiny_sdxl(tmp_path / "a")
    second = build_tiny_sdxl(tmp_path / "b")
    assert torch.equal(state, torch.random.get_rng_state())
    digests = weights_digests(first)
    assert sorted(Path(name).parent.name for name in digests) == sorted(COMPONENTS)
    assert digests == weights_digests(second)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.is_dir()]


def test_builtin_loads_and_generates(tiny: LoadedModel, cache_dir: Path) -> None:
    assert type(tiny.pipeline).__name__ == "StableDiffusionXLPipeline"
    assert (tiny.name, tiny.device, tiny.dtype) == ("tiny-sdxl", "cpu", "float32")
    assert tiny.load_seconds > 0
    assert (tiny_model_dir(cache_dir) / "model_index.json").is_file()

    images = generate(tiny, [11, 12, 13])
    assert [image.size for image in images] == [(64, 64)] * 3
    assert not np.array_equal(pixels(images[0]), pixels(images[1]))
    again = generate(tiny, [11, 12, 13])
    for before, after in zip(images, again, strict=True):
        assert np.array_equal(pixels(before), pixels(after))


def test_builtin_is_loaded_from_its_cache_after_the_first_build(
    tiny: LoadedModel, cache_dir: Path, capfd: pytest.CaptureFixture[str], no_network: None
) -> None:
    folder = tiny_model_dir(cache_dir)
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    reloaded = load_model(gen_config(TINY_MODEL), cache_dir=cache_dir)
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == stamps
    out, err = capfd.readouterr()
    assert out == "" and "it/s" not in err  # no progress bars
    assert_same_weights(tiny.pipeline, reloaded.pipeline)


def test_concurrent_builds_make_one_complete_folder_and_remove_stale_temps(
    tmp_path: Path,
) -> None:
    target = tmp_path / "models" / "tiny"
    stale = tmp_path / "models" / ".tiny.tmp-killed"
    (stale / "unet").mkdir(parents=True)  # what a build killed mid-save leaves
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(build_tiny_sdxl(target))) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [target, target]
    assert (target / "model_index.json").is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == [".tiny.lock", "tiny"]


def test_memory_switches_apply_on_cpu(cache_dir: Path, tiny: LoadedModel) -> None:
    config = gen_config(TINY_MODEL, vae_tiling=True, vae_slicing=True, cpu_offload=True)
    model = load_model(config, cache_dir=cache_dir)  # cpu_offload: logged and ignored on CPU
    assert model.pipeline.vae.use_tiling and model.pipeline.vae.use_slicing
    assert model.device == "cpu"
    assert [image.size for image in generate(model, [1, 2])] == [(64, 64)] * 2


# ---------------------------------------------------------------- a local diffusers folder


def test_local_diffusers_folder_loads_by_path(
    tiny: LoadedModel, cache_dir: Path, tmp_path: Path, no_network: None
) -> None:
    folder = shutil.copytree(tiny_model_dir(cache_dir), tmp_path / "my-sdxl")
    model = load_model(gen_config(str(folder), allow_download=False), cache_dir=tmp_path)
    assert model.name == "my-sdxl"
    assert_same_weights(tiny.pipeline, model.pipeline)
    assert np.array_equal(pixels(generate(model, [3])[0]), pixels(generate(tiny, [3])[0]))


def test_a_folder_that_is_not_a_pipeline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no model_index\.json"):
        load_model(gen_config(str(tmp_path)), cache_dir=tmp_path)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(gen_config(str(tmp_path / "nowhere")), cache_dir=tmp_path)


# ---------------------------------------------------------------- one .safetensors file


def test_reverse_mapping_is_undone_by_diffusers_own_conversion(tiny: LoadedModel) -> None:
    # Typed Any: diffusers' conversion functions are unannotated.
    diffusers_conversion: Any = importlib.import_module("diffusers.loaders.single_file_utils")

    pipe = tiny.pipeline
    checkpoint = pipeline_to_original(pipe)
    layout = (
        "model.diffusion_model.",
        "first_stage_model.",
        "conditioner.embedders.0.transformer.text_model.",
        "conditioner.embedders.1.model.",
    )
    assert all(key.startswith(layout) for key in checkpoint)
    clip = {
        key.removeprefix("text_model."): value
        for key, value in diffusers_conversion.convert_ldm_clip_checkpoint(checkpoint).items()
    }
    back = {
        "unet": diffusers_conversion.convert_ldm_unet_checkpoint(checkpoint, pipe.unet.config),
        "vae": diffusers_conversion.convert_ldm_vae_checkpoint(checkpoint, pipe.vae.config),
        "text_encoder": clip,
        "text_encoder_2": diffusers_conversion.convert_open_clip_checkpoint(
            pipe.text_encoder_2, checkpoint, prefix="conditioner.embedders.1.model."
        ),
    }
    for name, converted in back.items():
        original = getattr(pipe, name).state_dict()
        assert converted.keys() == original.keys(), name
        assert all(torch.equal(converted[key], original[key]) for key in original), name
    assert layout_problem(list(checkpoint)) is None


@pytest.fixture(scope="module")
def single_file(tiny: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("checkpoints")
    return write_original_checkpoint(tiny.pipeline, folder / "tiny-sdxl-single.safetensors")


def test_single_file_loads_offline_with_config_dir(
    tiny: LoadedModel, cache_dir: Path, single_file: Path, tmp_path: Path, no_network: None
) -> None:
    # config_dir needs configs and tokenizers only: prove it with a weightless copy.
    configs = shutil.copytree(
        tiny_model_dir(cache_dir), tmp_path / "base", ignore=shutil.ignore_patterns("*.safetensors")
    )
    config = gen_config(str(single_file), config_dir=str(configs), allow_download=False)
    model = load_model(config, cache_dir=tmp_path)
    assert (model.name, model.device, model.dtype) == ("tiny-sdxl-single", "cpu", "float32")
    assert_same_weights(tiny.pipeline, model.pipeline)
    # Same weights, same seed. Pixels may still differ by one level: the file's
    # tensors are memory-mapped at other (unaligned) offsets than the folder's,
    # and CPU BLAS kernels round differently on unaligned memory (~1e-6).
    ours, theirs = generate(model, [42])[0], generate(tiny, [42])[0]
    assert np.abs(pixels(ours) - pixels(theirs)).max() <= 1
    # With every weight copied into fresh (aligned) memory, the images are identical.
    folder_model = load_model(gen_config(TINY_MODEL), cache_dir=cache_dir)
    for pipeline in (model.pipeline, folder_model.pipeline):
        with torch.no_grad():
            for name in COMPONENTS:
                for parameter in getattr(pipeline, name).parameters():
                    parameter.data = parameter.data.clone()
    ours, theirs = generate(model, [42])[0], generate(folder_model, [42])[0]
    assert np.array_equal(pixels(ours), pixels(theirs))


def test_a_float16_checkpoint_loads_as_the_configured_dtype(
    tiny: LoadedModel, cache_dir: Path, tmp_path: Path
) -> None:
    half = {k: v.half() for k, v in pipeline_to_original(tiny.pipeline).items()}
    path = tmp_path / "half.safetensors"
    save_file({k: v.contiguous() for k, v in half.items()}, str(path))
    config = gen_config(str(path), config_dir=str(tiny_model_dir(cache_dir)), allow_download=False)
    model = load_model(config, cache_dir=tmp_path)
    assert {p.dtype for name in COMPONENTS for p in getattr(model.pipeline, name).parameters()} == {
        torch.float32
    }


def test_a_diffusers_layout_file_is_refused(
    cache_dir: Path, tmp_path: Path, tiny: LoadedModel
) -> None:
    unet_file = tiny_model_dir(cache_dir) / "unet" / "diffusion_pytorch_model.safetensors"
    bare = shutil.copy(unet_file, tmp_path / "unet.safetensors")
    prefixed = tmp_path / "pipeline.safetensors"
    save_file(
        {
            f"{name}.{key}": value.contiguous()
            for name in COMPONENTS
            for key, value in getattr(tiny.pipeline, name).state_dict().items()
        },
        str(prefixed),
    )
    for path in (Path(bare), prefixed):
        config = gen_config(str(path), config_dir=str(tiny_model_dir(cache_dir)))
        with pytest.raises(ModelError, match=r"diffusers layout.*original Stability layout"):
            load_model(config, cache_dir=tmp_path)


def test_single_file_errors_say_what_to_do(cache_dir: Path, tmp_path: Path) -> None:
    base = str(tiny_model_dir(cache_dir))

    def error(model: Path, **extra: Any) -> str:
        with pytest.raises(ModelError) as caught:
            load_model(gen_config(str(model), **{"config_dir": base, **extra}), cache_dir=tmp_path)
        return str(caught.value)

    assert "does not exist" in error(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    assert "not a .safetensors file" in error(tmp_path / "junk.safetensors")
    (tmp_path / "old.ckpt").write_bytes(b"pickle")
    assert "convert it to .safetensors" in error(tmp_path / "old.ckpt")
    sd15 = tmp_path / "sd15.safetensors"
    save_file(
        {"model.diffusion_model.x": torch.zeros(1), "cond_stage_model.y": torch.zeros(1)}, str(sd15)
    )
    assert "Stable Diffusion 1.x/2.x" in error(sd15)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    assert "lacks model_index.json" in error(_layout_only_file(tmp_path), config_dir=str(empty_dir))


def _layout_only_file(folder: Path) -> Path:
    """A file whose keys pass the layout check (its tensors are placeholders)."""
    path = folder / "layout-only.safetensors"
    names = [
        "model.diffusion_model.input_blocks.0.0.weight",
        "first_stage_model.encoder.conv_in.weight",
        "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight",
        "conditioner.embedders.1.model.positional_embedding",
    ]
    save_file({name: torch.zeros(1) for name in names}, str(path))
    return path


def test_layout_problems_are_named() -> None:
    full = [
        "model.diffusion_model.a",
        "first_stage_model.b",
        "conditioner.embedders.0.transformer.c",
        "conditioner.embedders.1.model.d",
    ]
    assert layout_problem(full) is None
    assert "refiner" in str(
        layout_problem(["model.diffusion_model.a", "conditioner.embedders.0.model.x"])
    )
    assert "no VAE" in str(layout_problem(full[:1] + full[2:]))
    assert "no CLIP text encoder" in str(layout_problem([*full[:2], full[3]]))
    assert "no UNet" in str(layout_problem(["something.else"]))


# ---------------------------------------------------------------- hub ids, in an empty cache

# Run in a fresh interpreter: huggingface_hub reads HF_HOME / HF_HUB_OFFLINE when
# imported, so only a new process really gets the empty temp cache (and the
# user's real cache is never touched). Connections are refused there as well.
_HUB_PROBE = """
import json, socket, sys
from pathlib import Path
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[-1]))
    raise OSError("network access attempted")
socket.socket.connect = refuse
socket.getaddrinfo = lambda host, *args, **kwargs: refuse(host)
from daemon.generation.models import ModelError, load_model
from gladtui.config import GenerationConfig
cache, checkpoint = Path(sys.argv[1]), sys.argv[2]
cases = {
    "hub_offline": {"model": "stabilityai/stable-diffusion-xl-base-1.0", "allow_download": False},
    "hub_download_fails": {"model": "someone/no-such-model", "allow_download": True},
    "bad_repo_id": {"model": "not a repo id!", "allow_download": False},
    "single_file_no_config_dir": {"model": checkpoint, "allow_download": False},
}
messages = {}
for name, values in cases.items():
    try:
        load_model(GenerationConfig.model_validate({**values, "device": "cpu"}), cache_dir=cache)
        messages[name] = "LOADED"
    except ModelError as exc:
        messages[name] = str(exc)
print(json.dumps({"messages": messages, "network": attempts}))
"""


@pytest.mark.slow
def test_hub_and_offline_errors_in_an_empty_cache(tmp_path: Path) -> None:
    hf_home = tmp_path / "hf"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hf_home / "hub"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
    }
    checkpoint = _layout_only_file(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", _HUB_PROBE, str(tmp_path / "cache"), str(checkpoint)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["network"] == []
    messages = report["messages"]

    offline = messages["hub_offline"]
    assert "'stabilityai/stable-diffusion-xl-base-1.0' is not in the Hugging Face cache" in offline
    assert "generation.allow_download is false" in offline
    assert "hf download stabilityai/stable-diffusion-xl-base-1.0" in offline
    assert "builtin:tiny-sdxl" in offline

    assert "could not be downloaded" in messages["hub_download_fails"]
    assert "builtin:tiny-sdxl" in messages["hub_download_fails"]
    assert "not an existing folder" in messages["bad_repo_id"]

    no_config = messages["single_file_no_config_dir"]
    assert "needs generation.config_dir" in no_config
    assert not list((hf_home / "hub").glob("models--*"))  # nothing fetched or half-fetched
