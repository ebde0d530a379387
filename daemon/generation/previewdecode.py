"""Preview decoders: the latents of a running generation as small RGB pictures.

`generation.previews` picks one:

- `approx`: each latent pixel's 4 channels projected linearly to RGB. No
  weights and next to no work (a 4x3 matrix per latent pixel), so the picture
  is 1/8 of the image's size and blurry, but its colours and shapes are there
  from the first steps. Every peer ships it as the cheapest preview.
- `taesd`: the tiny autoencoder for SDXL (diffusers' `AutoencoderTiny`, e.g.
  madebyollin/taesdxl), sharper, at most `MAX_SIDE` pixels on a side and
  smaller where it is slow (see TaesdDecoder). A model that cannot be found
  gives `approx` and one log line: previews are a comfort, never a reason for
  a generation to fail.

torch and diffusers are imported inside the functions: the daemon starts without them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from daemon.generation.hflibs import diffusers
from daemon.generation.models import _dtype_argument
from gladtui.config import GenerationConfig

if TYPE_CHECKING:
    import numpy as np
    import torch

log = logging.getLogger(__name__)

# SDXL's latent→RGB projection, the 4x3 matrix (rows: latent channels; columns:
# R, G, B) and bias that ComfyUI ships for its "latent2rgb" previews, in
# comfy/latent_formats.py, class SDXL (latent_rgb_factors, latent_rgb_factors_bias).
# It applies to the latents the sampler holds (already multiplied by the VAE's
# scaling factor 0.13025) and gives RGB in [-1, 1].
APPROX_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
APPROX_BIAS = (0.1084, -0.0175, -0.0011)
MAX_SIDE = 384  # pixels: taesd previews are no larger; a gallery thumbnail is 320 wide
DECODE_LIMIT = 0.25  # seconds a taesd decode of a batch may take; a slower preview is stale
LATENT_SCALE = 8  # image pixels per latent pixel, on each side


class PreviewDecoder(Protocol):
    name: str  # approx | taesd

    def decode(self, latents: torch.Tensor) -> list[np.ndarray[Any, Any]]:
        """One HxWx3 uint8 picture per image of the batch."""


class ApproxDecoder:
    name = "approx"

    def decode(self, latents: torch.Tensor) -> list[np.ndarray[Any, Any]]:
        import torch

        with torch.inference_mode():
            x = latents.float()
            factors = torch.tensor(APPROX_FACTORS, device=x.device)
            bias = torch.tensor(APPROX_BIAS, device=x.device)
            rgb = x.permute(0, 2, 3, 1) @ factors + bias  # channels last: one matmul
            return list(_to_bytes(rgb).cpu().numpy())


class TaesdDecoder:
    """taesd, at the size its speed here allows; approx where taesd would be no sharper.

    Its cost grows with the pixels it makes (about 100 GFLOP for 512x512): on a
    GPU that is milliseconds, on a CPU seconds. So the latents are shrunk
    first, to what `MAX_SIDE` and `DECODE_LIMIT` allow at the speed measured
    here (at load, then at every decode); when that would be smaller than
    approx's picture (one pixel a latent), approx is used instead.
    """

    name = "taesd"

    def __init__(self, vae: Any, *, clock: Callable[[], float] = time.perf_counter) -> None:
        import torch

        self.vae = vae  # diffusers.AutoencoderTiny, on the pipeline's device and dtype
        self._clock = clock
        self._approx = ApproxDecoder()
        self._too_slow_told = False
        self.seconds_per_pixel = 0.0
        self._decode(torch.zeros(1, 4, 16, 16))  # the first call pays one-time costs
        self.seconds_per_pixel = 0.0
        self._decode(torch.zeros(1, 4, 16, 16))  # this one measures

    def decode(self, latents: torch.Tensor) -> list[np.ndarray[Any, Any]]:
        batch, _, height, width = latents.shape
        full = LATENT_SCALE * max(height, width)
        affordable = (DECODE_LIMIT / max(self.seconds_per_pixel, 1e-12) / batch) ** 0.5
        scale = min(1.0, MAX_SIDE / full, affordable / full)
        if scale * LATENT_SCALE < 1.0:  # no sharper than approx, and slower
            if not self._too_slow_told:
                self._too_slow_told = True
                log.info(
                    "taesd is too slow here for previews of %dx%d: approx instead",
                    8 * width,
                    8 * height,
                )
            return self._approx.decode(latents)
        return self._decode(latents, scale)

    def _decode(self, latents: torch.Tensor, scale: float = 1.0) -> list[np.ndarray[Any, Any]]:
        import torch
        import torch.nn.functional as F

        started = self._clock()
        with torch.inference_mode():
            x = latents.to(device=self.vae.device, dtype=self.vae.dtype)
            if scale < 1.0:
                x = F.interpolate(x, scale_factor=scale, mode="area")
            # AutoencoderTiny takes the sampler's latents as they are (its scaling
            # factor is 1.0) and decodes to [-1, 1], like the full VAE.
            image = self.vae.decode(x).sample.float()
            pictures = list(_to_bytes(image.permute(0, 2, 3, 1)).cpu().numpy())
        pixels = image.shape[0] * image.shape[2] * image.shape[3]
        measured = (self._clock() - started) / pixels
        # Averaged: one decode slowed by a busy machine must not shrink them all.
        known = self.seconds_per_pixel
        self.seconds_per_pixel = measured if known == 0.0 else (known + measured) / 2
        return pictures


def _to_bytes(rgb: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats, channels last, to uint8 pixels."""
    import torch

    return ((rgb + 1.0) * 127.5).clamp(0, 255).round().to(torch.uint8)


