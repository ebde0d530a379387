"""Checks made before handing a single `.safetensors` checkpoint to diffusers.

What diffusers' `StableDiffusionXLPipeline.from_single_file` needs, found by
reading its source (0.42) and by round-tripping the tiny model, and why each
check here exists:

- The base model's diffusers configs and tokenizers (`model_index.json`,
  `unet/config.json`, `vae/config.json`, `text_encoder*/config.json`,
  `tokenizer*/`, `scheduler/scheduler_config.json`; no weights). A checkpoint
  holds only tensors, so the architecture comes from these. Passed as
  `config=<local folder>` they are read from disk. Without `config=` diffusers
  guesses a hub repo from the keys and downloads them; and with
  `local_files_only=True` but nothing cached it even *overrides* that flag and
  tries the hub anyway. Hence `generation.config_dir`, and we never call it
  offline without a local folder.
- The original Stability key layout: UNet under `model.diffusion_model.`, VAE
  under `first_stage_model.`, CLIP ViT-L under
  `conditioner.embedders.0.transformer.` and OpenCLIP bigG under
  `conditioner.embedders.1.model.`. Only this layout is converted. diffusers
  answers a file of diffusers keys with a misleading "Failed to load
  CLIPTextModel. Weights for this component appear to be missing", so it is
  refused here first, with the reason.
- The two text encoders are told apart by the width of their position
  embeddings, compared with each encoder's config: the widths in the
  checkpoint must match the config folder's (they do for a real SDXL file and
  SDXL's configs).

The header of a safetensors file is plain JSON after an 8-byte length, so the
keys are read without torch and without loading any tensor.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

MAX_HEADER_BYTES = 100 << 20  # real SDXL headers are ~0.2 MB; bounds a hostile file

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIXES = ("first_stage_model.", "vae.")  # diffusers accepts both
CLIP_PREFIX = "conditioner.embedders.0.transformer."
OPEN_CLIP_PREFIX = "conditioner.embedders.1.model."
LAYOUT = "model.diffusion_model.*, first_stage_model.*, conditioner.embedders.*"

# How keys begin in diffusers layout (a pipeline's, prefixed by component, or one model's).
_DIFFUSERS_PREFIXES = (
    "unet.",
    "text_encoder.",
    "text_encoder_2.",
    "vae.encoder.down_blocks.",
    "down_blocks.",
    "up_blocks.",
    "mid_block.",
    "conv_in.",
    "time_embedding.",
    "add_embedding.",
    "text_model.",
    "encoder.down_blocks.",
    "decoder.up_blocks.",
)

# Files of a diffusers SDXL folder that from_single_file reads through `config=`.
CONFIG_FILES = (
    "model_index.json",
    "unet/config.json",
    "vae/config.json",
    "text_encoder/config.json",
    "text_encoder_2/config.json",
    "scheduler/scheduler_config.json",
)
TOKENIZER_DIRS = ("tokenizer", "tokenizer_2")


class CheckpointError(ValueError):
    """The file or folder cannot serve single-file loading; the message says why."""


def safetensors_keys(path: Path) -> list[str]:
    """The tensor names in a .safetensors file, from its header alone."""
    try:
        with path.open("rb") as handle:
            size_bytes = handle.read(8)
            if len(size_bytes) < 8:
                raise CheckpointError(f"{path.name} is not a .safetensors file (too short)")
            (size,) = struct.unpack("<Q", size_bytes)
            if size > min(MAX_HEADER_BYTES, path.stat().st_size - 8):
                raise CheckpointError(f"{path.name} is not a .safetensors file (bad header size)")
            header = json.loads(handle.read(size))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path.name} is not a .safetensors file ({exc})") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name} is not a .safetensors file (header is not a table)")
    return [key for key in header if key != "__metadata__"]


def layout_problem(keys: list[str]) -> str | None:
    """None for an SDXL base checkpoint in the original Stability layout, else why not."""

    def has(prefix: str | tuple[str, ...]) -> bool:
        return any(key.startswith(prefix) for key in keys)

    if not has(UNET_PREFIX):
        diffusers_keys = sorted(key for key in keys if key.startswith(_DIFFUSERS_PREFIXES))
        if diffusers_keys:
            return (
                f"its keys are in diffusers layout (e.g. {diffusers_keys[0]!r}), "
                f"but a single-file checkpoint must use the original Stability layout ({LAYOUT}); "
                "point generation.model at the diffusers folder it came from instead"
            )
        if has("cond_stage_model."):
            return "it is a Stable Diffusion 1.x/2.x checkpoint; only SDXL is supported"
        return f"it holds no UNet weights ({UNET_PREFIX}*): not an SDXL checkpoint ({LAYOUT})"
    if has("cond_stage_model."):
        return "it is a Stable Diffusion 1.x/2.x checkpoint; only SDXL is supported"
    if not has(OPEN_CLIP_PREFIX):
        if has("conditioner.embedders.0.model."):
            return "it is an SDXL refiner checkpoint; only SDXL base models are supported"
        return f"it has no OpenCLIP text encoder ({OPEN_CLIP_PREFIX}*): not an SDXL base checkpoint"
    if not has(CLIP_PREFIX):
        return f"it has no CLIP text encoder ({CLIP_PREFIX}*): not an SDXL base checkpoint"
    if not has(VAE_PREFIXES):
        return "it has no VAE weights (first_stage_model.*)"
    return None


def config_dir_problem(folder: Path) -> str | None:
    """None if `folder` has what from_single_file reads from a base model folder."""
    if not folder.is_dir():
        return f"{folder} is not a folder"
    missing = [name for name in CONFIG_FILES if not (folder / name).is_file()]
    missing += [f"{name}/" for name in TOKENIZER_DIRS if not (folder / name).is_dir()]
    if missing:
        return f"{folder} lacks {', '.join(missing)} (it must be a diffusers SDXL folder)"
    return None
