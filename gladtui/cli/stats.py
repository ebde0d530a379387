"""`gladtui stats [--since 7d] [--json] [--html FILE]`: the review desk's figures.

The daemon computes them from its audit trail (GET /api/stats); this prints them with
bars (gladtui/figures.py), their JSON, or writes the HTML report (gladtui/statsreport.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gladtui.client import Client
    from gladtui.shapes import StatsJSON

Adder = Callable[..., argparse.ArgumentParser]


def add_stats_command(add: Adder) -> None:
    stats = add("stats", call_stats, "the review desk's figures, from the audit trail", task=False)
    stats.add_argument(
        "--since",
        metavar="WHEN",
        help="only decisions since then: 30m, 12h, 7d, 2w, or an ISO time (default: all)",
    )
    stats.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="write a self-contained HTML report with the charts to FILE (mode 0600)",
    )


def call_stats(client: Client, args: argparse.Namespace) -> None:
    import json

    figures = client.stats(args.since)
    if args.html is not None:
        write_report(args.html, figures)
        print(f"wrote {args.html}")
    elif args.json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
    else:
        from rich.console import Console

        from gladtui.figures import figures_renderable

        Console(highlight=False).print(figures_renderable(figures))


def write_report(path: Path, figures: StatsJSON) -> None:
    """The report, written atomically and 0600 whatever the umask: reviewers' names and
    their pace are not for every user of the machine (gladtui/filemodes.py)."""
    from gladtui.atomicfiles import write_atomically
    from gladtui.filemodes import PRIVATE_FILE
    from gladtui.statsreport import report_html

    data = report_html(figures).encode()
    write_atomically(path, data, overwrite=True, permissions=PRIVATE_FILE)
