"""Named presets and LoRA names: the rules shared by the config, task files and the API.

A preset (`generation.presets.draft`) bundles steps, guidance, sampler and
LoRAs under a name a task file picks (`preset: draft`) and `gladtui generate
--preset final` re-renders with. Each setting comes from the most specific
place that gives it: the task file, else its preset, else the config's
`generation` defaults. LoRAs add up by name instead: the config's defaults,
then the preset's, then the task's, a later weight replacing an earlier one
(0 turns a LoRA off).

A LoRA is named, never given by path: `brand-style` is
`{generation.lora_dir}/brand-style.safetensors`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = [
    "LORA_SUFFIX",
    "MAX_LORA_WEIGHT",
    "Defaults",
    "Preset",
    "Settings",
    "lora_file",
    "lora_name_problem",
    "lora_weight_problem",
    "merge_loras",
    "missing_lora_problem",
    "over_defaults",
    "preset_name_problem",
]

LORA_SUFFIX = ".safetensors"
MAX_LORA_WEIGHT = 10.0  # A1111 takes any number; beyond this a weight is a typo
# A file name without its suffix: no folders, no hidden files, printable.
_LORA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+()-]{0,127}")
_PRESET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_LISTED = 20  # LoRAs named in a "not found" message; more is noise


@dataclass(frozen=True, slots=True)
class Preset:
    """What a preset sets; None leaves the setting to the config's default."""

    steps: int | None = None
    guidance_scale: float | None = None
    scheduler: str | None = None
    loras: Mapping[str, float] = field(default_factory=dict)


class Defaults(Protocol):
    """What a preset leaves to the config: `generation`'s settings, or a task
    file's rules drawn from them (gladtui/taskfile.py's TaskRules)."""

    @property
    def steps(self) -> int: ...
    @property
    def guidance_scale(self) -> float: ...
    @property
    def scheduler(self) -> str | None: ...
    @property
    def loras(self) -> Mapping[str, float]: ...


@dataclass(frozen=True, slots=True)
class Settings:
    """A preset's settings resolved: each one it gives, else the config's default."""

    steps: int
    guidance_scale: float
    scheduler: str | None  # None: the model's own
    loras: dict[str, float]


def over_defaults(preset: Preset, defaults: Defaults) -> Settings:
    """`preset`'s values over the config's defaults, in the one place that says how:
    a setting the preset gives wins, the LoRAs add up (the preset's re-weight the
    config's). A task file's own values and a request's `steps` go over these."""
    return Settings(
        steps=defaults.steps if preset.steps is None else preset.steps,
        guidance_scale=(
            defaults.guidance_scale if preset.guidance_scale is None else preset.guidance_scale
        ),
        scheduler=preset.scheduler or defaults.scheduler,
        loras=merge_loras(defaults.loras, preset.loras),
    )


def preset_name_problem(name: str) -> str | None:
    if _PRESET_NAME.fullmatch(name):
        return None
    return f"preset name {name!r} must be lower-case letters, digits, '-' or '_'"


def lora_name_problem(name: object) -> str | None:
    """None for a usable LoRA name (a file name in lora_dir without .safetensors)."""
    if not isinstance(name, str):
        return f"a LoRA name is text, got {name!r}"
    if name.endswith(LORA_SUFFIX):
        return f"name the LoRA without {LORA_SUFFIX}: {name.removesuffix(LORA_SUFFIX)!r}"
    if not _LORA_NAME.fullmatch(name) or name.endswith((".", " ")):
        return (
            f"{name!r} is not a LoRA name: name a file of generation.lora_dir without its "
            f"{LORA_SUFFIX} (letters, digits, spaces, '.', '_', '-', '+', no folders)"
        )
    return None


def lora_weight_problem(weight: object) -> str | None:
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        return f"a LoRA weight is a number, got {weight!r}"
    if not math.isfinite(weight) or abs(weight) > MAX_LORA_WEIGHT:
        return f"a LoRA weight must be between -{MAX_LORA_WEIGHT:g} and {MAX_LORA_WEIGHT:g}"
    return None


def lora_file(lora_dir: Path, name: str) -> Path:
    return lora_dir / f"{name}{LORA_SUFFIX}"


def missing_lora_problem(lora_dir: Path | None, name: str) -> str | None:
    """None if the LoRA's file is there, else what is wrong and what is there instead."""
    if lora_dir is None:
        return f"LoRA {name!r} is named, but generation.lora_dir is not set in the config"
    if lora_file(lora_dir, name).is_file():
        return None
    try:
        found = sorted(p.name.removesuffix(LORA_SUFFIX) for p in lora_dir.glob(f"*{LORA_SUFFIX}"))
    except OSError:
        found = []
    if not lora_dir.is_dir():
        return f"LoRA {name!r}: generation.lora_dir {lora_dir} is not a folder"
    shown = ", ".join(found[:_LISTED]) + (", …" if len(found) > _LISTED else "")
    return f"no LoRA {name!r} ({name}{LORA_SUFFIX}) in {lora_dir}; found: {shown or 'none'}"


def merge_loras(*levels: Mapping[str, float] | None) -> dict[str, float]:
    """LoRAs by name, each later level adding to or re-weighting the earlier ones."""
    merged: dict[str, float] = {}
    for level in levels:
        merged.update(level or {})
    return merged
