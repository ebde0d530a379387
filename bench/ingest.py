"""Ingest benchmark: a burst of task files, and drop-to-visible latency of single files.

    .venv/bin/python bench/ingest.py [--files 10000] [--singles 40] [--json PATH]

Runs a real daemon (store, watcher, native events) in-process on a temp folder
and prints figures against the targets of the Ingestion issue, plus ratios
measured in this same run (the machine is shared and noisy, so absolute
seconds vary between runs; the ratios much less):

- burst: N files renamed into the drop folder at once; files/s until every one
  is a task, and its ratio to a bare parse of the same files (the floor no
  ingest can beat: reading and validating the YAML);
- latency: single files, both written in place (they wait for the stability
  window) and renamed in complete (taken at once), drop to task visible.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from daemon.generation.models import LoadedModel, ModelError
from daemon.service.process import Daemon
from gladtui.cli.submit import submit_file
from gladtui.config import Config
from gladtui.taskfile import TaskRules, parse_task

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import Row, add_json_option, describe_machine, row, write_rows  # noqa: E402

TARGET_RATE = 1000.0  # files/s
TARGET_P50 = 0.4  # s


def task_bytes(i: int) -> bytes:
    return (
        f"title: Burst task number {i}\n"
        f"prompt: a photograph of object {i} on a table, studio light\n"
        f"negative_prompt: blurry\nvariations: 3\nseed: {i}\n"
    ).encode()


def make_daemon(root: Path) -> Daemon:
    config = Config.model_validate(
        {
            "drop_dir": str(root / "drop"),
            "state_dir": str(root / "state"),
            "preview_dir": str(root / "previews"),
            "cache_dir": str(root / "cache"),
            "socket": str(root / "d.sock"),
        }
    )
    stop = threading.Event()

    def parked_loader() -> LoadedModel:
        # Ingest alone is measured: the model "loads" until the daemon stops, so
        # no generation competes for the CPU.
        stop.wait()
        raise ModelError("stopped")

    daemon = Daemon(config, stop=stop, loader=parked_loader)
    daemon.start()
    return daemon


def wait_for_count(daemon: Daemon, count: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while sum(daemon.store.tasks.count_by_status().values()) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {count} tasks")
        time.sleep(0.005)
    return time.monotonic()


def bare_parse_rate(files: list[Path]) -> float:
    rules = TaskRules()
    started = time.perf_counter()
    for path in files:
        parse_task(path.read_bytes(), file_name=path.name, rules=rules)
    return len(files) / (time.perf_counter() - started)


def burst(root: Path, count: int) -> tuple[float, float, int]:
    staging = root / "staging"
    staging.mkdir()
    files = []
    for i in range(count):
        path = staging / f"burst-{i:05d}.yaml"
        path.write_bytes(task_bytes(i))
        files.append(path)
    parse_rate = bare_parse_rate(files)
    daemon = make_daemon(root / "burst")
    try:
        started = time.monotonic()
        for path in files:
            path.rename(daemon.folder.root / path.name)
        finished = wait_for_count(daemon, count, timeout=600)
        tasks = daemon.store.tasks.list()
        distinct = len({t.source_sha256 for t in tasks})
        if len(tasks) != count or distinct != count:
            raise SystemExit(f"expected {count} tasks exactly once, got {len(tasks)}")
    finally:
        daemon.stop_event.set()
        daemon.wait()
    return count / (finished - started), parse_rate, len(tasks)


def latencies(root: Path, singles: int, *, renamed: bool) -> list[float]:
    daemon = make_daemon(root / ("renamed" if renamed else "in-place"))
    staging = root / f"staging-{renamed}"
    staging.mkdir()
    results = []
    try:
        for i in range(singles):
            data = task_bytes(100_000 + i)
            target = daemon.folder.root / f"single-{i}.yaml"
            if renamed:  # as `gladtui submit` places files: complete, in one step
                source = staging / target.name
                source.write_bytes(data)
                started = time.monotonic()
                submit_file(source, daemon.folder.root, rules=TaskRules())
            else:
                started = time.monotonic()
                target.write_bytes(data)
            results.append(wait_for_count(daemon, i + 1, timeout=30) - started)
            time.sleep(0.05)  # files arrive one at a time, not in a burst
    finally:
        daemon.stop_event.set()
        daemon.wait()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--singles", type=int, default=40)
    add_json_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gladtui-bench-") as tmp:
        root = Path(tmp)
        rate, parse_rate, _ = burst(root, args.files)
        in_place = latencies(root, args.singles, renamed=False)
        renamed = latencies(root, args.singles, renamed=True)
    p50_in_place = statistics.median(in_place)
    p50_renamed = statistics.median(renamed)
    print(f"machine: {describe_machine()}")
    print(f"burst of {args.files:,} files, all ingested exactly once")
    print(
        f"  ingest rate        {rate:8.0f} files/s   target >= {TARGET_RATE:.0f}  "
        f"({rate / TARGET_RATE:.2f}x target)"
    )
    print(
        f"  bare parse rate    {parse_rate:8.0f} files/s   "
        f"(ingest runs at {rate / parse_rate:.2f}x a bare parse)"
    )
    print(f"single files, drop -> task visible ({args.singles} each)")
    print(
        f"  written in place   p50 {p50_in_place:.3f} s  p90 "
        f"{statistics.quantiles(in_place, n=10)[-1]:.3f} s   target p50 <= {TARGET_P50}"
    )
    print(
        f"  gladtui submit     p50 {p50_renamed:.3f} s  p90 "
        f"{statistics.quantiles(renamed, n=10)[-1]:.3f} s   "
        f"({p50_in_place / p50_renamed:.1f}x faster than in place)"
    )
    write_rows(args.json, rows(args, rate, parse_rate, p50_in_place, p50_renamed))
    met = rate >= TARGET_RATE and p50_in_place <= TARGET_P50
    print("targets met" if met else "TARGET MISSED")
    sys.exit(0 if met else 1)


def rows(
    args: argparse.Namespace, rate: float, parse_rate: float, in_place: float, renamed: float
) -> list[Row]:
    return [
        row("ingest", f"burst ingest rate, all {args.files:,} exactly once",
            f"{rate:,.0f} files/s", rate, f"≥ {TARGET_RATE:,.0f} files/s", rate >= TARGET_RATE),
        row("ingest", "ingest rate / bare parse of the same files",
            f"{rate / parse_rate:.2f}", rate / parse_rate),
        row("ingest", f"drop → task visible, file written in place, p50 of {args.singles}",
            f"{in_place:.3f} s", in_place, f"≤ {TARGET_P50} s", in_place <= TARGET_P50),
        row("ingest", f"drop → task visible, `gladtui submit`, p50 of {args.singles}",
            f"{renamed:.3f} s ({in_place / renamed:.1f}× faster)", renamed),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
