"""The `generation` section: model, sizes, samplers, LoRAs, presets, Ray and speed switches."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from gladtui.config import defaults
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
    """generation.backend: ray: where the replicas run and what each reserves."""

    address: str = "local"
    """`local`: start a Ray inside the daemon (one machine, several GPUs); `auto`: the cluster this
    machine joined with `ray start`; `ray://HEAD:10001`: a remote cluster
    """
    replicas: int = Field(1, ge=1, le=1024)
    """pipelines loaded at once; the daemon runs that many jobs at the same time"""
    gpus_per_replica: float = Field(0, ge=0)
    """GPUs Ray reserves for each replica (1 on a GPU cluster: one replica per GPU)"""
    cpus_per_replica: float = Field(1, gt=0)
    """CPUs Ray reserves for each replica"""
    torch_threads: int | None = Field(None, ge=1)
    """torch's thread count in each replica; null: the machine's cores / replicas"""

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
    """The model, and how tasks are generated: their defaults, samplers, LoRAs, presets, speed."""

    _sampler = model_validator(mode="before")(_sampler_is_scheduler)

    model: ModelRef = "stabilityai/stable-diffusion-xl-base-1.0"
    """a Hugging Face repo id, a diffusers folder, a `.safetensors` checkpoint, or
    `builtin:tiny-sdxl`
    """
    config_dir: ConfigPath | None = None
    """for a single-file checkpoint offline: a diffusers folder of the base model (configs and
    tokenizers, no weights)
    """
    allow_download: bool = True
    """`false`: use only what is on disk; a missing model is an error that says so"""
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    """`auto` (CUDA, then MPS, then CPU), `cuda`, `mps`, `cpu`"""
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    """`auto` (float16 on GPUs, float32 on the CPU), `float16`, `bfloat16`, `float32`"""
    variations: int = Field(defaults.VARIATIONS, ge=1)
    """variations per task when the task file does not say"""
    steps: int = Field(defaults.STEPS, ge=1)
    """denoising steps, same"""
    guidance_scale: float = Field(defaults.GUIDANCE_SCALE, ge=0)
    """classifier-free guidance, same"""
    width: int = Field(defaults.WIDTH, ge=8, multiple_of=8)
    """image size, same (multiples of 8)"""
    height: int = Field(defaults.HEIGHT, ge=8, multiple_of=8)
    """image size, same (multiples of 8)"""
    batch_size: int = Field(3, ge=1, le=64)
    """images denoised together; lower it if memory runs out"""
    cpu_offload: bool = False
    """model CPU offload on CUDA: less GPU memory, slower"""
    vae_tiling: bool = False
    """decode large images in tiles"""
    vae_slicing: bool = False
    """decode a batch one image at a time"""
    max_attempts: int = Field(3, ge=1, le=100)
    """a generation that keeps failing is `failed` after this many tries"""
    scheduler: SamplerName | None = None
    """the sampler of tasks that name none (`euler_a`, `dpmpp_2m_karras`, …; the table under
    [Samplers](generation.md#samplers)); null: the model's own
    """
    lora_dir: ConfigPath | None = None
    """a folder of LoRA `.safetensors` files that task files name (`loras: {brand-style: 0.8}`)"""
    loras: LoraWeights = Field(default_factory=dict)
    """LoRAs every task gets, `name: weight`; presets and task files add to them or re-weight them
    """
    presets: Annotated[dict[str, PresetConfig], AfterValidator(_check_presets)] = Field(
        default_factory=dict
    )
    """named settings (`steps`, `guidance_scale`, `scheduler`, `loras`) a task picks with `preset:`
    and `generate --preset` renders with. For example:

      presets:
        draft: {scheduler: lcm, steps: 4, guidance_scale: 1.0, loras: {lcm-lora-sdxl: 1.0}}
        final: {scheduler: dpmpp_2m_karras, steps: 30, guidance_scale: 7.0}
    """
    vae: ModelRef | None = None
    """another VAE: a diffusers folder or a repo id, e.g. `madebyollin/sdxl-vae-fp16-fix`; null: the
    model's own
    """
    max_prompt_tokens: int | None = Field(None, ge=1)
    """cut longer prompts to this many tokens (at a word); the task then shows a warning naming the
    dropped words; null: no cap
    """
    backend: Literal["local", "ray"] = "local"
    """`local`: the pipeline runs in the daemon; `ray`: on Ray replicas, one pipeline each (see
    [Ray](operations.md#ray)); needs `pip install 'gladtui[ray]'`
    """
    ray: RayConfig = RayConfig()
    previews: Literal["approx", "taesd", "off"] = "approx"
    """live previews while generating: `approx` (latents projected to colours, nearly free), `taesd`
    (the tiny autoencoder, sharper), `off`; see [Live previews](review.md#live-previews)
    """
    preview_model: ModelRef = "madebyollin/taesdxl"
    """for `taesd`: an `AutoencoderTiny` for SDXL, a diffusers folder or a repo id (downloaded only
    if `allow_download`); missing: `approx` and one log line
    """
    preview_interval_seconds: float = Field(0.5, ge=0, le=3600)
    """a running batch gets a new preview at most this often (`0`: every step)"""
    channels_last: bool = False
    """CUDA: weights in NHWC, the layout tensor-core convolutions want (see [Speed
    switches](operations.md#speed-switches)); ignored on a CPU
    """
    fuse_qkv: bool = False
    """CUDA: one matrix multiply for each attention's query, key and value; refused together with
    LoRAs; ignored on a CPU
    """
    compile: bool = False
    """`torch.compile` the UNet and the VAE decoder; the daemon compiles before it is ready
    (minutes), `gladtui status` shows how long; on a CPU it needs a C++ compiler
    """
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = "default"
    """`default`, `reduce-overhead` (CUDA graphs) or `max-autotune` (a longer compile, the fastest
    kernels)
    """

    @model_validator(mode="after")
    def _fused_qkv_without_loras(self) -> GenerationConfig:
        if self.fuse_qkv and (self.lora_dir is not None or self.loras):
            raise ValueError(
                "generation.fuse_qkv cannot be used with LoRAs (generation.lora_dir or "
                "generation.loras): a LoRA patches the separate query, key and value "
                "projections that fusing replaces, so the LoRA would be silently ignored there"
            )
        return self
