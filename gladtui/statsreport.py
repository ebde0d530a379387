"""`gladtui stats --html FILE`: the figures as one self-contained HTML page.

The same charts as the terminal's (gladtui/figures.py), drawn as inline SVG: no
script, no stylesheet or font from elsewhere, so the file opens anywhere, offline,
and can be mailed. Every text is escaped (a reviewer's name, a reason's).
"""

from __future__ import annotations

from html import escape

from gladtui.figures import Chart, charts, summary
from gladtui.shapes import StatsJSON

BAR_PX = 360  # the longest bar
ROW_PX = 22
LABEL_PX = 140

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 48em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table.summary td { padding: 0.2em 1em 0.2em 0; } .note { color: #666; font-size: 0.9em; }
svg text { font-size: 13px; fill: #222; } svg rect { fill: #3b6ea5; }
"""


def report_html(stats: StatsJSON) -> str:
    rows = "".join(
        f"<tr><th scope='row'>{escape(name)}</th><td>{escape(value)}</td></tr>"
        for name, value in summary(stats)
    )
    sections = "".join(_section(chart) for chart in charts(stats))
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>gladtui: the review desk's figures</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>The review desk's figures</h1>"
        f"<table class='summary'>{rows}</table>{sections}</body></html>\n"
    )


def _section(chart: Chart) -> str:
    note = f"<p class='note'>{escape(chart.note)}</p>" if chart.note else ""
    body = _svg(chart) if chart.bars else "<p class='note'>nothing yet</p>"
    return f"<section><h2>{escape(chart.title)}</h2>{body}{note}</section>"


def _svg(chart: Chart) -> str:
    top = max(value for _, value in chart.bars) or 1
    height = ROW_PX * len(chart.bars)
    width = LABEL_PX + BAR_PX + 80
    parts = [
        f"<svg class='chart' data-chart='{escape(chart.key)}' role='img' "
        f"aria-label='{escape(chart.title)}' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg'>"
    ]
    for row, (label, value) in enumerate(chart.bars):
        y = row * ROW_PX
        length = round(BAR_PX * value / top, 1)
        parts.append(
            f"<text x='0' y='{y + 15}'>{escape(label)}</text>"
            f"<rect x='{LABEL_PX}' y='{y + 3}' width='{length}' height='{ROW_PX - 6}' "
            f"data-value='{value:g}'><title>{escape(label)}: {value:g} {escape(chart.unit)}"
            "</title></rect>"
            f"<text x='{LABEL_PX + length + 6}' y='{y + 15}'>{value:g}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
