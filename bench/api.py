"""API benchmark: `gladtui tasks --json` over 10,000 tasks, event-stream latency, and
`gladtui stats` over 100,000 decisions.

Targets (issue "Daemon API"): the command, run as a user runs it (a new
process, config load, request, output), takes at most 0.5 s with 10,000 tasks;
a state change reaches an event-stream client within 50 ms at the median.
Issue 33: `gladtui stats`, a new process too, takes at most 0.5 s over 100,000
decisions (10 rounds of the 10,000 tasks: variations, a decision by one of two
reviewers, every second one a rejection with a reason, the last round published).

A daemon runs in this process with the model parked (no generation competes
for the CPU); its queue is filled directly through the store: 10,000 tasks in
review, three variation rows each. Run:

    .venv/bin/python bench/api.py [--tasks 10000] [--runs 7] [--changes 200]
        [--decisions 100000] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import Row, add_json_option, row, write_rows  # noqa: E402
from daemon.store import NewTask, NewVariation, Store  # noqa: E402
from daemon.store.jobkinds import GENERATE, generation_payload  # noqa: E402
from gladtui.shapes import EventKind, TaskStatus  # noqa: E402
from tests.apidaemon import ApiDaemon  # noqa: E402

GLADTUI = Path(sys.executable).parent / "gladtui"


def fill(store: Store, count: int) -> None:
    """`count` tasks in review with three variation rows each, in one transaction."""
    tasks = [
        NewTask(
            id=f"bench-{n:06d}",
            title=f"Benchmark post number {n} about muffins",
            prompt="blueberry muffins on a rustic table, food photography",
            negative_prompt="blurry",
            variations=3,
            steps=30,
            guidance_scale=7.0,
            width=1024,
            height=1024,
            seed=n,
            source_file=f"bench-{n:06d}.yaml",
        )
        for n in range(count)
    ]
    variations = [
        NewVariation(
            task_id=task.id,
            idx=idx,
            path=f"/previews/sdxl-{task.id}-variation-{idx}-20261123_120000.png",
            thumbnail=f"/cache/thumbnails/{task.id}-{idx}.png",
            seed=(task.seed or 0) + idx - 1,
            prompt=task.prompt,
            negative_prompt=task.negative_prompt,
            width=1024,
            height=1024,
            steps=30,
            guidance_scale=7.0,
            model="stabilityai/stable-diffusion-xl-base-1.0",
        )
        for task in tasks
        for idx in (1, 2, 3)
    ]
    with store.transaction():
        store.tasks.create_many(tasks, status=TaskStatus.REVIEW)
        store.variations.add_many(variations)


class SteppedClock:
    """The store's clock for the decisions' history: moved by hand, a minute a step."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 8, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def step(self, minutes: float = 1.0) -> None:
        self.now += timedelta(minutes=minutes)


def fill_decisions(store: Store, clock: SteppedClock, tasks: int, decisions: int) -> None:
    """`decisions` decisions on the first tasks, a round at a time, through the store's
    bulk writes (one statement per kind of row and round)."""
    ids = [f"bench-{n:06d}" for n in range(tasks)]
    rounds = max(decisions // tasks, 1)
    for number in range(rounds):
        first = 1 + 3 * number
        with store.transaction():
            store.jobs.enqueue_many(GENERATE, [(i, generation_payload(first, 3)) for i in ids])
            store.events.record_many(EventKind.STATUS_CHANGED, ids, to_status=TaskStatus.GENERATING)
        clock.step()
        for idx in range(first, first + 3):
            store.events.record_many(EventKind.VARIATION_ADDED, ids, detail={"index": idx})
        store.events.record_many(EventKind.STATUS_CHANGED, ids, to_status=TaskStatus.REVIEW)
        clock.step(2 + number % 5)
        reviewer = ("ann", "bob")[number % 2]
        if number % 2 or number == rounds - 1:
            store.events.record_many(
                EventKind.STATUS_CHANGED,
                ids,
                to_status=TaskStatus.APPROVED,
                actor=reviewer,
                detail={"variation": first + number % 3},
            )
        else:
            store.events.record_many(
                EventKind.STATUS_CHANGED,
                ids,
                to_status=TaskStatus.REJECTED,
                actor=reviewer,
                detail={"reasons": ["hands", "text"][: 1 + number % 2]},
            )
        clock.step()
    store.events.record_many(EventKind.STATUS_CHANGED, ids, to_status=TaskStatus.PUBLISHED)


def stats_figures(d: ApiDaemon, runs: int) -> dict[str, float]:
    """Medians of `gladtui stats` (a new process) and of the request alone."""
    command = [str(GLADTUI), "--config", str(d.config_file), "stats"]
    samples: dict[str, list[float]] = {"stats": [], "request": []}
    for _ in range(runs):
        samples["stats"].append(timed(command))
        started = time.perf_counter()
        d.client.stats()
        samples["request"].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def cli_figures(d: ApiDaemon, runs: int) -> dict[str, float]:
    """Medians, interleaved in one run so the machine's noise hits each alike."""
    tasks_json = [str(GLADTUI), "--config", str(d.config_file), "tasks", "--json"]
    version = [str(GLADTUI), "--version"]
    bare = [sys.executable, "-c", "pass"]
    samples: dict[str, list[float]] = {"tasks": [], "version": [], "python": [], "request": []}
    client = d.client
    for _ in range(runs):
        samples["tasks"].append(timed(tasks_json))
        samples["version"].append(timed(version))
        samples["python"].append(timed(bare))
        started = time.perf_counter()
        client.tasks_raw(limit=100_000)
        samples["request"].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in samples.items()}


