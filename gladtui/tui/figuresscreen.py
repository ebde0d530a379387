"""The review desk's figures (`s` on the review screen): GET /api/stats drawn with bars.

The same summary and charts as `gladtui stats` (gladtui/figures.py), fetched on a
thread so the screen opens at once; `r` fetches them again, Esc goes back.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from gladtui.client import Client, ClientError
from gladtui.figures import figures_renderable
from gladtui.shapes import StatsJSON

# The bars leave room for a reviewer's name and the value at 80 columns.
BAR_WIDTH_AT_80 = 30


class FiguresScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,s", "dismiss(None)", "Close"),
        Binding("r", "refresh", "Again"),
    ]

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client
        self.stats: StatsJSON | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog figures"):
            yield Label("The review desk's figures    (↑ ↓: scroll)", classes="dialog-title")
            yield Static("asking the daemon…", id="figures")
            yield Label("r: again    Esc: close", classes="hint")

    def on_mount(self) -> None:
        self._fetch()

    def action_refresh(self) -> None:
        self._fetch()

    @work(thread=True, exclusive=True, group="figures")
    def _fetch(self) -> None:
        try:
            stats = self.client.stats()
        except ClientError as exc:
            self.app.call_from_thread(self._show_problem, str(exc))
            return
        self.app.call_from_thread(self._show, stats)

    def _show(self, stats: StatsJSON) -> None:
        self.stats = stats
        width = max(10, min(BAR_WIDTH_AT_80, self.size.width - 50))
        self.query_one("#figures", Static).update(figures_renderable(stats, width))

    def _show_problem(self, problem: str) -> None:
        self.query_one("#figures", Static).update(f"cannot read the figures: {problem}")
