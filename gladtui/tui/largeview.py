"""The large view: the selected variation as large as the terminal allows, the loupe at
100 %, and two variations side by side (compare).

It shows the gallery's selection (the variation `a` approves), so what is on
screen is what the keys act on: `←` `→` and `1`-`9` move the gallery's
selection, and the labels name it. `p` pins the variation shown: the pinned
one then stays on the left, the selected one on the right, and the arrows
cycle the right one (past the pinned). `z` is the loupe: one image pixel per
pixel the terminal draws (loupe.py), centred at first, panned by `h` `j` `k`
`l` or Shift+arrows, at the same place on every variation and on both sides
of a compare. The pin and the loupe's place belong to the task under the
cursor (`ViewState`), kept while the reviewer goes back to the list and
comes again.

The pictures are the daemon's full-size files (Pictures.fetch_full), fetched
in a worker with the neighbours of the selection, so the arrows find theirs
in memory; the loupe crops them, and only the crop is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image as PILImage
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Label, Static
from textual.worker import get_current_worker

from gladtui.client import ClientError
from gladtui.shapes import VariationJSON
from gladtui.tui.bindings import bindings
from gladtui.tui.loupe import PANEL_GAP, Crop, Point, fit, loupe, pan, panels
from gladtui.tui.picturewidget import PictureBase, drawn_cell, picture_widget, repicture
from gladtui.tui.screens import HelpScreen, help_rows

if TYPE_CHECKING:
    from gladtui.tui.gallery import Gallery
    from gladtui.tui.pictures import Pictures

CHROME_ROWS = 3  # the caption above, a panel's label under its picture, the footer
# The last column stays empty: tmux 3.3a attaches the combining marks written into a
# line's last cell to the cell before it (measured), which breaks a kitty picture's
# last two columns of placeholders there.
RIGHT_MARGIN = 1


@dataclass(slots=True)
class ViewState:
    """What the large view keeps of one task between openings."""

    task_id: str
    pinned: int | None = None  # the variation kept on the left, by index
    centre: Point | None = None  # the loupe's place in image pixels; None: centred


class Panel(Vertical):
    """One variation in the large view: its picture (or `…` until it has arrived), its
    label under it, as in the gallery. The picture widget is kept while its size in
    cells stays, so a pan gives it a new picture without a new layout."""

    def __init__(self) -> None:
        super().__init__(classes="panel")
        self.label = Label("", classes="panel-label")
        self.picture: Widget = Static("…", classes="pending")
        self.cells: tuple[int, int] | None = None  # the picture widget's size
        # the loupe's last crop: the same place on the same picture is the same image,
        # so a redraw sends nothing new to the terminal
        self.cropped: tuple[PILImage.Image, tuple[int, int, int, int], PILImage.Image] | None = None
        self._waiting: tuple[str, PILImage.Image | None, tuple[int, int]] | None = None

    def compose(self) -> ComposeResult:
        yield self.picture
        yield self.label

    def on_mount(self) -> None:
        if self._waiting is not None:  # given before its children were there
            self.show(*self._waiting)

    def show(self, label: str, picture: PILImage.Image | None, cells: tuple[int, int]) -> None:
        if not self.label.is_mounted:
            self._waiting = (label, picture, cells)
            return
        self._waiting = None
        self.label.update(label, layout=False)  # one line, 100 % wide
        widget = self.picture
        if picture is None:
            if not isinstance(widget, Static):
                self._replace(Static("…", classes="pending"), cells)
            return
        if isinstance(widget, PictureBase) and self.cells == cells:
            if widget.image is not picture:
                repicture(widget, picture)
            return
        if isinstance(widget, PictureBase):  # another size (a compare on or off): resized
            widget.styles.width, widget.styles.height = cells  # in place, no mount
            self.cells, widget.image = cells, picture
            return
        self._replace(picture_widget(picture), cells)

    def crop(self, picture: PILImage.Image, box: tuple[int, int, int, int]) -> PILImage.Image:
        if self.cropped is None or self.cropped[0] is not picture or self.cropped[1] != box:
            self.cropped = (picture, box, picture.crop(box))
        return self.cropped[2]

    def _replace(self, widget: Widget, cells: tuple[int, int]) -> None:
        widget.styles.width, widget.styles.height = cells
        old, self.picture, self.cells = self.picture, widget, cells
        old.remove()
        self.mount(widget, before=self.label)


class LargeView(Screen[None]):
    """The gallery's selection, large; with a pin, the pinned one beside it; `z`: 100 %."""

    BINDINGS = bindings("large")

    def __init__(
        self,
        gallery: Gallery,
        pictures: Pictures,
        state: ViewState,
        *,
        title: str,
        zoomed: bool,
        approve: Callable[[bool], None],
        pinned_changed: Callable[[int | None], None],
    ) -> None:
        """`gallery`: whose selection is shown and moved; `approve(dialog)`: the review
        screen's approve key; `pinned_changed`: told when `p` pins or unpins."""
        super().__init__()
        self.gallery = gallery
        self.pictures = pictures
        self.state = state
        self.title_text = title
        self.zoomed = zoomed
        self.opened_zoomed = zoomed  # Esc in the loupe goes back to where z was pressed
        self._approve = approve
        self._pinned_changed = pinned_changed
        self.sights: list[Crop | None] = []  # the crop each panel shows, in the loupe
        self.panels: list[Panel] = []

    def compose(self) -> ComposeResult:
        self.caption = Label("", id="caption")
        self.row = Horizontal(id="panels")
        yield self.caption
        yield self.row
        yield Footer()

    def on_mount(self) -> None:
        self.draw()
        self._fetch()

    def on_resize(self) -> None:
        self.draw()

    # -- what is shown ---------------------------------------------------------------------

    def shown(self) -> list[tuple[VariationJSON, str]]:
        """The variations on screen, left to right, with their labels."""
        selected = self.gallery.current
        if selected is None:
            return []
        pinned = self._pinned_variation()
        where = f"{selected['index']} · seed {selected['seed']}"
        if pinned is None:
            return [(selected, where)]
        left = f"{pinned['index']} · seed {pinned['seed']} · pinned (p: unpin)"
        return [(pinned, left), (selected, f"{where} · selected: ← → a")]

    def _pinned_variation(self) -> VariationJSON | None:
        pinned = self.state.pinned
        selected = self.gallery.selected
        if pinned is None or pinned == selected:
            return None
        return next((v for v in self.gallery.variations if v["index"] == pinned), None)

    def draw(self) -> None:
        """Lay the shown variations out in panels and give each its picture."""
        if not self.is_mounted:
            return
        shown = self.shown()
        self._panels_for(len(shown))
        columns, height = self.app.size
        columns, rows = max(columns - RIGHT_MARGIN, 1), max(height - CHROME_ROWS, 1)
        widths = panels(columns, len(shown)) if shown else []
        task_id = self.gallery.task_id or ""
        self.sights = []
        places = []
        rows_of = zip(self.panels, shown, widths, strict=False)  # the panels shown
        for n, (panel, (variation, label), width) in enumerate(rows_of):
            # a missing file's copy kept on this side would be stale: it is not shown
            missing = bool(variation.get("missing"))
            picture = None if missing else self.pictures.get_full(task_id, variation)
            label = f"{label} · file missing" if missing else label
            drawn, cells, crop = self._picture_for(panel, picture, (width, rows))
            self.sights.append(crop)
            if crop is not None:
                places.append(crop.describe())
            panel.styles.width = width
            panel.styles.margin = (0, 0, 0, PANEL_GAP if n else 0)
            panel.set_class(len(shown) > 1 and n == len(shown) - 1, "-selected")
            panel.show(label, drawn, cells)
        self.caption.update(self._caption(places, bool(shown)), layout=False)  # one line

    @property
    def shown_panels(self) -> list[Panel]:
        """The panels on screen, left to right (one over from a compare stays hidden)."""
        return [panel for panel in self.panels if panel.display]

    def _panels_for(self, count: int) -> None:
        """`count` panels shown: those missing are mounted, those over are hidden, not
        removed, so `p` toggling the compare mounts nothing after its first time (a
        mount restyles and lays out the screen: most of what a toggle cost)."""
        if len(self.panels) < count:
            added = [Panel() for _ in range(count - len(self.panels))]
            self.panels += added
            self.row.mount_all(added)
        for n, panel in enumerate(self.panels):
            panel.display = n < count

    def _picture_for(
        self, panel: Panel, picture: PILImage.Image | None, room: tuple[int, int]
    ) -> tuple[PILImage.Image | None, tuple[int, int], Crop | None]:
        """What a panel draws: the whole picture fitted, or the loupe's crop at 100 %."""
        if picture is None:
            return None, room, None
        cell = drawn_cell()
        if not self.zoomed:
            return picture, fit(picture.size, room, cell), None
        sight = loupe(picture.size, room, cell, self.state.centre)
        return panel.crop(picture, sight.crop.box), sight.cells, sight.crop

    def _caption(self, places: list[str], any_shown: bool) -> str:
        if not any_shown:
            return f"no image to show · {self.title_text}   Esc: back"
        if not self.zoomed:
            return f"fitted (z: 100 %) · {self.title_text}"
        unique = list(dict.fromkeys(places))
        where = " | ".join(unique) if unique else "…"
        return f"100 % {where} · {self.title_text}"

    # -- keys --------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Panning is for the loupe only (the footer and help then leave it out)."""
        if action == "pan":
            return self.zoomed
        return True

    def action_back(self) -> None:
        if self.zoomed and not self.opened_zoomed:
            self.action_zoom()
        else:
            self.dismiss(None)

    def action_zoom(self) -> None:
        if self.zoomed and self.opened_zoomed:
            self.dismiss(None)  # z goes back where it came from: the list
            return
        self.zoomed = not self.zoomed
        self.refresh_bindings()
        self.draw()

    def action_pan(self, right: int, down: int) -> None:
        crop = self.sights[-1] if self.sights else None  # the selected one's, rightmost
        if crop is None:
            return
        self.state.centre = pan(crop, right, down)
        self.draw()

    def action_step(self, delta: int) -> None:
        gallery = self.gallery
        gallery.step(delta)
        if self._skip_pinned():
            gallery.step(delta)
        self._moved()

    def action_pick(self, index: int) -> None:
        if self.state.pinned == index and len(self.gallery.variations) > 1:
            self.notify(f"{index} is the pinned one, on the left (p: unpin)", severity="warning")
            return
        if not self.gallery.select(index):
            have = ", ".join(str(v["index"]) for v in self.gallery.variations) or "none"
            self.notify(f"no variation {index} here (variations: {have})", severity="warning")
            return
        self._moved()

    def _skip_pinned(self) -> bool:
        pinned = self.state.pinned
        return (
            pinned is not None
            and self.gallery.selected == pinned
            and len(self.gallery.variations) > 1
        )

    def _moved(self) -> None:
        self.draw()
        self._fetch()

    def action_pin(self) -> None:
        """Pin the variation shown (the selection moves on to the next), or unpin."""
        if self.state.pinned is not None:
            self.pin(None)
            return
        if len(self.gallery.variations) < 2:
            self.notify("only one variation: nothing to compare it with", severity="warning")
            return
        self.pin(self.gallery.selected)
        self.gallery.step(1)
        self._moved()

    def pin(self, index: int | None) -> None:
        self.state.pinned = index
        self._pinned_changed(index)
        self.draw()

    def action_approve(self, dialog: bool = False) -> None:
        self._approve(dialog)

    def action_help(self) -> None:
        keys = [b for b in self.BINDINGS if isinstance(b, Binding)]
        self.app.push_screen(HelpScreen(help_rows(keys)))

    # -- pictures ----------------------------------------------------------------------------

    def _fetch(self) -> None:
        """The pictures shown, then the selection's neighbours (the arrows' next)."""
        task_id = self.gallery.task_id
        if task_id is not None:
            shown = [variation for variation, _ in self.shown()]
            self._fetch_pictures(task_id, shown, self._neighbours())

    @work(thread=True, exclusive=True, group="full")
    def _fetch_pictures(
        self, task_id: str, shown: list[VariationJSON], ahead: list[VariationJSON]
    ) -> None:
        worker = get_current_worker()
        for variation in shown + ahead:
            if worker.is_cancelled:
                return
            if variation.get("missing") or self.pictures.get_full(task_id, variation) is not None:
                continue
            try:
                picture = self.pictures.fetch_full(task_id, variation)
            except ClientError as exc:
                self.app.call_from_thread(self.notify, str(exc), severity="error")
                return
            if variation in shown:
                if picture is None:
                    gone = f"variation {variation['index']}: the image is gone"
                    self.app.call_from_thread(self.notify, gone, severity="warning")
                self.app.call_from_thread(self.draw)

    def _neighbours(self) -> list[VariationJSON]:
        variations = self.gallery.variations
        indexes = [v["index"] for v in variations]
        if self.gallery.selected not in indexes:
            return []
        at = indexes.index(self.gallery.selected)
        return [variations[(at + step) % len(variations)] for step in (1, -1)]
