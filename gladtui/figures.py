"""The review desk's figures as charts: the same bars in the terminal (`gladtui stats`, the
TUI's figures screen) and in the HTML report (gladtui/statsreport.py).

`charts` says once what is drawn from GET /api/stats's answer (gladtui/shapes.py
StatsJSON): each chart a title, its bars (label, value) and a note; `summary` the
figures that are one number. Rich draws the bars here; no Textual, no daemon.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.bar import Bar
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gladtui.shapes import StatsJSON, WaitStatsJSON

BAR_WIDTH = 30  # cells of the longest bar in the terminal


@dataclass(frozen=True, slots=True)
class Chart:
    key: str  # a stable name: the HTML report's data-chart, tests
    title: str
    unit: str  # what a bar's value counts
    bars: list[tuple[str, float]]
    note: str = ""


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _p90(wait: WaitStatsJSON) -> str:
    return seconds_text(wait["p90_seconds"])


def _rounds(count: str) -> str:
    return f"{count} round" if count == "1" else f"{count} rounds"


def summary(stats: StatsJSON) -> list[tuple[str, str]]:
    """The one-number figures, in words."""
    rate = stats["approval_rate"]
    rounds, generation, wait = stats["rounds"], stats["generation"], stats["wait"]
    since = stats["since"] or "the beginning"
    return [
        ("period", f"{since} to {stats['until']}"),
        ("decisions", str(stats["decisions"])),
        ("approval rate", "-" if rate is None else f"{rate:.0%}"),
        (
            "wait p50 / p90",
            f"{seconds_text(wait['p50_seconds'])} / {seconds_text(wait['p90_seconds'])}",
        ),
        ("rounds per post", "-" if rounds["mean"] is None else f"{rounds['mean']:.2f}"),
        ("generation per post", seconds_text(generation["seconds_per_post"])),
    ]


def charts(stats: StatsJSON) -> list[Chart]:
    wait = stats["wait"]
    winners = stats["winners"]
    return [
        Chart(
            "reviewers",
            "Decisions per hour, by reviewer",
            "decisions an active hour",
            [(r["reviewer"], r["per_hour"]) for r in stats["reviewers"]],
            "an active hour: a clock hour with at least one decision",
        ),
        Chart(
            "wait",
            "From the last variation to the decision",
            "seconds",
            [("p50", wait["p50_seconds"] or 0.0), ("p90", wait["p90_seconds"] or 0.0)],
            f"{wait['decisions']} decisions",
        ),
        Chart(
            "rounds",
            "Rounds per published post",
            "posts",
            [
                (f"{n} round{'s' if n != '1' else ''}", c)
                for n, c in stats["rounds"]["by_rounds"].items()
            ],
        ),
        Chart(
            "winners",
            "Which variation is approved (its place in its round)",
            "approvals",
            [(f"#{w['place']}", w["chosen"]) for w in winners],
            "by chance: " + ", ".join(f"#{w['place']} {w['by_chance']:g}" for w in winners)
            if winners
            else "",
        ),
        Chart(
            "reasons",
            "Reasons given for rejections",
            "rejections",
            [(r["reason"], r["count"]) for r in stats["reasons"]],
        ),
    ]


def chart_table(chart: Chart, width: int = BAR_WIDTH) -> RenderableType:
    """One chart as Rich renders it: label, bar, value; its title above, its note below."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(width=width, no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    top = max((value for _, value in chart.bars), default=0) or 1
    for label, value in chart.bars:
        table.add_row(label, Bar(top, 0, value, width=width), f"{value:g}")
    if not chart.bars:
        table.add_row(Text("nothing yet", style="dim"), "", "")
    parts: list[RenderableType] = [Text(chart.title, style="bold"), table]
    if chart.note:
        parts.append(Text(chart.note, style="dim"))
    return Group(*parts)


def figures_renderable(stats: StatsJSON, width: int = BAR_WIDTH) -> RenderableType:
    """The summary, then every chart: what `gladtui stats` prints and the TUI shows."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    for name, value in summary(stats):
        facts.add_row(name, value)
    parts: list[RenderableType] = [facts]
    for chart in charts(stats):
        parts += [Text(""), chart_table(chart, width)]
    return Group(*parts)