def event_latencies(d: ApiDaemon, changes: int) -> list[float]:
    """Seconds from a committed status change to its event arriving at a client."""
    assert d.daemon is not None
    store = d.daemon.store
    arrived: dict[int, float] = {}
    opened = threading.Event()
    wanted = store.events.last_id() + 2 * changes

    def listen() -> None:
        for event in d.client.events(timeout=30):
            opened.set()
            if event.id is not None:
                arrived[event.id] = time.perf_counter()
                if event.id >= wanted:
                    return

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    opened.wait(10)
    sent: dict[int, float] = {}
    for n in range(changes):
        for status in (TaskStatus.REJECTED, TaskStatus.REVIEW):
            started = time.perf_counter()
            store.tasks.set_status(f"bench-{n:06d}", status)
            sent[store.events.last_id()] = started
        time.sleep(0.005)  # changes a reviewer makes, not a flood
    reader.join(30)
    return [arrived[i] - sent[i] for i in sent if i in arrived]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--decisions", type=int, default=100_000)
    add_json_option(parser)
    args = parser.parse_args()

    clock = SteppedClock()
    d = ApiDaemon(None, clock=clock).start()
    try:
        assert d.daemon is not None
        started = time.perf_counter()
        fill(d.daemon.store, args.tasks)
        print(
            f"queue: {args.tasks:,} tasks in review, 3 variations each "
            f"(filled in {time.perf_counter() - started:.1f} s)"
        )
        figures = cli_figures(d, args.runs)
        latencies = sorted(event_latencies(d, args.changes))
        started = time.perf_counter()
        fill_decisions(d.daemon.store, clock, args.tasks, args.decisions)
        print(f"decisions: {args.decisions:,} (filled in {time.perf_counter() - started:.1f} s)")
        stats = stats_figures(d, args.runs)
    finally:
        d.cleanup()

    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
    print(
        f"gladtui tasks --json: {figures['tasks']:.3f} s median of {args.runs} "
        f"(target <= 0.5 s: {'met' if figures['tasks'] <= 0.5 else 'MISSED'})"
    )
    print(
        f"  of which: python start {figures['python']:.3f} s, "
        f"gladtui --version {figures['version']:.3f} s, "
        f"the request alone {figures['request']:.3f} s"
    )
    print(f"  ratio tasks --json / gladtui --version: {figures['tasks'] / figures['version']:.2f}")
    print(
        f"event latency: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(latencies)} changes "
        f"(target p50 <= 50 ms: {'met' if p50 <= 50 else 'MISSED'})"
    )
    print(
        f"gladtui stats: {stats['stats']:.3f} s median of {args.runs} over {args.decisions:,} "
        f"decisions (target <= 0.5 s: {'met' if stats['stats'] <= 0.5 else 'MISSED'}); "
        f"the request alone {stats['request']:.3f} s"
    )
    write_rows(args.json, rows(args, figures, p50, p95) + stats_rows(args, stats))
    return 0


def stats_rows(args: argparse.Namespace, stats: dict[str, float]) -> list[Row]:
    took = stats["stats"]
    return [
        row("api", f"`gladtui stats`, a new process, {args.decisions:,} decisions, median of "
            f"{args.runs}", f"{took:.2f} s", took, "≤ 0.5 s", took <= 0.5),
        row("api", "of which: GET /api/stats alone, in process", f"{stats['request']:.2f} s",
            stats["request"]),
    ]  # fmt: skip


def rows(args: argparse.Namespace, figures: dict[str, float], p50: float, p95: float) -> list[Row]:
    tasks = figures["tasks"]
    return [
        row("api", f"`gladtui tasks --json`, a new process, all {args.tasks:,} tasks, "
            f"median of {args.runs}", f"{tasks:.2f} s", tasks, "≤ 0.5 s", tasks <= 0.5),
        row("api", "of which: `gladtui --version` / the request alone, in process",
            f"{figures['version']:.2f} s / {figures['request']:.2f} s", figures["request"]),
        row("api", "event latency, committed status change → stream client, p50 / p95",
            f"{p50:.1f} ms / {p95:.1f} ms", p50, "p50 ≤ 50 ms", p50 <= 50),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
