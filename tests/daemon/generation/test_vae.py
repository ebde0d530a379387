"""generation.vae: another VAE in place of the model's own, recorded in the PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from daemon.generation.images import parse_a1111_parameters, read_parameters
from daemon.generation.models import LoadedModel, ModelError, load_model
from gladtui.config import GenerationConfig
from gladtui.shapes import TaskStatus
from tests.daemon.generation.test_generate import Running, pixels


def tiny_folder(tiny: LoadedModel) -> str:
    """The diffusers folder the session's tiny model was loaded from."""
    return str(tiny.pipeline.config._name_or_path)


def write_vae(tiny: LoadedModel, folder: Path, *, seed: int, **changes: object) -> Path:
    from diffusers import AutoencoderKL

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = AutoencoderKL.from_config({**dict(tiny.pipeline.vae.config), **changes})
    vae.save_pretrained(folder)
    return folder


def render(root: Path, model: LoadedModel) -> tuple[np.ndarray[Any, Any], dict[str, str]]:
    running = Running(root, model)
    try:
        running.add_task("vae", variations=1)
        running.wait_for("vae", TaskStatus.REVIEW)
        (variation,) = running.store.variations.list("vae")
    finally:
        running.close()
    meta = parse_a1111_parameters(read_parameters(Path(variation.path)) or "")
    return pixels(Path(variation.path)), meta


def test_a_configured_vae_decodes_and_is_recorded(tmp_path: Path, tiny: LoadedModel) -> None:
    folder = write_vae(tiny, tmp_path / "tiny-vae-fix", seed=5)
    config = GenerationConfig(model=tiny_folder(tiny), vae=str(folder), device="cpu")
    model = load_model(config, cache_dir=tmp_path / "cache")
    assert model.vae == "tiny-vae-fix"
    own_weight = next(iter(tiny.pipeline.vae.state_dict().values()))
    new_weight = next(iter(model.pipeline.vae.state_dict().values()))
    assert not torch.equal(own_weight, new_weight)

    replaced, meta = render(tmp_path / "replaced", model)
    original, original_meta = render(tmp_path / "original", tiny)
    assert meta["VAE"] == "tiny-vae-fix" and "VAE" not in original_meta
    assert not np.array_equal(replaced, original)  # same latents, another decoder


def test_a_pipeline_folder_lends_its_vae(tmp_path: Path, tiny: LoadedModel) -> None:
    config = GenerationConfig(model=tiny_folder(tiny), vae=tiny_folder(tiny), device="cpu")
    model = load_model(config, cache_dir=tmp_path / "cache")
    for own, lent in zip(
        tiny.pipeline.vae.state_dict().values(),
        model.pipeline.vae.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(own, lent)


def test_a_vae_that_is_missing_or_does_not_fit_is_refused(
    tmp_path: Path, tiny: LoadedModel
) -> None:
    missing = GenerationConfig(model=tiny_folder(tiny), vae=str(tmp_path / "nope"), device="cpu")
    with pytest.raises(ModelError, match=r"generation\.vae .*nope does not exist"):
        load_model(missing, cache_dir=tmp_path / "cache")
    wrong = write_vae(tiny, tmp_path / "sd3-like", seed=6, latent_channels=16)
    config = GenerationConfig(model=tiny_folder(tiny), vae=str(wrong), device="cpu")
    with pytest.raises(ModelError, match="has 16 latent channels; this model's VAE has 4"):
        load_model(config, cache_dir=tmp_path / "cache")
