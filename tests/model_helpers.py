"""Test-only: write a diffusers SDXL pipeline as ONE checkpoint in the original Stability layout.

diffusers ships only the original -> diffusers conversion (used by
`from_single_file`); this is its inverse, written from the source of
`diffusers.loaders.single_file_utils` (0.42): `convert_ldm_unet_checkpoint`,
`convert_ldm_vae_checkpoint`, `convert_ldm_clip_checkpoint` and
`convert_open_clip_checkpoint`. tests/daemon/generation/test_models.py checks it by running those
functions on its output and getting the original weights back.

Layout written (as in sd_xl_base_1.0.safetensors):
- UNet under `model.diffusion_model.`: `input_blocks.N.{0,1}` (resnet, then
  transformer), `middle_block.{0,1,2}`, `output_blocks.N.{0,1,2}`, `time_embed`,
  `label_emb` (the text_time added embedding), `out`;
- VAE under `first_stage_model.`: `encoder.down.i.block.j`, `decoder.up.i` (in
  reverse order of diffusers' up_blocks), `mid.block_1/attn_1/block_2`, attention
  projections as 1x1 convolutions;
- CLIP ViT-L under `conditioner.embedders.0.transformer.text_model.` (HF names);
- OpenCLIP under `conditioner.embedders.1.model.`: `transformer.resblocks.N`
  with q/k/v fused into `attn.in_proj_*`, `text_projection` as a [width, proj]
  matrix (transposed), `positional_embedding`, `ln_final`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

UNET = "model.diffusion_model."
VAE = "first_stage_model."
CLIP = "conditioner.embedders.0.transformer."
OPEN_CLIP = "conditioner.embedders.1.model."

_UNET_TOP = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}
_UNET_RESNET = {
    "norm1.": "in_layers.0.",
    "conv1.": "in_layers.2.",
    "norm2.": "out_layers.0.",
    "conv2.": "out_layers.3.",
    "time_emb_proj.": "emb_layers.1.",
    "conv_shortcut.": "skip_connection.",
}
_VAE_TOP = {
    "conv_norm_out.": "norm_out.",
    "conv_in.": "conv_in.",
    "conv_out.": "conv_out.",
}
_VAE_ATTENTION = {
    "group_norm.": "norm.",
    "to_q.": "q.",
    "to_k.": "k.",
    "to_v.": "v.",
    "to_out.0.": "proj_out.",
}
_OPEN_CLIP_LAYER = {
    "self_attn.out_proj.": "attn.out_proj.",
    "layer_norm1.": "ln_1.",
    "layer_norm2.": "ln_2.",
    "mlp.fc1.": "mlp.c_fc.",
    "mlp.fc2.": "mlp.c_proj.",
}


def _swap_head(rest: str, table: dict[str, str]) -> str:
    for head, replacement in table.items():
        if rest.startswith(head):
            return replacement + rest[len(head) :]
    raise KeyError(rest)


def unet_to_original(state: dict[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    """diffusers UNet2DConditionModel keys -> `model.diffusion_model.*`."""
    per_block = config["layers_per_block"] + 1  # resnets (+ a down/upsampler slot)
    up_has_attention = ["CrossAttn" in kind for kind in config["up_block_types"]]
    out = {}
    for key, value in state.items():
        if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            block, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
            index = 1 + block * per_block + layer
            if kind == "resnets":
                name = f"input_blocks.{index}.0.{_swap_head(rest, _UNET_RESNET)}"
            else:
                name = f"input_blocks.{index}.1.{rest}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            index = 1 + int(m[1]) * per_block + per_block - 1
            name = f"input_blocks.{index}.0.op.{m[2]}"
        elif m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            name = f"middle_block.{2 * int(m[1])}.{_swap_head(m[2], _UNET_RESNET)}"
        elif m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
            name = f"middle_block.1.{m[1]}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            block, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
            index = block * per_block + layer
            if kind == "resnets":
                name = f"output_blocks.{index}.0.{_swap_head(rest, _UNET_RESNET)}"
            else:
                name = f"output_blocks.{index}.1.{rest}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            block = int(m[1])
            index = block * per_block + per_block - 1
            slot = 2 if up_has_attention[block] else 1
            name = f"output_blocks.{index}.{slot}.conv.{m[2]}"
        else:
            name = _swap_head(key, _UNET_TOP)
        out[UNET + name] = value
    return out


def vae_to_original(state: dict[str, torch.Tensor], config: Any) -> dict[str, torch.Tensor]:
    """diffusers AutoencoderKL keys -> `first_stage_model.*`."""
    last_up = len(config["up_block_types"]) - 1
    out = {}
    for key, value in state.items():
        side, rest = key.split(".", 1)
        if side not in ("encoder", "decoder"):  # quant_conv, post_quant_conv
            out[VAE + key] = value
            continue
        if m := re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest):
            name = f"down.{m[1]}.block.{m[2]}.{_resnet(m[3])}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.(.+)", rest):
            name = f"down.{m[1]}.downsample.{m[2]}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest):
            name = f"up.{last_up - int(m[1])}.block.{m[2]}.{_resnet(m[3])}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.(.+)", rest):
            name = f"up.{last_up - int(m[1])}.upsample.{m[2]}"
        elif m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", rest):
            name = f"mid.block_{int(m[1]) + 1}.{_resnet(m[2])}"
        elif m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", rest):
            name = f"mid.attn_1.{_swap_head(m[1], _VAE_ATTENTION)}"
            if value.ndim == 2:  # the original attention projections are 1x1 convolutions
                value = value[:, :, None, None]
        else:
            name = _swap_head(rest, _VAE_TOP)
        out[f"{VAE}{side}.{name}"] = value
    return out


def _resnet(rest: str) -> str:
    return rest.replace("conv_shortcut.", "nin_shortcut.")


def clip_to_original(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CLIPTextModel keys (flat since transformers 5.6, else `text_model.*`) -> embedder 0."""
    return {CLIP + "text_model." + k.removeprefix("text_model."): v for k, v in state.items()}


