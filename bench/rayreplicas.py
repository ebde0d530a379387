"""Ray backend benchmark: 2 replicas against 1, through the daemon, and the API meanwhile.

    .venv/bin/python bench/rayreplicas.py [--tasks 12] [--json PATH]

One local Ray (started here, in this process, and stopped here), one real
daemon per figure with `generation.backend: ray`. With the tiny model on this
CPU, one run:

- throughput: N tasks of 3 variations, 256x256, 4 steps, queued at once, from
  the first submit to the last in review: 2 replicas (one core each) against
  1 replica (both cores); target >= 1.6x;
- API latency: `gladtui tasks` (the same request, GET /api/tasks) answered
  while both replicas are busy, median and worst.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import Row, add_json_option, row, write_rows  # noqa: E402
from tests.apidaemon import ApiDaemon, task_yaml, wait_until  # noqa: E402

TARGET = 1.6


def run(replicas: int, tasks: int, cache: Path, address: str) -> tuple[float, list[float]]:
    """Seconds for `tasks` tasks on `replicas` replicas; API latencies sampled meanwhile."""
    settings = {
        "cache_dir": str(cache),
        "generation": {"backend": "ray", "ray": {"address": address, "replicas": replicas}},
    }
    daemon = ApiDaemon(None, settings=settings).start()
    try:
        assert daemon.daemon is not None
        wait_until(daemon.daemon.generator.model_settled.is_set, timeout=300)
        warm = daemon.submit(task_yaml("warm", steps=2, width=64, height=64), "warm.yaml")
        daemon.wait_status(warm, "review", timeout=120)
        started = time.perf_counter()
        ids = [
            daemon.submit(task_yaml(f"b{n}", steps=4, width=256, height=256, seed=n), f"b{n}.yaml")
            for n in range(tasks)
        ]
        latencies: list[float] = []
        done = threading.Event()

        def sample() -> None:
            client = daemon.client
            while not done.is_set():
                busy = [r for r in client.status()["model"]["replicas"] if r["task_id"]]
                if len(busy) == replicas:
                    began = time.perf_counter()
                    client.tasks()
                    latencies.append(time.perf_counter() - began)
                time.sleep(0.2)

        sampler = threading.Thread(target=sample)
        sampler.start()
        for task_id in ids:
            task = daemon.wait_status(task_id, "review", "failed", timeout=600)
            if task["status"] != "review":
                raise SystemExit(f"task {task_id} failed: {task['error']}")
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        return elapsed, latencies
    finally:
        daemon.cleanup()


def main() -> None:
    import ray

    from daemon.generation.models import load_model
    from gladtui.config import GenerationConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=12)
    add_json_option(parser)
    args = parser.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="gtbench-"))
    temp = tempfile.mkdtemp(prefix="gtray-", dir="/tmp")
    started = time.perf_counter()
    ray.init(address="local", _temp_dir=temp, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started
    try:
        load_model(GenerationConfig(model="builtin:tiny-sdxl", device="cpu"), cache_dir=cache)
        address = ray.get_runtime_context().gcs_address
        one, _ = run(1, args.tasks, cache, address)
        two, latencies = run(2, args.tasks, cache, address)
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    report(args.json, args.tasks, ray_start, one, two, latencies)


def report(
    json: Path | None, tasks: int, ray_start: float, one: float, two: float, lat: list[float]
) -> None:
    speedup = one / two
    median = statistics.median(lat) if lat else float("nan")
    worst = max(lat) if lat else float("nan")
    print(f"local ray.init: {ray_start:.1f} s")
    print(f"{tasks} tasks of 3 x 256x256, 4 steps, tiny model on cpu, through the daemon:")
    print(f"  1 replica    {one:.2f} s")
    print(f"  2 replicas   {two:.2f} s   {speedup:.2f}x   target >= {TARGET}x")
    print(
        f"GET /api/tasks while both replicas are busy: median {median * 1000:.0f} ms, "
        f"worst {worst * 1000:.0f} ms over {len(lat)} requests"
    )
    rows: list[Row] = [
        row("ray", f"{tasks} tasks of 3 × 256², 4 steps through the daemon: 2 replicas vs 1",
            f"{speedup:.2f}× ({two:.1f} s vs {one:.1f} s)", speedup, f"≥ {TARGET}×",
            speedup >= TARGET),
        row("ray", "gladtui tasks while both replicas are busy (median, worst)",
            f"{median * 1000:.0f} ms, {worst * 1000:.0f} ms", median),
    ]  # fmt: skip
    write_rows(json, rows)
    met = speedup >= TARGET
    print("targets met" if met else "TARGET MISSED")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
