"""The Hugging Face libraries by name, imported when first needed, and their bars off.

diffusers, transformers and huggingface_hub take seconds to import and ship
partial type annotations, so the daemon reaches them through these, typed Any,
only where generation happens.
"""

from __future__ import annotations

import importlib
import os
from typing import Any


def diffusers() -> Any:
    return importlib.import_module("diffusers")


def hub_utils() -> Any:
    # Its lazy exports are invisible to mypy's explicit-export check.
    return importlib.import_module("huggingface_hub.utils")


def quiet_progress_bars() -> None:
    """No progress bars: the daemon logs lines, and bars garble logs and terminals."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    diffusers().utils.logging.disable_progress_bar()
    importlib.import_module("transformers").utils.logging.disable_progress_bar()
    hub_utils().disable_progress_bars()
