"""The samplers a task file or the config may name, as users know them.

Each name maps to a diffusers scheduler class and its options, following the
table in diffusers' scheduler documentation (A1111/k-diffusion names to
diffusers classes), and to the way AUTOMATIC1111 records it in a PNG's
`parameters` (`Sampler: DPM++ 2M, Schedule type: Karras`).

Only data here, no torch: `gladtui check` validates names with it, and the
daemon (daemon/generation/schedulers.py) builds the scheduler from the same entry. The
schedule suffixes are the ones A1111 and ComfyUI use: `_karras` (Karras
sigmas) and `_sgm_uniform` (diffusers' "trailing" timesteps, what
SDXL-Lightning, Turbo and Hyper-SD ask for).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

__all__ = ["KARRAS", "SAMPLERS", "SGM_UNIFORM", "Sampler", "canonical_sampler", "sampler_problem"]

KARRAS = "Karras"
SGM_UNIFORM = "SGM Uniform"


@dataclass(frozen=True, slots=True)
class Sampler:
    name: str  # what a task file says: dpmpp_2m_karras
    label: str  # A1111's `Sampler:` value: DPM++ 2M
    scheduler: str  # the diffusers class
    options: tuple[tuple[str, object], ...] = ()  # constructor options over the model's config
    note: str = ""  # for the table in docs/generation.md


def _family(
    name: str,
    label: str,
    scheduler: str,
    *,
    karras: bool = False,
    sgm_uniform: bool = False,
    options: tuple[tuple[str, object], ...] = (),
    note: str = "",
) -> list[Sampler]:
    """A sampler and its schedule variants. Where Karras sigmas exist, the plain name
    turns them off explicitly, so a model whose own config enables them is not
    recorded as plain while running Karras."""
    plain = (*options, ("use_karras_sigmas", False)) if karras else options
    found = [Sampler(name, label, scheduler, plain, note)]
    if karras:
        found.append(
            Sampler(f"{name}_karras", label, scheduler, (*options, ("use_karras_sigmas", True)))
        )
    if sgm_uniform:
        trailing = (*plain, ("timestep_spacing", "trailing"))
        found.append(Sampler(f"{name}_sgm_uniform", label, scheduler, trailing))
    return found


_DPMPP = (("algorithm_type", "dpmsolver++"), ("solver_order", 2))
_DPMPP_SDE = (("algorithm_type", "sde-dpmsolver++"), ("solver_order", 2))
# Latent diffusion must not clip x0 to [-1, 1]; SDXL's own config says the same.
_DDIM = (("clip_sample", False), ("set_alpha_to_one", False))

SAMPLERS: dict[str, Sampler] = {
    sampler.name: sampler
    for sampler in [
        *_family(
            "euler",
            "Euler",
            "EulerDiscreteScheduler",
            karras=True,
            sgm_uniform=True,
            note="SDXL base's own; euler_sgm_uniform for SDXL-Lightning",
        ),
        *_family(
            "euler_a",
            "Euler a",
            "EulerAncestralDiscreteScheduler",
            sgm_uniform=True,
            note="ancestral: adds noise each step; euler_a_sgm_uniform for SDXL-Turbo",
        ),
        *_family("heun", "Heun", "HeunDiscreteScheduler", karras=True, note="2 model calls a step"),
        *_family("dpm2", "DPM2", "KDPM2DiscreteScheduler", karras=True, note="2 calls a step"),
        *_family(
            "dpm2_a",
            "DPM2 a",
            "KDPM2AncestralDiscreteScheduler",
            karras=True,
            note="2 calls a step",
        ),
        *_family(
            "dpmpp_2m",
            "DPM++ 2M",
            "DPMSolverMultistepScheduler",
            karras=True,
            sgm_uniform=True,
            options=_DPMPP,
            note="dpmpp_2m_karras: good images in 20-30 steps",
        ),
        *_family(
            "dpmpp_2m_sde",
            "DPM++ 2M SDE",
            "DPMSolverMultistepScheduler",
            karras=True,
            options=_DPMPP_SDE,
        ),
        *_family(
            "dpmpp_sde",
            "DPM++ SDE",
            "DPMSolverSinglestepScheduler",
            karras=True,
            note="diffusers' single-step DPM++, as its docs map A1111's DPM++ SDE",
        ),
        *_family(
            "ddim",
            "DDIM",
            "DDIMScheduler",
            sgm_uniform=True,
            options=_DDIM,
            note="ddim_sgm_uniform for Hyper-SD",
        ),
        *_family(
            "unipc", "UniPC", "UniPCMultistepScheduler", karras=True, note="good in few steps"
        ),
        *_family("lcm", "LCM", "LCMScheduler", note="for LCM-LoRA and LCM models: 4-8 steps"),
        *_family("tcd", "TCD", "TCDScheduler", note="for TCD and Hyper-SD LoRAs: 1-8 steps"),
    ]
}


def canonical_sampler(name: str) -> str | None:
    """The registry's name for `name`, which may also be written as A1111 shows it
    (`DPM++ 2M Karras`, `Euler a`); None when it is no sampler known here."""
    spelled = "_".join(name.strip().lower().replace("++", "pp").replace("-", " ").split())
    return spelled if spelled in SAMPLERS else None


def sampler_problem(name: str) -> str | None:
    """None if `name` is a known sampler, else why not (with the list)."""
    if canonical_sampler(name) is not None:
        return None
    close = difflib.get_close_matches(name.lower().replace(" ", "_"), list(SAMPLERS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown sampler {name!r}{hint}; known: {', '.join(SAMPLERS)}"
