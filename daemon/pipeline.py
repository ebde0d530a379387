"""Loading the Stable Diffusion XL pipeline, once per daemon, in every form config allows.

`generation.model` may be `builtin:tiny-sdxl` (tiny random weights, built
offline and deterministically, cached on disk), a local diffusers folder, a
single `.safetensors` checkpoint, or a Hugging Face repo id. Every failure is a
ModelError whose message says what to do.

torch and diffusers are imported inside the functions: they take seconds to
import, and the daemon must start (and answer) before the model is needed.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gladtui.config import GenerationConfig

log = logging.getLogger(__name__)

TINY_MODEL = "builtin:tiny-sdxl"
TINY_VERSION = "tiny-sdxl-v2"  # bump when the builder changes: old caches are not reused


class ModelError(RuntimeError):
    """The model cannot be loaded; the message says why and what to do."""


@dataclass
class LoadedModel:
    pipeline: Any  # diffusers.StableDiffusionXLPipeline
    name: str  # short name recorded in PNG metadata
    device: str
    dtype: str
    load_seconds: float


def tiny_model_dir(cache_dir: Path) -> Path:
    return cache_dir / "models" / TINY_VERSION


def build_tiny_sdxl(target: Path) -> Path:
    """Build the tiny pipeline into `target` (atomically: built aside, then renamed)."""
    import torch

    diffusers, transformers = _diffusers(), _transformers()
    AutoencoderKL, UNet2DConditionModel = diffusers.AutoencoderKL, diffusers.UNet2DConditionModel
    EulerDiscreteScheduler = diffusers.EulerDiscreteScheduler
    StableDiffusionXLPipeline = diffusers.StableDiffusionXLPipeline
    CLIPTextConfig, CLIPTokenizer = transformers.CLIPTextConfig, transformers.CLIPTokenizer
    CLIPTextModel = transformers.CLIPTextModel
    CLIPTextModelWithProjection = transformers.CLIPTextModelWithProjection

    torch.manual_seed(0)  # deterministic weights: the same build on every machine
    # Two text encoders of different widths (32 and 48), as in SDXL, where
    # diffusers tells them apart by width; cross-attention sees their sum.
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=8 * 6 + 48,
        cross_attention_dim=32 + 48,
        norm_num_groups=8,
    )
    torch.manual_seed(1)
    # Four blocks make the VAE scale by 8, as SDXL's does: the UNet then works on
    # latents 1/8 of the image size, so cost grows with size the way it really does.
    vae = AutoencoderKL(
        block_out_channels=[8, 16, 32, 32],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=256,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )

    def text_config(width: int) -> Any:
        return CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=width,
            intermediate_size=2 * width,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=_TOKEN_COUNT,
            hidden_act="gelu",
            projection_dim=width,
        )

    torch.manual_seed(2)
    text_encoder = CLIPTextModel(text_config(32))
    torch.manual_seed(3)
    text_encoder_2 = CLIPTextModelWithProjection(text_config(48))
    tokenizer = CLIPTokenizer(vocab=_byte_vocabulary(), merges=[], model_max_length=77)
    pipeline = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        pipeline.save_pretrained(staging, safe_serialization=True)
        staging.rename(target)  # fails if a concurrent build won: theirs is as good
    except OSError:
        if not (target / "model_index.json").exists():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _byte_vocabulary() -> dict[str, int]:
    """A small CLIP vocabulary: the special tokens and single characters."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in _ALPHABET + ",.!?-'":
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(f"{char}</w>", len(vocab))
    return vocab


_TOKEN_COUNT = len(_byte_vocabulary())


def choose_device(requested: str, requested_dtype: str) -> tuple[str, Any]:
    """(device, torch dtype): CUDA fp16, then Apple MPS fp16, else CPU fp32; or as forced."""
    import torch

    available = {
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
        "cpu": True,
    }
    if requested == "auto":
        device = next(name for name in ("cuda", "mps", "cpu") if available[name])
    elif not available.get(requested, False):
        raise ModelError(f"generation.device is {requested!r}, but no {requested} device is here")
    else:
        device = requested
    if requested_dtype == "auto":
        return device, torch.float32 if device == "cpu" else torch.float16
    if device == "cpu" and requested_dtype == "float16":
        raise ModelError("generation.dtype float16 is not usable on the CPU; use auto or float32")
    return device, getattr(torch, requested_dtype)


