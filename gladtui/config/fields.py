"""What every configuration section shares: the strict base, paths and model references.

Paths may use `~` and `$VARS`; relative paths are relative to the config file
that holds them (the file's folder comes in the validation context).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo

BUILTIN_MODEL_PREFIX = "builtin:"

_UNSET_VAR = re.compile(r"\$(\w+|\{\w+\})")


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and key."""


def _context(info: ValidationInfo) -> tuple[Path, Mapping[str, str]]:
    ctx = info.context or {}
    return ctx.get("base_dir", Path.cwd()), ctx.get("env", os.environ)


def expand_path(text: str, *, base_dir: Path, env: Mapping[str, str]) -> Path:
    """`~`, `$VAR` and relative paths, resolved as the config file's author meant."""
    missing = [m.group(1).strip("{}") for m in _UNSET_VAR.finditer(text)]
    missing = [name for name in missing if name not in env]
    if missing:
        raise ValueError(f"environment variable ${missing[0]} is not set (in {text!r})")
    expanded = _UNSET_VAR.sub(lambda m: env[m.group(1).strip("{}")], text)
    path = Path(expanded).expanduser()
    return path if path.is_absolute() else (base_dir / path).absolute()


def _to_path(value: object, info: ValidationInfo) -> object:
    if isinstance(value, str):
        base_dir, env = _context(info)
        return expand_path(value, base_dir=base_dir, env=env)
    return value


ConfigPath = Annotated[Path, BeforeValidator(_to_path)]


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", ".", "~", "$")) or model.endswith((".safetensors", ".ckpt"))


def _to_model_ref(value: object, info: ValidationInfo) -> object:
    """A path-like model is resolved like any path; a repo id or builtin: is kept."""
    if isinstance(value, str) and _looks_like_path(value):
        base_dir, env = _context(info)
        return str(expand_path(value, base_dir=base_dir, env=env))
    return value


ModelRef = Annotated[str, BeforeValidator(_to_model_ref)]


class Section(BaseModel):
    # strict: a YAML string "3" is not an integer; extra: a typo is an error.
    # use_attribute_docstrings: a field's docstring is its description, from which
    # scripts/configdoc writes docs/configuration.md's table and config.yaml's comments.
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True
    )
