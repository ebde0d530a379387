"""Loading the Stable Diffusion XL pipeline, once per daemon, in every form config allows.

`generation.model` is one of:

1. `builtin:tiny-sdxl`: tiny random weights (daemon/generation/tinymodel.py), built into
   the cache folder on first use, then loaded like any diffusers folder;
2. a local diffusers folder;
3. a single `.safetensors` checkpoint in the original Stability layout, with
   `generation.config_dir` naming a diffusers folder of the base model for its
   configs and tokenizers (daemon/generation/checkpoint.py says why that is needed);
4. anything else: a Hugging Face repo id, from the cache, or downloaded when
   `generation.allow_download` is true.

Every failure is a ModelError whose message says what to do. torch, diffusers
and transformers are imported inside the functions: they take seconds to
import, and the daemon must start (and answer) before the model is needed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.generation.checkpoint import (
    CheckpointError,
    config_dir_problem,
    layout_problem,
    safetensors_keys,
)
from daemon.generation.conditioning import Conditioner
from daemon.generation.hflibs import diffusers, hub_utils, quiet_progress_bars
from daemon.generation.librarylogs import route_library_logs
from daemon.generation.speedups import SpeedReport, SpeedupError, apply_speedups
from daemon.generation.tinymodel import TINY_VERSION, build_tiny_sdxl, tiny_model_dir
from gladtui.config import BUILTIN_MODEL_PREFIX, GenerationConfig

if TYPE_CHECKING:
    import torch

__all__ = [
    "SDXL_BASE_REPO",
    "TINY_MODEL",
    "TINY_VERSION",
    "LoadedModel",
    "ModelError",
    "build_tiny_sdxl",
    "choose_device",
    "load_model",
    "tiny_model_dir",
]

log = logging.getLogger(__name__)

TINY_MODEL = "builtin:tiny-sdxl"
SDXL_BASE_REPO = "stabilityai/stable-diffusion-xl-base-1.0"
_CONFIG_PATTERNS = ["*.json", "**/*.json", "*.txt", "**/*.txt"]  # what diffusers fetches


class ModelError(RuntimeError):
    """The model cannot be loaded; the message says why and what to do."""


@dataclass
class LoadedModel:
    pipeline: Any  # diffusers.StableDiffusionXLPipeline
    name: str  # short name for PNG metadata: tiny-sdxl, the repo id, the file or folder name
    device: str  # cuda | mps | cpu
    dtype: str  # float16 | bfloat16 | float32
    load_seconds: float
    # Samplers, LoRAs and prompt encoding for this pipeline, kept as long as it is.
    conditioner: Conditioner
    vae: str | None = None  # the generation.vae that replaced the model's own, by name
    speed: SpeedReport = field(default_factory=SpeedReport)  # the GPU speed switches


def choose_device(requested: str, requested_dtype: str) -> tuple[str, torch.dtype]:
    """(device, dtype): auto is CUDA fp16, else Apple MPS fp16, else CPU fp32; or as forced."""
    import torch

    available = {
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
        "cpu": True,
    }
    if requested == "auto":
        device = next(name for name in ("cuda", "mps", "cpu") if available[name])
    elif requested not in available:
        raise ModelError(f"generation.device {requested!r} is unknown: use auto, cuda, mps or cpu")
    elif not available[requested]:
        raise ModelError(
            f"generation.device is {requested!r}, but torch sees no {requested} device here "
            f"(torch {torch.__version__}): set generation.device to auto or cpu"
        )
    else:
        device = requested
    if requested_dtype == "auto":
        return device, torch.float32 if device == "cpu" else torch.float16
    if requested_dtype not in ("float16", "bfloat16", "float32"):
        raise ModelError(f"generation.dtype {requested_dtype!r} is unknown")
    if device == "cpu" and requested_dtype == "float16":
        raise ModelError(
            "generation.dtype float16 is not usable on the CPU (many operations are missing "
            "or very slow in half precision there): use auto, float32 or bfloat16"
        )
    dtype: torch.dtype = getattr(torch, requested_dtype)
    return device, dtype


def load_model(config: GenerationConfig, *, cache_dir: Path) -> LoadedModel:
    """Load the configured pipeline, move it to its device, apply the memory switches."""
    started = time.perf_counter()
    device, dtype = choose_device(config.device, config.dtype)
    route_library_logs()  # before the pipeline modules import and warn
    quiet_progress_bars()
    vae_source = None if config.vae is None else _vae_source(config)
    pipeline, name = _load(config, cache_dir, dtype)
    vae = None if vae_source is None else _replace_vae(config, pipeline, dtype, vae_source)
    try:
        if config.cpu_offload and device == "cuda":
            # Moves each model to the GPU only while it runs: slower, far less VRAM.
            # It places the models itself, so no pipeline.to(device) before it.
            pipeline.enable_model_cpu_offload()
        else:
            if config.cpu_offload:
                log.info("generation.cpu_offload applies to CUDA only; ignored on %s", device)
            pipeline.to(device)
    except Exception as exc:  # out of memory, a driver error
        raise ModelError(
            f"cannot move {name} to {device}: {exc}. Try generation.cpu_offload: true, "
            "a smaller dtype, or generation.device: cpu"
        ) from exc
    if config.vae_tiling:
        pipeline.vae.enable_tiling()
    if config.vae_slicing:
        pipeline.vae.enable_slicing()
    pipeline.set_progress_bar_config(disable=True)
    try:
        speed = apply_speedups(pipeline, config, device)
    except SpeedupError as exc:
        raise ModelError(str(exc)) from exc
    return LoadedModel(
        pipeline=pipeline,
        name=name,
        device=device,
        dtype=str(dtype).removeprefix("torch."),
        load_seconds=time.perf_counter() - started,
        conditioner=Conditioner(pipeline),
        vae=vae,
        speed=speed,
    )


def _vae_source(config: GenerationConfig) -> tuple[str | Path, str, dict[str, Any]]:
    """Where `generation.vae` is, its name for the PNG metadata, and how to load it.

    Checked before the pipeline loads, so a typo fails at once.
    """
    reference = config.vae
    assert reference is not None
    path = Path(reference).expanduser()
    if path.is_dir():
        where: dict[str, Any] = {"local_files_only": True}
        if not (path / "config.json").is_file() and (path / "vae" / "config.json").is_file():
            where["subfolder"] = "vae"  # a whole pipeline folder: take its VAE
        return path, path.name, where
    if path.is_absolute() or reference.startswith((".", "~")):
        raise ModelError(f"generation.vae {reference} does not exist (expected a folder)")
    return reference, reference, {"local_files_only": not config.allow_download}


def _replace_vae(
    config: GenerationConfig, pipeline: Any, dtype: torch.dtype, source: tuple[Any, ...]
) -> str:
    """Load `generation.vae` (a diffusers folder or a repo id) in place of the model's.

    The fp16-fixed SDXL VAE says in its config that it needs no float32 upcast,
    so diffusers decodes with it in float16 on a GPU.
    """
    location, name, where = source
    try:
        vae = diffusers().AutoencoderKL.from_pretrained(
            location, use_safetensors=True, **where, **_dtype_argument(dtype)
        )
    except Exception as exc:
        raise ModelError(
            f"cannot load generation.vae {config.vae}: {exc}. It must be an SDXL VAE as a "
            "diffusers folder (config.json and .safetensors weights) or a Hugging Face repo id"
        ) from exc
    own = pipeline.vae.config.latent_channels
    if vae.config.latent_channels != own:
        raise ModelError(
            f"generation.vae {config.vae} has {vae.config.latent_channels} latent channels; "
            f"this model's VAE has {own}: it is not a VAE for this model"
        )
    pipeline.vae = vae
    return str(name)


def _load(config: GenerationConfig, cache_dir: Path, dtype: torch.dtype) -> tuple[Any, str]:
    model = config.model
    if model == TINY_MODEL:
        folder = tiny_model_dir(cache_dir)
        if not (folder / "model_index.json").is_file():
            log.info("building %s into %s (first use)", TINY_MODEL, folder)
            try:
                build_tiny_sdxl(folder)
            except Exception as exc:
                raise ModelError(f"cannot build {TINY_MODEL} into {folder}: {exc}") from exc
        return _from_folder(folder, dtype), "tiny-sdxl"
    if model.startswith(BUILTIN_MODEL_PREFIX):
        raise ModelError(
            f"generation.model {model!r} is unknown; the builtin model is {TINY_MODEL}"
        )
    path = Path(model).expanduser()
    if model.endswith(".ckpt"):
        raise ModelError(
            f"{path.name} is a pickle checkpoint, which can run code when loaded: "
            "convert it to .safetensors, or use the model's diffusers folder"
        )
    if model.endswith(".safetensors"):
        return _from_single_file(config, path, dtype), path.stem
    if path.is_dir():
        return _from_folder(path, dtype), path.name
    if path.is_absolute() or model.startswith((".", "~")):
        raise ModelError(f"generation.model {model} does not exist (expected a diffusers folder)")
    return _from_hub(config, dtype), model


def _from_folder(folder: Path, dtype: torch.dtype) -> Any:
    if not (folder / "model_index.json").is_file():
        raise ModelError(
            f"{folder} is not a diffusers pipeline folder (no model_index.json): point "
            "generation.model at a folder saved by diffusers, a .safetensors file or a repo id"
        )
    try:
        return _pipeline_class().from_pretrained(
            folder, local_files_only=True, **_dtype_argument(dtype)
        )
    except Exception as exc:  # diffusers raises OSError, ValueError, KeyError... for bad folders
        raise ModelError(f"cannot load the diffusers folder {folder}: {exc}") from exc


def _from_single_file(config: GenerationConfig, path: Path, dtype: torch.dtype) -> Any:
    if not path.is_file():
        raise ModelError(f"generation.model {path} does not exist")
    try:
        problem = layout_problem(safetensors_keys(path))
    except (CheckpointError, OSError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if problem is not None:
        raise ModelError(f"cannot load {path.name}: {problem}")
    config_folder = _single_file_config(config, path)
    # dtype must be passed: without it the weights keep the file's dtype (often
    # float16, even on a CPU). diffusers then casts each model with .to(dtype) and
    # warns "modules ... should be kept in float32: []" about an empty list.
    noise = logging.getLogger("diffusers.models.modeling_utils")
    noise.addFilter(_empty_fp32_warning)
    try:
        return _pipeline_class().from_single_file(
            str(path),
            config=config_folder,
            local_files_only=not config.allow_download,
            **_dtype_argument(dtype),
        )
    except Exception as exc:  # diffusers raises many kinds for a checkpoint it cannot map
        raise ModelError(
            f"cannot load {path.name} with the configs of {config_folder}: {exc}. It must be an "
            "SDXL base checkpoint in the original Stability layout whose architecture matches "
            "those configs"
        ) from exc
    finally:
        noise.removeFilter(_empty_fp32_warning)


def _empty_fp32_warning(record: logging.LogRecord) -> bool:
    return "should be kept in float32: []" not in record.getMessage()


def _single_file_config(config: GenerationConfig, path: Path) -> str:
    """The folder (or repo id) of base-model configs that from_single_file maps onto."""
    if config.config_dir is not None:
        problem = config_dir_problem(config.config_dir)
        if problem is not None:
            raise ModelError(f"generation.config_dir cannot serve {path.name}: {problem}")
        return str(config.config_dir)
    cached = _cached_configs(SDXL_BASE_REPO)
    if cached is not None:  # the base model's configs are already in the HF cache
        return str(cached)
    if not config.allow_download:
        raise ModelError(
            f"loading {path.name} offline needs generation.config_dir: a local diffusers folder "
            f"of the base model (e.g. {SDXL_BASE_REPO}; its configs and tokenizers are enough, "
            "no weights), or set generation.allow_download to true once to fetch them"
        )
    return SDXL_BASE_REPO  # diffusers downloads its configs (json/txt only)


def _cached_configs(repo: str) -> Path | None:
    """The cached snapshot of `repo` if it holds every config from_single_file reads."""
    try:
        from huggingface_hub import snapshot_download

        folder = Path(
            snapshot_download(repo, allow_patterns=_CONFIG_PATTERNS, local_files_only=True)
        )
    except Exception:  # not cached (LocalEntryNotFoundError), or the cache is unreadable
        return None
    return folder if config_dir_problem(folder) is None else None


def _from_hub(config: GenerationConfig, dtype: torch.dtype) -> Any:
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    repo = config.model
    try:
        hub_utils().validate_repo_id(repo)
    except HFValidationError as exc:
        raise ModelError(
            f"generation.model {repo!r} is not an existing folder, a .safetensors file, "
            f"{TINY_MODEL} or a valid Hugging Face repo id ({exc})"
        ) from exc
    advice = (
        f"download it with `hf download {repo}`, point generation.model at a local "
        f"folder or .safetensors file, or use {TINY_MODEL}"
    )
    if not config.allow_download and not isinstance(
        try_to_load_from_cache(repo, "model_index.json"), str
    ):
        raise ModelError(
            f"model {repo!r} is not in the Hugging Face cache and generation.allow_download "
            f"is false: {advice}"
        )
    try:
        return _pipeline_class().from_pretrained(
            repo,
            local_files_only=not config.allow_download,
            use_safetensors=True,  # never unpickle downloaded .bin files
            **_dtype_argument(dtype),
        )
    except Exception as exc:  # not cached, offline, unknown or gated repo, partial download
        where = (
            "is incomplete in the Hugging Face cache and generation.allow_download is false"
            if not config.allow_download
            else "could not be downloaded (check the repo id, the network, and HF_TOKEN for "
            "gated models)"
        )
        raise ModelError(
            f"model {repo!r} {where}: {str(exc).rstrip('.')}. To fix: {advice}"
        ) from exc


def _pipeline_class() -> Any:
    # By name and typed Any: diffusers ships partial annotations (untyped calls).
    return diffusers().StableDiffusionXLPipeline


def _dtype_argument(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """diffusers 0.42 renamed `torch_dtype` to `dtype` (the old name warns); older
    releases know only `torch_dtype`."""
    from diffusers import __version__
    from packaging.version import Version

    return {"dtype" if Version(__version__).release >= (0, 42) else "torch_dtype": dtype}