def load_model(config: GenerationConfig, *, cache_dir: Path) -> LoadedModel:
    """Load the configured model, move it to its device, apply the memory switches."""
    started = time.monotonic()
    device, dtype = choose_device(config.device, config.dtype)
    pipeline, name = _load(config, cache_dir, dtype)
    if config.cpu_offload and device == "cuda":
        pipeline.enable_model_cpu_offload()
    else:
        if config.cpu_offload:
            log.info("generation.cpu_offload applies to CUDA only; ignored on %s", device)
        pipeline.to(device)
    if config.vae_tiling:
        pipeline.vae.enable_tiling()
    if config.vae_slicing:
        pipeline.vae.enable_slicing()
    pipeline.set_progress_bar_config(disable=True)
    return LoadedModel(
        pipeline=pipeline,
        name=name,
        device=device,
        dtype=str(dtype).removeprefix("torch."),
        load_seconds=time.monotonic() - started,
    )


def _quiet_hub() -> None:
    """No progress bars: the daemon logs lines, and a bar on stderr garbles journald."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    _diffusers().utils.logging.disable_progress_bar()
    _transformers().utils.logging.disable_progress_bar()


def _diffusers() -> Any:
    # Imported by name and typed Any: diffusers' annotations are partial, and
    # its classes are only ever called here.
    return importlib.import_module("diffusers")


def _transformers() -> Any:
    return importlib.import_module("transformers")


def _load(config: GenerationConfig, cache_dir: Path, dtype: Any) -> tuple[Any, str]:
    StableDiffusionXLPipeline = _diffusers().StableDiffusionXLPipeline
    model = config.model
    _quiet_hub()
    if model == TINY_MODEL:
        folder = tiny_model_dir(cache_dir)
        if not (folder / "model_index.json").exists():
            log.info("building %s into %s (first use)", TINY_MODEL, folder)
            build_tiny_sdxl(folder)
        return _from_folder(StableDiffusionXLPipeline, folder, dtype), "tiny-sdxl"
    path = Path(model)
    if model.endswith((".safetensors", ".ckpt")):
        return _from_single_file(StableDiffusionXLPipeline, config, path, dtype), path.stem
    if path.is_absolute():
        if not path.is_dir():
            raise ModelError(f"generation.model {model} is not a diffusers folder (not found)")
        return _from_folder(StableDiffusionXLPipeline, path, dtype), path.name
    return _from_hub(StableDiffusionXLPipeline, config, dtype), model


def _from_folder(pipeline_class: Any, folder: Path, dtype: Any) -> Any:
    try:
        return pipeline_class.from_pretrained(folder, local_files_only=True, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the diffusers folder {folder}: {exc}") from exc


def _from_single_file(pipeline_class: Any, config: GenerationConfig, path: Path, dtype: Any) -> Any:
    if not path.is_file():
        raise ModelError(f"generation.model {path} does not exist")
    if config.config_dir is None and not config.allow_download:
        # from_single_file needs the base model's configs and tokenizers; offline
        # they must come from a local diffusers folder, else it asks the hub.
        raise ModelError(
            f"loading {path.name} offline needs generation.config_dir: a diffusers folder "
            "of the base model (its configs and tokenizers are enough, no weights)"
        )
    try:
        return pipeline_class.from_single_file(
            str(path),
            config=None if config.config_dir is None else str(config.config_dir),
            local_files_only=not config.allow_download,
            dtype=dtype,
        )
    except Exception as exc:  # diffusers raises many kinds for a bad checkpoint
        raise ModelError(
            f"cannot load the checkpoint {path.name}: {exc}. It must be an SDXL checkpoint "
            "in the original Stability layout (model.diffusion_model.*, first_stage_model.*, "
            "conditioner.embedders.*)"
        ) from exc


def _from_hub(pipeline_class: Any, config: GenerationConfig, dtype: Any) -> Any:
    try:
        return pipeline_class.from_pretrained(
            config.model,
            local_files_only=not config.allow_download,
            dtype=dtype,
            use_safetensors=True,
        )
    except Exception as exc:
        advice = (
            f"download it first (`huggingface-cli download {config.model}`), point "
            "generation.model at a local folder or .safetensors file, or use builtin:tiny-sdxl"
        )
        if not config.allow_download:
            advice = f"generation.allow_download is false: {advice}"
        raise ModelError(f"model {config.model!r} is not available ({exc}); {advice}") from exc
