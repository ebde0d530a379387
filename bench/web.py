"""The review page of `gladtui web` in a real browser (Debian's Chromium, Playwright).

Targets (issue 32): from a key to the next task painted, p95 at most 150 ms;
also the page load until the first three thumbnails are painted, and the bytes
the browser received per task reviewed.

A daemon in this process (tests.apidaemon.ApiDaemon, the tiny model) holds
TASKS tasks of three 256x256 variations, all in review; `gladtui web` runs as a
reviewer runs it; the page is opened headless. "Painted" is the page's own
mark: it sets `data-painted-task` on <body> once every picture of the task's
gallery is decoded. A decision is `a` then `Enter` in the approve dialog; the
time runs from the Enter to the next task painted. Bytes: the body sizes of
every request that finished (the event stream, still open, is not counted).
Run alone:

    .venv/bin/python bench/web.py [--tasks 12]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from daemon.generation.models import load_model  # noqa: E402
from gladtui.config import GenerationConfig  # noqa: E402
from tests.apidaemon import ApiDaemon  # noqa: E402
from tests.browser import chromium  # noqa: E402
from tests.webserver import WebServer  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=12)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gt-bench-web-"))
    model = load_model(
        GenerationConfig(model="builtin:tiny-sdxl", device="cpu"), cache_dir=work / "cache"
    )
    daemon = ApiDaemon(model, settings={"publishing": {"grace_seconds": 600}}).start()
    server = WebServer("--config", str(daemon.config_file), log=work / "web.log")
    try:
        ids = [
            str(daemon.in_review(f"Bench {n:02d}", variations=3, width=256, height=256)["id"])
            for n in range(args.tasks)
        ]
        print(json.dumps(measure(server, work, ids), indent=2))
    finally:
        server.stop()
        daemon.cleanup()


def measure(server: WebServer, work: Path, ids: list[str]) -> dict[str, Any]:
    received = [0]

    def finished(request: Any) -> None:
        received[0] += max(request.sizes()["responseBodySize"], 0)

    with chromium(work / "profile") as context:
        page = context.pages[0] if context.pages else context.new_page()  # type: ignore[attr-defined]
        page.set_default_timeout(60_000)
        page.on("requestfinished", finished)
        start = time.perf_counter()
        page.goto(server.address)
        page.locator("body[data-painted-task]").wait_for()
        load = time.perf_counter() - start
        shown = page.locator("#gallery img").count()
        decisions: list[float] = []
        before = received[0]
        for _ in range(len(ids) - 1):
            current = page.locator("body").get_attribute("data-painted-task")
            page.keyboard.press("a")
            page.locator("#approve-dialog[open]").wait_for()
            tick = time.perf_counter()
            page.keyboard.press("Enter")
            page.locator(f'body[data-painted-task]:not([data-painted-task="{current}"])').wait_for()
            decisions.append((time.perf_counter() - tick) * 1000)
        reviewed = len(decisions)
        return {
            "tasks": len(ids),
            "page_load_to_first_thumbnails_ms": round(load * 1000, 1),
            "thumbnails_painted_at_load": shown,
            "decision_to_next_task_painted_ms": {
                "p50": round(statistics.median(decisions), 1),
                "p95": round(percentile(decisions, 0.95), 1),
                "max": round(max(decisions), 1),
            },
            "bytes_per_task_reviewed": round((received[0] - before) / max(reviewed, 1)),
        }


if __name__ == "__main__":
    main()
