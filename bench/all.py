"""Runs every benchmark in turn and prints one table of their figures against targets.

    .venv/bin/python bench/all.py [--quick] [--only NAME ...] [--markdown PATH] [--logs DIR]

Each benchmark runs as its own process with this interpreter (a fresh process
each, so one's daemon threads, caches or imports do not weigh on the next), its
output shown as it comes (and saved under --logs DIR); its figures come back
through its `--json PATH` option (bench/report.py). At the end: the machine,
the date, and a markdown table ready for docs/performance.md.
Exits 1 if any target is missed or a benchmark did not finish.

--quick passes small sizes for a smoke run of a few minutes: its figures show
that everything runs, not what the targets are about (the targets are set for
the default sizes, e.g. 10,000 files or 100,000 tasks).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import Row, describe_machine, row  # noqa: E402


@dataclass(frozen=True)
class Benchmark:
    script: str
    quick: str  # arguments for --quick; the full run uses the script's defaults


# In docs/performance.md's order.
BENCHMARKS = {
    "ingest": Benchmark("ingest.py", "--files 1000 --singles 10"),
    "api": Benchmark("api.py", "--tasks 1000 --runs 3 --changes 50"),
    "tui": Benchmark(
        "tui.py",
        "--tasks 5000 --starts 1 --moves 20 --pilot 3 --held 15 --skim 5 --pages 5 --jumps 2",
    ),
    "review": Benchmark("review.py", "--tasks 40"),
    "pictures": Benchmark("pictures.py", "--count 5"),
    "publish": Benchmark("publish.py", "--latency 10 --bulk 100"),
    "posts": Benchmark("posts.py", "--blog 1000 --runs 5"),
    "generate": Benchmark("generate.py", "--rounds 2 --tasks 10"),
    "ray": Benchmark("rayreplicas.py", "--tasks 12"),
    "sampling": Benchmark("sampling.py", "--rounds 1 --size 256"),
}


@dataclass
class Outcome:
    name: str
    rows: list[Row]
    seconds: float


def run(name: str, args: argparse.Namespace, scratch: Path) -> Outcome:
    """One benchmark in a child process; its output goes to ours (and its log) as it comes."""
    bench = BENCHMARKS[name]
    figures = scratch / f"{name}.json"
    command = [sys.executable, str(ROOT / "bench" / bench.script)]
    command += bench.quick.split() if args.quick else []
    command += ["--json", str(figures)]
    print(f"\n== {name}: {' '.join(command[1:])}", flush=True)
    log = (args.logs / f"{name}.log").open("w") if args.logs else None
    # Unbuffered, so a long benchmark's lines show while it runs rather than at its end.
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as child:
        assert child.stdout is not None
        tee(child.stdout, log)
    seconds = time.perf_counter() - started
    if log:
        log.close()
    print(f"== {name}: exit code {child.returncode}, {seconds:.0f} s", flush=True)
    return Outcome(name, collect(name, figures, child.returncode), seconds)


def tee(source: IO[str], log: IO[str] | None) -> None:
    for line in source:
        sys.stdout.write(line)
        sys.stdout.flush()
        if log:
            log.write(line)


def collect(name: str, figures: Path, returncode: int) -> list[Row]:
    """The benchmark's rows; a failing row too when it stopped with an error of its own.

    ingest.py and generate.py exit 1 when they miss a target (their rows say so);
    any other non-zero exit, or no figures at all, is a crash the table must show.
    """
    rows: list[Row] = json.loads(figures.read_text()) if figures.exists() else []
    missed = any(r["met"] is False for r in rows)
    if not rows or (returncode != 0 and not missed):
        crash = row(name, "(did not finish)", f"exit code {returncode}", returncode, None, False)
        rows.append(crash)
    return rows


# -- the table --------------------------------------------------------------------------


def cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: ""}[met]


def table(rows: list[Row]) -> str:
    lines = ["| benchmark | figure | measured | target | met |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        cells = [r["benchmark"], r["figure"], r["measured"], r["target"], verdict(r["met"])]
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return "\n".join(lines)


def summary(outcomes: list[Outcome], quick: bool) -> str:
    rows = [r for outcome in outcomes for r in outcome.rows]
    now = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    sizes = "quick (smoke-run sizes, not the targets' sizes)" if quick else "full (defaults)"
    return "\n".join(
        [
            f"Machine: {describe_machine()}",
            f"Date: {now}; sizes: {sizes}",
            "",
            table(rows),
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument(
        "--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME", help=", ".join(BENCHMARKS)
    )
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="also write the table here")
    parser.add_argument("--logs", type=Path, metavar="DIR", help="save each benchmark's output")
    args = parser.parse_args()
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)

    names = [name for name in BENCHMARKS if not args.only or name in args.only]
    with tempfile.TemporaryDirectory(prefix="gladtui-bench-all-") as tmp:
        outcomes = [run(name, args, Path(tmp)) for name in names]

    text = summary(outcomes, args.quick)
    times = ", ".join(f"{o.name} {o.seconds:.0f} s" for o in outcomes)
    print(f"\n{text}\n\nran: {times}; {sum(o.seconds for o in outcomes):.0f} s in all")
    if args.markdown:
        args.markdown.write_text(text + "\n")
    missed = [r for o in outcomes for r in o.rows if r["met"] is False]
    print(f"{len(missed)} target(s) missed" if missed else "all targets met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
