"""LoRAs from `generation.lora_dir`: loaded once each, switched per task without reloading.

Each LoRA is loaded into the pipeline the first time a task names it, under
its own adapter name (diffusers' PEFT integration), and stays there: a task
that wants other LoRAs, or other weights, only changes which adapters are
active (`set_adapters`), which costs nothing next to a load. A task without
LoRAs turns them all off (`disable_lora`). A file replaced on disk (another
size or time) is loaded again under a new adapter.

A LoRA that does not fit the model is refused with the reason: one made for
Stable Diffusion 1.x/2.x or another family (its kohya metadata says so, or its
layers are not in this UNet, or their sizes differ), or a file that is no
LoRA at all. The failure is a LoraError, a ValueError, so the generator fails
the task at once instead of retrying.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gladtui.config.presets import lora_file, missing_lora_problem

__all__ = ["LoadedLora", "LoraError", "Loras", "lora_short_hash"]

log = logging.getLogger(__name__)

_HASH_BLOCK = 1 << 20
_HEADER_LIMIT = 100 << 20  # safetensors' own cap on the JSON header


class LoraError(ValueError):
    """A LoRA that cannot be used with this model; the message says why."""


@dataclass(frozen=True, slots=True)
class LoadedLora:
    name: str
    adapter: str  # the adapter name inside the pipeline
    stamp: tuple[int, int]  # (size, mtime_ns) of the file that was loaded
    short_hash: str  # what A1111 records in `Lora hashes`


class Loras:
    """The LoRAs of one pipeline: load on first use, then switch."""

    def __init__(self, pipeline: Any) -> None:
        self._pipeline = pipeline
        self._loaded: dict[Path, LoadedLora] = {}  # by file
        self._numbers = itertools.count()
        self.file_loads = 0  # how many times a file was read into the pipeline

    def apply(self, wanted: Mapping[str, float], lora_dir: Path | None) -> list[LoadedLora]:
        """Make exactly `wanted` (names in `lora_dir`) active with its weights; return
        them in order."""
        active = [self._ensure(lora_dir, name) for name in wanted]
        if not active:
            if self._loaded:
                self._pipeline.disable_lora()
            return []
        self._pipeline.enable_lora()  # set_adapters alone does not undo disable_lora
        self._pipeline.set_adapters(
            [lora.adapter for lora in active], adapter_weights=[float(w) for w in wanted.values()]
        )
        return active

    def _ensure(self, lora_dir: Path | None, name: str) -> LoadedLora:
        problem = missing_lora_problem(lora_dir, name)
        if problem:
            raise LoraError(problem)
        assert lora_dir is not None  # missing_lora_problem said so
        path = lora_file(lora_dir, name).resolve()
        stat = path.stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
        loaded = self._loaded.get(path)
        if loaded is not None and loaded.stamp == stamp:
            return loaded
        if loaded is not None:  # the file changed since: drop the old weights
            log.info("LoRA %s changed on disk; loading it again", name)
            self._pipeline.delete_adapters(loaded.adapter)
            del self._loaded[path]
        loaded = self._load(name, path, stamp)
        self._loaded[path] = loaded
        return loaded

    def _load(self, name: str, path: Path, stamp: tuple[int, int]) -> LoadedLora:
        header = _header(path)
        if header is None:
            raise LoraError(f"LoRA {name} is not a readable .safetensors file ({path})")
        base = _base_model(header)
        if base is not None and not base.lower().startswith("sdxl"):
            raise LoraError(
                f"LoRA {name} was made for {base} (its metadata says so), not SDXL: "
                "use a LoRA trained for SDXL"
            )
        adapter = f"lora{next(self._numbers)}"
        _quiet_peft()
        try:
            self._pipeline.load_lora_weights(str(path), adapter_name=adapter)
        except Exception as exc:  # diffusers and PEFT raise many kinds for a misfit
            raise LoraError(f"LoRA {name} does not fit this SDXL model: {_reason(exc)}") from exc
        self.file_loads += 1
        if not any(adapter in names for names in self._pipeline.get_list_adapters().values()):
            raise LoraError(
                f"LoRA {name} does not fit this SDXL model: none of its weights "
                "match the UNet or the text encoders"
            )
        loaded = LoadedLora(name, adapter, stamp, lora_short_hash(path))
        log.info("LoRA %s loaded from %s (hash %s)", name, path, loaded.short_hash)
        return loaded


def _quiet_peft() -> None:
    """PEFT warns, on every LoRA after the first, that the model will hold several
    adapters (the point here: switching without reloading), and, when a misfit is
    unloaded, which adapter is active instead (we set them all before each job)."""
    for message in ("Already found a `peft_config` attribute", r"Adapter \S+ was active which"):
        warnings.filterwarnings("ignore", message=message, category=UserWarning)


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "size mismatch" in text:
        count = text.count("size mismatch")
        return (
            f"{count} of its layers have other sizes than this model's (a LoRA for another "
            "model family, or for a differently shaped SDXL)"
        )
    if "not found in the base model" in text:
        return "its layers are not in this model (a LoRA for another model family?)"
    if "lora" in text.lower() and "param names" in text:
        return "the file holds no LoRA weights"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"{type(exc).__name__}: {first[:300]}"


def _header(path: Path) -> dict[str, Any] | None:
    """The JSON header of a .safetensors file; None when it is not one."""
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > _HEADER_LIMIT:
                return None
            header = json.loads(handle.read(length))
    except (OSError, struct.error, ValueError):
        return None
    return header if isinstance(header, dict) else None


def _base_model(header: dict[str, Any]) -> str | None:
    """The base model kohya's trainer wrote into the metadata (`sd_v1`, `sdxl_base_v1-0`)."""
    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict):
        return None
    value = metadata.get("ss_base_model_version")
    return value if isinstance(value, str) and value else None


def lora_short_hash(path: Path) -> str:
    """A1111's LoRA hash: SHA-256 of the tensor bytes after the header, 12 hex digits.

    The header is left out so that editing a LoRA's metadata keeps its hash; this
    is the hash civitai and image browsers match LoRAs by.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        handle.seek(8 + length)
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()[:12]
