"""Tiny LoRAs for the tiny model, made offline the way trainers make them.

A LoRA is added to a UNet of the tiny model's shape with PEFT (random A and B,
so it visibly changes the image), its weights are taken with PEFT's state-dict
helper, converted to diffusers' key names and written with diffusers'
`save_lora_weights`: the same files a LoRA trainer for SDXL writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

ATTENTION = ["to_q", "to_k", "to_v", "to_out.0"]


def write_tiny_lora(
    unet_config: Any,
    path: Path,
    *,
    seed: int,
    scale: float = 1.0,
    changes: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """A LoRA for a UNet of `unet_config` (with `changes` to it) at `path`."""
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    config = {**dict(unet_config), **(changes or {})}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel.from_config(config)
        lora = LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=ATTENTION)
        unet.add_adapter(lora)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    layers = {key: value * scale if ".up." in key else value for key, value in layers.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionXLPipeline.save_lora_weights(
        path.parent, unet_lora_layers=layers, weight_name=path.name
    )
    if metadata:  # what kohya's trainer adds (ss_base_model_version, …)
        save_file(load_file(path), path, metadata={"format": "pt", **metadata})
    return path