def open_clip_to_original(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CLIPTextModelWithProjection keys -> OpenCLIP's, under embedder 1."""
    out: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        inner = key.removeprefix("text_model.")
        if key == "text_projection.weight":
            out[OPEN_CLIP + "text_projection"] = value.T.contiguous()
        elif inner == "embeddings.position_embedding.weight":
            out[OPEN_CLIP + "positional_embedding"] = value
        elif inner == "embeddings.token_embedding.weight":
            out[OPEN_CLIP + "token_embedding.weight"] = value
        elif inner.startswith("final_layer_norm."):
            out[OPEN_CLIP + "ln_final." + inner.removeprefix("final_layer_norm.")] = value
        elif m := re.fullmatch(
            r"encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)", inner
        ):
            fused.setdefault(f"{OPEN_CLIP}transformer.resblocks.{m[1]}.attn.in_proj_{m[3]}", {})[
                m[2]
            ] = value
        elif m := re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", inner):
            name = f"transformer.resblocks.{m[1]}.{_swap_head(m[2], _OPEN_CLIP_LAYER)}"
            out[OPEN_CLIP + name] = value
        else:
            raise KeyError(key)
    for name, parts in fused.items():
        out[name] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


def pipeline_to_original(pipeline: Any) -> dict[str, torch.Tensor]:
    """Every weight of an SDXL pipeline, in one original-layout state dict."""
    return {
        **unet_to_original(pipeline.unet.state_dict(), pipeline.unet.config),
        **vae_to_original(pipeline.vae.state_dict(), pipeline.vae.config),
        **clip_to_original(pipeline.text_encoder.state_dict()),
        **open_clip_to_original(pipeline.text_encoder_2.state_dict()),
    }


def write_original_checkpoint(pipeline: Any, path: Path) -> Path:
    """The pipeline as one .safetensors file in the original Stability layout."""
    state = {k: v.detach().contiguous() for k, v in pipeline_to_original(pipeline).items()}
    save_file(state, str(path))
    return path
