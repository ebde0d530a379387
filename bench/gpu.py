"""Seconds per image for each GPU speed switch: SDXL base at 1024², 30 steps (CUDA).

    .venv/bin/python bench/gpu.py [--model REPO|PATH] [--images 4] [--json PATH]
    .venv/bin/python bench/gpu.py --device cpu --model builtin:tiny-sdxl --size 64 --steps 2

Each configuration is loaded as the daemon loads it (daemon/generation/models.py, then
daemon/generation/speedups.py): the baseline (fp16, SDPA attention), channels_last,
fuse_qkv, compile, and all three together. Compile happens in the load (its
warm-up image at this size); then one untimed image, then `--images` images
timed one at a time: the median is the figure. The anchor is 2.5 s/image on
an A100 with compile; the goal ≤ 1.5 s/image on an H100 (checked, with a
non-zero exit when missed, only when the GPU is an H100).

Without CUDA it says so and exits 0: there is nothing to measure. `--device
cpu` runs the same code on a CPU (where channels_last and fuse_qkv are
ignored, as the daemon ignores them) to check the bench itself works.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import add_json_option, row, write_rows  # noqa: E402
from daemon.generation.models import SDXL_BASE_REPO, LoadedModel, load_model  # noqa: E402
from daemon.service.logsetup import configure_logging  # noqa: E402
from gladtui.config import GenerationConfig  # noqa: E402

SWITCHES: dict[str, dict[str, bool]] = {
    "baseline": {},
    "channels_last": {"channels_last": True},
    "fuse_qkv": {"fuse_qkv": True},
    "compile": {"compile": True},
    "all three": {"channels_last": True, "fuse_qkv": True, "compile": True},
}
ANCHOR_A100 = 2.5  # s/image, SDXL base 1024², 30 steps, with compile
GOAL_H100 = 1.5
PROMPT = "a photograph of blueberry muffins on a rustic wooden table, soft window light"


def seconds_per_image(model: LoadedModel, args: argparse.Namespace) -> float:
    import torch

    def one() -> float:
        started = time.perf_counter()
        model.pipeline(
            prompt=PROMPT,
            num_inference_steps=args.steps,
            width=args.size,
            height=args.size,
            guidance_scale=7.0,
            generator=torch.Generator("cpu").manual_seed(7),
            output_type="np",
        )
        if model.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    one()  # untimed: allocations, cuDNN's algorithm choice
    return statistics.median(one() for _ in range(args.images))


def measure(name: str, args: argparse.Namespace, cache_dir: Path) -> tuple[float, LoadedModel]:
    config = GenerationConfig.model_validate(
        {
            "model": args.model,
            "device": args.device,
            "width": args.size,
            "height": args.size,
            "batch_size": 1,  # the timed calls' batch: compile's warm-up must match it
            "guidance_scale": 7.0,
            **SWITCHES[name],
        }
    )
    model = load_model(config, cache_dir=cache_dir)
    return seconds_per_image(model, args), model


def release(model: LoadedModel) -> None:
    """Free the GPU before the next configuration loads its own copy, and forget what
    dynamo compiled, so the next configuration's compile is its own (not a reuse)."""
    import torch

    del model
    torch._dynamo.reset()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=SDXL_BASE_REPO)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--images", type=int, default=4)
    add_json_option(parser)
    args = parser.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device here, nothing to measure (--device cpu to try it)")
        return 0
    configure_logging("warning", env={})
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"{args.model} on {gpu}, {args.size}×{args.size}, {args.steps} steps, s/image:")
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="gladtui-bench-") as tmp:
        for name in SWITCHES:
            figures[name], model = measure(name, args, Path(tmp))
            speed = model.speed.describe()
            ratio = figures["baseline"] / figures[name]
            print(f"  {name:<14}{figures[name]:7.3f} s   {ratio:4.2f}× baseline   ({speed})")
            release(model)
    best = min(figures.values())
    print(f"anchor: {ANCHOR_A100} s/image on an A100 with compile; goal ≤ {GOAL_H100} s on an H100")
    met = best <= GOAL_H100 if "H100" in gpu else None
    write_rows(args.json, rows(args, gpu, figures, met))
    return 1 if met is False else 0


def rows(args: Any, gpu: str, figures: dict[str, float], met: bool | None) -> list[Any]:
    target = f"≤ {GOAL_H100} s on an H100" if met is not None else None
    return [
        row("gpu", f"{gpu}, {args.size}², {args.steps} steps, s/image: {name}",
            f"{seconds:.3f} s", seconds, target if name == "all three" else None,
            met if name == "all three" else None)
        for name, seconds in figures.items()
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