class PreviewModelMissing(Exception):
    """The taesd model cannot be loaded; the message says why."""


def preview_decoder(config: GenerationConfig, *, device: str, dtype: str) -> PreviewDecoder | None:
    """The decoder `generation.previews` asks for; None for `off`.

    `device` and `dtype` are the pipeline's (taesd runs beside it). Blocking
    (taesd loads weights): call it where the model is loaded.
    """
    if config.previews == "off":
        return None
    if config.previews == "taesd":
        try:
            return TaesdDecoder(load_taesd(config, device=device, dtype=dtype))
        except PreviewModelMissing as exc:
            log.warning("taesd previews unavailable, approx previews instead: %s", exc)
    return ApproxDecoder()


def load_taesd(config: GenerationConfig, *, device: str, dtype: str) -> Any:
    """`generation.preview_model` as an AutoencoderTiny; PreviewModelMissing if it is not there.

    A folder is loaded from disk only; a repo id from the Hugging Face cache, and
    downloaded only when `generation.allow_download` is true.
    """
    import torch

    reference = config.preview_model
    path = Path(reference).expanduser()
    where: dict[str, Any]
    if path.is_dir():
        source: str | Path = path
        where = {"local_files_only": True}
    elif path.is_absolute() or reference.startswith((".", "~")):
        raise PreviewModelMissing(f"generation.preview_model {reference} does not exist")
    else:
        source = reference
        if not config.allow_download and not _cached(reference):
            raise PreviewModelMissing(
                f"{reference} is not in the Hugging Face cache and generation.allow_download "
                f"is false (fetch it with `hf download {reference}`)"
            )
        where = {"local_files_only": not config.allow_download}
    try:
        vae = diffusers().AutoencoderTiny.from_pretrained(
            source, use_safetensors=True, **_dtype_argument(getattr(torch, dtype)), **where
        )
    except Exception as exc:  # not a folder of it, offline, unknown repo, bad weights
        raise PreviewModelMissing(f"cannot load {reference}: {exc}") from exc
    if vae.config.latent_channels != len(APPROX_FACTORS):
        raise PreviewModelMissing(
            f"{reference} has {vae.config.latent_channels} latent channels, SDXL has 4"
        )
    return vae.to(device).eval()


def _cached(repo: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo, "config.json"), str)
    except Exception:  # an invalid repo id, an unreadable cache
        return False
