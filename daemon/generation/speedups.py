"""The GPU speed switches: SDPA attention (checked), channels_last, fused QKV, torch.compile.

All are off by default (`generation.channels_last`, `fuse_qkv`, `compile`);
each trades something for speed, and docs/operations.md ("Speed switches") says what:

- channels_last stores the UNet's and VAE's weights NHWC, the layout CUDA's
  tensor-core convolutions want; no cost but a one-off copy at load.
- fuse_qkv concatenates each attention's query, key and value projections into
  one matrix multiply (diffusers' experimental `fuse_qkv_projections`). LoRAs
  patch the unfused projections, so the two are refused together (config).
- compile runs torch.compile on the UNet and the VAE decoder. The first call
  compiles (minutes for SDXL), so the daemon makes one warm-up image at the
  configured size and batch before it says it is ready; the time is logged and
  shown by `gladtui status`. A task of another size, batch or guidance, or a
  LoRA switch, compiles again at its first use.

Where there is no CUDA: channels_last and fuse_qkv are ignored with a log line
(they pay off on CUDA only); compile runs on the CPU too, where inductor writes
C++ and so needs a C++ compiler (without one the model is refused, with what to
install), and is ignored on Apple MPS, where torch.compile is not yet reliable.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from gladtui.config import GenerationConfig

__all__ = ["SpeedReport", "SpeedupError", "apply_speedups", "attention_kind", "cpp_compiler"]

log = logging.getLogger(__name__)

# What diffusers' attention processors are called when they use torch's
# scaled_dot_product_attention (flash / memory-efficient kernels on CUDA).
_SDPA_PROCESSORS = {"AttnProcessor2_0", "FusedAttnProcessor2_0"}
_CPP_COMPILERS = ("c++", "g++", "clang++")
_WARM_UP_STEPS = 2  # every step runs the same UNet graph; two show the second is reused


class SpeedupError(RuntimeError):
    """A switch cannot work here; the message says why and what to do."""


@dataclass
class SpeedReport:
    """What `gladtui status` says of the switches: what runs, what was ignored and why."""

    attention: str = "sdpa"  # or `not sdpa: CLASS, ...`
    applied: list[str] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (switch, why)
    compile_seconds: float | None = None

    def describe(self) -> str:
        """`sdpa attention, channels_last, fuse_qkv, compiled in 84.2 s`."""
        parts = [f"{self.attention} attention", *self.applied]
        if self.compile_seconds is not None:
            parts.append(f"compiled in {self.compile_seconds:.1f} s")
        parts += [f"{name} ignored ({why})" for name, why in self.ignored]
        return ", ".join(parts)


def apply_speedups(pipeline: Any, config: GenerationConfig, device: str) -> SpeedReport:
    """Apply the configured switches to a pipeline already on `device`; compile warms up."""
    report = SpeedReport()
    for name, wanted, apply in (
        ("channels_last", config.channels_last, _channels_last),
        ("fuse_qkv", config.fuse_qkv, _fuse_qkv),
    ):
        if wanted and device == "cuda":
            apply(pipeline)
            report.applied.append(name)
        elif wanted:
            report.ignored.append((name, f"CUDA only, not {device}"))
    report.attention = attention_kind(pipeline.unet)  # after fusing, which swaps processors
    if config.compile and device == "mps":
        report.ignored.append(("compile", "not on mps"))
    elif config.compile:
        if device == "cpu" and cpp_compiler() is None:
            raise SpeedupError(
                "generation.compile on the CPU needs a C++ compiler (torch's inductor builds "
                f"its CPU kernels with one) and none was found ($CXX, {', '.join(_CPP_COMPILERS)})"
                ": install one (Debian: apt-get install g++) or set generation.compile: false"
            )
        report.compile_seconds = _compile(pipeline, config)
    for name, why in report.ignored:
        log.info("generation.%s is ignored: %s", name, why)
    return report


def attention_kind(unet: Any) -> str:
    """`sdpa` when every attention layer uses torch's fused kernels, else which do not."""
    names = {type(p).__name__ for p in unet.attn_processors.values()}
    others = sorted(names - _SDPA_PROCESSORS)
    if not others:
        return "sdpa"
    log.warning(
        "attention is not torch's scaled_dot_product_attention (%s): slower and more memory; "
        "torch 2 or later and diffusers' default processors give it",
        ", ".join(others),
    )
    return "not sdpa: " + ", ".join(others)


def cpp_compiler() -> str | None:
    """The C++ compiler inductor would use on a CPU: $CXX, else the first one on PATH."""
    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else list(_CPP_COMPILERS)
    return next((path for c in candidates if (path := shutil.which(c))), None)


def _channels_last(pipeline: Any) -> None:
    import torch

    pipeline.unet.to(memory_format=torch.channels_last)
    pipeline.vae.to(memory_format=torch.channels_last)


def _fuse_qkv(pipeline: Any) -> None:
    pipeline.fuse_qkv_projections(unet=True, vae=True)


def _compile(pipeline: Any, config: GenerationConfig) -> float:
    """Compile in place (the modules keep their class, so LoRAs and configs still work),
    then one warm-up call at the configured size: that call is where the compile happens."""
    mode = None if config.compile_mode == "default" else config.compile_mode
    pipeline.unet.compile(mode=mode)
    pipeline.vae.decoder.compile(mode=mode)
    log.info(
        "generation.compile: compiling the UNet and the VAE decoder at %d×%d, batch %d "
        "(the first time takes minutes; torch keeps what it built in its cache)",
        config.width, config.height, config.batch_size,
    )  # fmt: skip
    started = time.perf_counter()
    pipeline(
        prompt="warm-up",
        num_inference_steps=_WARM_UP_STEPS,
        width=config.width,
        height=config.height,
        num_images_per_prompt=config.batch_size,
        guidance_scale=config.guidance_scale,
        output_type="np",
    )
    seconds = time.perf_counter() - started
    log.info("generation.compile: UNet and VAE decoder compiled in %.1f s", seconds)
    return seconds
