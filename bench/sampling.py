"""What few-step settings, long prompts and LoRAs cost, on this CPU, with the tiny model.

    .venv/bin/python bench/sampling.py [--rounds 5] [--size 512] [--json PATH]

One image per call, through the daemon's own preparation (sampler, LoRAs, prompt
encoding: daemon/generation/conditioning.py) and the pipeline; medians of interleaved rounds:

- full: dpmpp_2m_karras, 25 steps, guidance 7 (50 UNet passes: CFG doubles them);
- few-step: lcm, 4 steps, guidance 1 (no CFG: 4 UNet passes), with a LoRA in the
  place of LCM-LoRA, as the draft preset of docs/generation.md runs;
- the same few-step run without the LoRA (what an active LoRA costs per image);
- a ~200-token prompt against a short one (encoding in 77-token chunks);
- loading a LoRA file against switching between loaded ones.

The tiny model's UNet is small next to its VAE, so the few-step speed-up here is
a floor: with real SDXL the UNet passes are nearly all of the time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import add_json_option, row, write_rows  # noqa: E402
from daemon.generation.models import LoadedModel, load_model  # noqa: E402
from daemon.generation.recipes import Recipe  # noqa: E402
from daemon.service.logsetup import configure_logging  # noqa: E402
from gladtui.config import GenerationConfig  # noqa: E402
from tests.lorahelpers import write_tiny_lora  # noqa: E402

SHORT = "blueberry muffins on a rustic table, food photography"
LONG = (
    "a wide photograph of a rustic farmhouse kitchen at golden hour, warm light through "
    "linen curtains, a wooden table with blueberry muffins, a jug of milk, scattered flour, "
    "a cast iron pan, copper pots on the wall, herbs drying above the window"
)
FULL = Recipe(steps=25, guidance_scale=7.0, scheduler="dpmpp_2m_karras")
FEW = Recipe(steps=4, guidance_scale=1.0, scheduler="lcm", loras={"fast": 1.0})
FEW_BARE = Recipe(steps=4, guidance_scale=1.0, scheduler="lcm")


def render(model: LoadedModel, recipe: Recipe, prompt: str, size: int, lora_dir: Path) -> float:
    import torch

    started = time.perf_counter()
    prepared = model.conditioner.prepare(
        recipe, prompt, "blurry", lora_dir=lora_dir, max_prompt_tokens=None
    )
    model.pipeline(
        **prepared.call_arguments(1),
        num_inference_steps=recipe.steps,
        guidance_scale=recipe.guidance_scale,
        width=size,
        height=size,
        generator=[torch.Generator("cpu").manual_seed(7)],
    )
    return time.perf_counter() - started


def encode(model: LoadedModel, prompt: str) -> float:
    started = time.perf_counter()
    model.conditioner.prepare(FULL, prompt, "blurry", lora_dir=None, max_prompt_tokens=None)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=512)
    add_json_option(parser)
    args = parser.parse_args()
    configure_logging("warning", env={})  # library notices as the daemon has them: none
    with tempfile.TemporaryDirectory(prefix="gladtui-bench-") as tmp:
        root = Path(tmp)
        model = load_model(
            GenerationConfig(model="builtin:tiny-sdxl", device="cpu"), cache_dir=root / "models"
        )
        loras = root / "loras"
        for name, seed in (("fast", 1), ("other", 2)):
            write_tiny_lora(model.pipeline.unet.config, loras / f"{name}.safetensors", seed=seed)
        started = time.perf_counter()
        model.conditioner.loras.apply({"fast": 1.0}, loras)
        lora_load = time.perf_counter() - started
        model.conditioner.loras.apply({"other": 1.0}, loras)
        switches = []
        for name in ("fast", "other") * 5:
            started = time.perf_counter()
            model.conditioner.loras.apply({name: 1.0}, loras)
            switches.append(time.perf_counter() - started)

        figures: dict[str, list[float]] = {k: [] for k in ("full", "few", "bare", "long")}
        figures.update(enc_long=[], enc_short=[])
        render(model, FULL, SHORT, 64, loras)  # warm-up: compel's import, first allocations
        for _ in range(args.rounds):
            figures["full"].append(render(model, FULL, SHORT, args.size, loras))
            figures["few"].append(render(model, FEW, SHORT, args.size, loras))
            figures["bare"].append(render(model, FEW_BARE, SHORT, args.size, loras))
            figures["long"].append(render(model, FULL, LONG, args.size, loras))
            figures["enc_long"].append(encode(model, LONG))
            figures["enc_short"].append(encode(model, SHORT))
        tokens = len(model.pipeline.tokenizer(LONG).input_ids)
    medians = {key: statistics.median(values) for key, values in figures.items()}
    report(args, medians, tokens, lora_load, statistics.median(switches))


def report(args: Any, m: dict[str, float], tokens: int, lora_load: float, switch: float) -> None:
    speedup = m["full"] / m["few"]
    lora_cost = m["few"] / m["bare"]
    long_cost = m["long"] / m["full"]
    print(f"builtin:tiny-sdxl on cpu, one {args.size}x{args.size} image, medians of {args.rounds}")
    print(f"  full: dpmpp_2m_karras, 25 steps, cfg 7    {m['full']:.3f} s")
    print(f"  few-step: lcm + LoRA, 4 steps, cfg 1       {m['few']:.3f} s   {speedup:.1f}x faster")
    print(
        f"  few-step without the LoRA                 {m['bare']:.3f} s"
        f"   LoRA costs x{lora_cost:.2f}"
    )
    print(f"  full with a {tokens}-token prompt           {m['long']:.3f} s   x{long_cost:.2f}")
    print(
        f"  encoding: {tokens} tokens {m['enc_long'] * 1000:.1f} ms, short prompt "
        f"{m['enc_short'] * 1000:.1f} ms"
    )
    print(f"  LoRA: first load {lora_load * 1000:.0f} ms, switching {switch * 1000:.1f} ms")
    write_rows(
        args.json,
        [
            row("sampling", f"one {args.size}×{args.size} image: 25 steps cfg 7 / 4-step LCM cfg 1",
                f"{speedup:.1f}× faster ({m['few']:.2f} s vs {m['full']:.2f} s)", speedup),
            row("sampling", "an active LoRA (unfused), per image", f"×{lora_cost:.2f}", lora_cost),
            row("sampling", f"a {tokens}-token prompt against a short one, per image",
                f"×{long_cost:.2f}", long_cost),
            row("sampling", "switching LoRAs vs loading one", f"{switch * 1000:.1f} ms vs "
                f"{lora_load * 1000:.0f} ms", switch),
        ],
    )  # fmt: skip


if __name__ == "__main__":
    main()
