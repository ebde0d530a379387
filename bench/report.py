"""What the benchmarks share: the machine's description and the rows they hand over.

Each benchmark takes `--json PATH` and writes its figures there as a list of rows,
so that bench/all.py collects them without parsing the human output:

    {"benchmark": "ingest", "figure": "...", "measured": "2,095 files/s",
     "value": 2095.3, "target": "≥ 1,000 files/s", "met": true}

`measured` is the text as it should appear in a table, `value` the number behind
it (the one compared with the target when there is one). A figure without a
target has `target` and `met` null.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def row(
    benchmark: str,
    figure: str,
    measured: str,
    value: float,
    target: str | None = None,
    met: bool | None = None,
) -> Row:
    return {
        "benchmark": benchmark,
        "figure": figure,
        "measured": measured,
        "value": float(value),
        "target": target,
        "met": None if met is None else bool(met),
    }


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", type=Path, default=None, metavar="PATH", help="also write the figures here"
    )


def write_rows(path: Path | None, rows: list[Row]) -> None:
    if path is not None:
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")


# -- the machine ------------------------------------------------------------------------


def _proc_field(file: str, name: str) -> str | None:
    """The value of the first `name: value` line of a /proc file (Linux only)."""
    try:
        lines = Path(file).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def cpu_model() -> str:
    return _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU"


def ram_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def os_name() -> str:
    kernel = f"{platform.system()} {platform.release()}"
    try:
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:  # not Linux, or no os-release file
        pretty = None
    return f"{pretty} ({kernel})" if pretty else kernel


def torch_version() -> str:
    # The installed version, read from its metadata: importing torch takes seconds.
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_machine() -> str:
    ram = ram_gib()
    parts = [
        f"{cpu_model()} ({platform.machine()})",
        f"{os.cpu_count()} cores",
        f"{ram:.1f} GiB RAM" if ram is not None else "RAM unknown",
        os_name(),
        f"Python {platform.python_version()}",
        f"torch {torch_version()}",
    ]
    return ", ".join(parts)
