"""The `generation` section: model, sizes, samplers, LoRAs, presets, Ray and speed switches."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from gladtui.config.fields import ConfigPath, ModelRef, Section
from gladtui.config.presets import (
    Preset,
    lora_name_problem,
    lora_weight_problem,
    preset_name_problem,
)
from gladtui.samplers import canonical_sampler, sampler_problem


def _to_sampler(value: str) -> str:
    """A sampler name as the registry spells it; A1111's spelling is accepted."""
    canonical = canonical_sampler(value)
    if canonical is None:
        raise ValueError(sampler_problem(value))
    return canonical


SamplerName = Annotated[str, AfterValidator(_to_sampler)]


def _check_loras(loras: dict[str, float]) -> dict[str, float]:
    for name, weight in loras.items():
        problem = lora_name_problem(name) or lora_weight_problem(weight)
        if problem:
            raise ValueError(problem)
    return loras


LoraWeights = Annotated[dict[str, float], AfterValidator(_check_loras)]


def _sampler_is_scheduler(data: object) -> object:
    """`sampler:` (the docs' word, A1111's `Sampler:`) is another name for `scheduler:`."""
    if isinstance(data, dict) and "sampler" in data:
        if "scheduler" in data:
            raise ValueError("sampler and scheduler are two names of one setting: keep one")
        return {("scheduler" if key == "sampler" else key): v for key, v in data.items()}
    return data


class PresetConfig(Section):
    """A named set of generation settings (`generation.presets.NAME`); unset keys
    fall back to the `generation` defaults."""

    steps: int | None = Field(None, ge=1)
    guidance_scale: float | None = Field(None, ge=0)
    scheduler: SamplerName | None = None
    loras: LoraWeights = Field(default_factory=dict)

    _sampler = model_validator(mode="before")(_sampler_is_scheduler)

    def preset(self) -> Preset:
        return Preset(self.steps, self.guidance_scale, self.scheduler, dict(self.loras))


def _check_presets(presets: dict[str, PresetConfig]) -> dict[str, PresetConfig]:
    for name in presets:
        problem = preset_name_problem(name)
        if problem:
            raise ValueError(problem)
    return presets


class RayConfig(Section):
    address: str = "local"
    replicas: int = Field(1, ge=1, le=1024)
    gpus_per_replica: float = Field(0, ge=0)
    cpus_per_replica: float = Field(1, gt=0)
    torch_threads: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _check_address(self) -> RayConfig:
        a = self.address
        if not (a in ("local", "auto") or a.startswith("ray://") or ":" in a):
            raise ValueError(
                f"generation.ray.address {a!r}: use local (start Ray in the daemon), "
                "auto (the cluster this machine belongs to), ray://HEAD:10001 or HOST:6379"
            )
        return self


class GenerationConfig(Section):
    _sampler = model_validator(mode="before")(_sampler_is_scheduler)

    model: ModelRef = "stabilityai/stable-diffusion-xl-base-1.0"
    config_dir: ConfigPath | None = None
    allow_download: bool = True
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    variations: int = Field(3, ge=1)
    steps: int = Field(30, ge=1)
    guidance_scale: float = Field(7.0, ge=0)
    width: int = Field(1024, ge=8, multiple_of=8)
    height: int = Field(1024, ge=8, multiple_of=8)
    batch_size: int = Field(3, ge=1, le=64)
    cpu_offload: bool = False
    vae_tiling: bool = False
    vae_slicing: bool = False
    max_attempts: int = Field(3, ge=1, le=100)
    scheduler: SamplerName | None = None
    lora_dir: ConfigPath | None = None
    loras: LoraWeights = Field(default_factory=dict)
    presets: Annotated[dict[str, PresetConfig], AfterValidator(_check_presets)] = Field(
        default_factory=dict
    )
    vae: ModelRef | None = None
    max_prompt_tokens: int | None = Field(None, ge=1)
    backend: Literal["local", "ray"] = "local"
    ray: RayConfig = RayConfig()
    previews: Literal["approx", "taesd", "off"] = "approx"
    preview_model: ModelRef = "madebyollin/taesdxl"
    preview_interval_seconds: float = Field(0.5, ge=0, le=3600)
    # GPU speed switches (daemon/generation/speedups.py says what each costs); off by default.
    channels_last: bool = False
    fuse_qkv: bool = False
    compile: bool = False
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = "default"

    @model_validator(mode="after")
    def _fused_qkv_without_loras(self) -> GenerationConfig:
        if self.fuse_qkv and (self.lora_dir is not None or self.loras):
            raise ValueError(
                "generation.fuse_qkv cannot be used with LoRAs (generation.lora_dir or "
                "generation.loras): a LoRA patches the separate query, key and value "
                "projections that fusing replaces, so the LoRA would be silently ignored there"
            )
        return self
