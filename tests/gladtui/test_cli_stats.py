"""`gladtui stats` and `gladtui reject --reason` as a user runs them, against a real daemon.

The figures come from a daemon whose store holds the known history of
tests/deskhistory.py (its model parked: nothing else writes); the CLI runs as its own
process, so the output, the report's file and its mode are what a person gets.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from daemon.generation.models import LoadedModel
from tests.apidaemon import GLADTUI, ApiDaemon
from tests.daemon.store.helpers import FakeClock
from tests.deskhistory import fill_desk


@pytest.fixture(scope="module")
def desk() -> Iterator[ApiDaemon]:
    clock = FakeClock()
    running = ApiDaemon(None, clock=clock).start()
    assert running.daemon is not None
    fill_desk(running.daemon.store, clock)
    yield running
    running.cleanup()


def gladtui(d: ApiDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GLADTUI), "--config", str(d.config_file), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "100"},
    )


def test_json_is_the_api_shape_with_the_hand_computed_figures(desk: ApiDaemon) -> None:
    result = gladtui(desk, "stats", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures == desk.raw("GET", "/api/stats")[1]
    assert figures["decisions"] == 4 and figures["approval_rate"] == 0.5
    assert figures["reasons"] == [{"reason": "hands", "count": 2}, {"reason": "text", "count": 1}]
    since = json.loads(gladtui(desk, "stats", "--since", "2025-01-02T03:20:45Z", "--json").stdout)
    assert since["decisions"] == 2 and since["rounds"]["by_rounds"] == {"1": 1}


def bar_cells(text: str, label: str) -> int:
    """How long the bar drawn after `label` at a line's start is, in cells."""
    found = re.search(rf"^{label} +([█▉▊▋▌▍▎▏╸━]+)", text, re.MULTILINE)
    assert found is not None, text
    return len(found.group(1))


def test_the_text_form_draws_bars(desk: ApiDaemon) -> None:
    result = gladtui(desk, "stats")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^approval rate +50%", out, re.MULTILINE), out
    assert re.search(r"^wait p50 / p90 +3\.3 min / 8\.5 min", out, re.MULTILINE), out
    assert bar_cells(out, "hands") == 30 and bar_cells(out, "text") == 15  # 2 against 1
    assert "by chance: #1 0.833, #2 0.833, #3 0.333" in out


def test_a_bad_since_is_refused_with_what_it_takes(desk: ApiDaemon) -> None:
    result = gladtui(desk, "stats", "--since", "yesterday")
    assert result.returncode != 0
    assert "since: expected a span back from now (`30m`, `12h`, `7d`, `2w`)" in result.stderr


class Charts(HTMLParser):
    """The report's charts: each svg's data-chart and its bars' values."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, list[float]] = {}
        self.current: str | None = None
        self.foreign: list[str] = []  # anything fetched from elsewhere

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "svg":
            self.current = found["data-chart"]
            self.charts[self.current or ""] = []
        elif tag == "rect" and self.current is not None:
            self.charts[self.current].append(float(found["data-value"] or "nan"))
        if tag in ("script", "link", "img", "iframe") or found.get("src"):
            self.foreign.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.current = None


def test_html_report_is_self_contained_private_and_has_the_charts(
    desk: ApiDaemon, tmp_path: Path
) -> None:
    report = tmp_path / "desk.html"
    old = os.umask(0o022)  # a umask that would leave the file readable by all
    try:
        result = gladtui(desk, "stats", "--html", str(report))
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    parser = Charts()
    parser.feed(report.read_text(encoding="utf-8"))
    assert parser.foreign == []
    assert parser.charts == {
        "reviewers": [2.0, 1.0],  # ann, bob: decisions an active hour
        "wait": [200.0, 510.0],
        "rounds": [1.0, 1.0],
        "winners": [1.0, 1.0, 0.0],
        "reasons": [2.0, 1.0],
    }


@pytest.fixture(scope="module")
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    running = ApiDaemon(tiny).start()
    yield running
    running.cleanup()


def test_reject_again_with_reasons_and_an_unknown_one(live: ApiDaemon) -> None:
    task = live.in_review("Reasons", variations=1, steps=1)
    refused = gladtui(live, "reject", task["id"], "--again", "--reason", "feet")
    assert refused.returncode != 0
    assert "unknown reason(s) feet; the config has: hands, text, topic, dark, blurry" in (
        refused.stderr
    )
    answer: Any = json.loads(
        gladtui(live, "reject", task["id"], "--again", "--reason", "hands", "--json").stdout
    )
    assert answer["task"]["status"] == "queued"
    after = live.wait_status(task["id"], "review")
    newest = [v for v in after["variations"] if v["removed_at"] is None][-1]
    assert newest["additions"]["reasons"] == ["hands"]
    assert newest["negative_prompt"].endswith("deformed hands, extra fingers")
    both = gladtui(live, "reject", task["id"], "--again", "--prompt", "figs")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
