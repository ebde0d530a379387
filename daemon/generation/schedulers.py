"""Samplers by the names users know, as diffusers schedulers, and how A1111 records them.

A scheduler is built from the model's ORIGINAL scheduler config (kept when the
model loads) plus the options of the named entry in gladtui/samplers.py, so
switching samplers between tasks never accumulates options, and a model's own
settings (its beta schedule, its prediction type) always carry over.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gladtui.samplers import KARRAS, SAMPLERS, SGM_UNIFORM

__all__ = ["SamplerRecord", "Schedulers"]


@dataclass(frozen=True, slots=True)
class SamplerRecord:
    """What the PNG says: `Sampler: DPM++ 2M, Schedule type: Karras`."""

    label: str
    schedule: str | None

    @property
    def full(self) -> str:
        """One name for lists: "DPM++ 2M Karras"."""
        return f"{self.label} {self.schedule}" if self.schedule else self.label


class Schedulers:
    """Builds the scheduler a task names, for one loaded pipeline (cached by name)."""

    def __init__(self, model_scheduler: Any) -> None:
        self._own = model_scheduler
        self._config: Mapping[str, Any] = dict(model_scheduler.config)
        self._built: dict[str, Any] = {}

    def get(self, name: str | None) -> Any:
        """The scheduler for a sampler name; None is the one the model came with.

        Raises ValueError (a permanent failure: retrying cannot help) for a name
        no longer known, or options this diffusers rejects.
        """
        if name is None:
            return self._own
        if name not in self._built:
            self._built[name] = self._build(name)
        return self._built[name]

    def _build(self, name: str) -> Any:
        entry = SAMPLERS.get(name)
        if entry is None:
            raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")
        cls = getattr(importlib.import_module("diffusers"), entry.scheduler)
        try:
            return cls.from_config(self._config, **dict(entry.options))
        except ImportError as exc:  # some schedulers need scipy or torchsde
            raise ValueError(f"sampler {name} cannot run here: {exc}") from exc

    @staticmethod
    def record(scheduler: Any, name: str | None) -> SamplerRecord:
        """How A1111 names this scheduler, read from the instance that actually runs."""
        config = scheduler.config
        entry = SAMPLERS.get(name or "")
        label = entry.label if entry else _label_for(type(scheduler).__name__, config)
        schedule = None
        if config.get("use_karras_sigmas"):
            schedule = KARRAS
        elif config.get("timestep_spacing") == "trailing":
            schedule = SGM_UNIFORM
        return SamplerRecord(label, schedule)


def _label_for(class_name: str, config: Mapping[str, Any]) -> str:
    """A1111's name for the scheduler a model came with (no name was asked for)."""
    for entry in SAMPLERS.values():
        options = {k: v for k, v in entry.options if k not in _SCHEDULE_OPTIONS}
        if entry.scheduler == class_name and all(config.get(k) == v for k, v in options.items()):
            return entry.label
    return _OTHER_LABELS.get(class_name, class_name)


_SCHEDULE_OPTIONS = ("use_karras_sigmas", "timestep_spacing")
_OTHER_LABELS = {"PNDMScheduler": "PLMS", "LMSDiscreteScheduler": "LMS"}
