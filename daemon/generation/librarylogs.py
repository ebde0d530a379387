"""transformers' and diffusers' logs, routed through the daemon's own format.

They write to stderr through handlers of their own, in their own format;
`route_library_logs` (called where they are first imported) sends them to the
root logger instead, and Python warnings too (`py.warnings`), so the service's
log (daemon/service/logsetup.py) formats them like every other line. Their
messages that are noise here are dropped: the torchvision that this CPU install
does not need, the 77-token notice for prompts that daemon/generation/prompts.py
encodes whole in chunks, the notice that a LoRA has no text-encoder weights
(most have none), and diffusers' copy of a LoRA load error that
daemon/generation/loras.py reports itself, shortened.
"""

from __future__ import annotations

import importlib
import logging

_NOISE = (
    "requires torchvision (not installed)",
    "Token indices sequence length is longer than the specified maximum",
    "No LoRA keys associated to",
    "was unsuccessful with the following error",
)


def is_library_noise(record: logging.LogRecord) -> bool:
    """A third-party message that says nothing an operator can act on (see above)."""
    if not record.name.startswith(("transformers", "diffusers", "peft")):
        return False
    message = record.getMessage()
    return any(noise in message for noise in _NOISE)


def route_library_logs() -> None:
    """transformers' and diffusers' records go to the root logger, not their own handlers.

    Call after importing them is acceptable (the daemon does so where it loads
    the model): importing these modules alone does not load any model code.
    """
    for library in ("transformers", "diffusers"):
        logs = importlib.import_module(f"{library}.utils.logging")
        logs.get_logger()  # makes the library install its handler now, to remove it
        logs.disable_default_handler()
        logs.enable_propagation()
