"""The gallery: one page of a task's variations side by side, the selected one outlined.

What is on screen is what the keys act on: the selected variation is always
on the page shown (the page follows the selection), outlined, with its
number and seed, and a new task starts on its chosen or first variation.
Variations being generated follow the others, each a live preview; when a
generation starts (after `g`) the page turns to them, until the first of
them is final (and selected) or the reviewer picks a variation; a selection
left off that page meanwhile is not acted on (`current` is None).
The border says which page this is, in the variations' own numbers ("Variations
4–6 of 12"), and their round once there is more than one ("Round 2: variations 5–7
of 5–8").

The pictures are sized from the room there is (`gallery_layout`): at least
three side by side, as large as the width allows while leaving the detail
pane its lines. Thumbnails are drawn by textual-image, which picked the best
way this terminal can show pictures (kitty graphics, sixel, else coloured
half blocks) when `gladtui.tui` was imported, before the app started.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image as PILImage
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Static

from gladtui.shapes import VariationJSON
from gladtui.tui.livepreviews import PreviewBox, PreviewShot
from gladtui.tui.picturewidget import PictureBase, picture_widget, repicture

PER_PAGE = 3  # thumbnails side by side at least, from 80 columns up
COLUMNS_PER_EXTRA = 60  # a wide gallery shows one more thumbnail per this many columns
BOX_FRAME = 2  # a thumbnail's border, left and right (and top and bottom)
CHROME_ROWS = 4  # the gallery's title row, a box's top and bottom border, its label
DETAIL_ROWS = 11  # what the detail pane keeps below the gallery at least
CELL_ASPECT = 0.5  # a terminal cell is about half as wide as it is tall


def live_variations(variations: list[VariationJSON]) -> list[VariationJSON]:
    """The variations gladtui has not removed: the ones the gallery shows."""
    return [v for v in variations if v["removed_at"] is None]


def showable(variations: list[VariationJSON]) -> list[VariationJSON]:
    """The live variations whose file is there: those with a picture to fetch and show.

    A missing one (its file moved or deleted by hand, `missing` in the daemon's
    JSON) is shown as missing, never with a picture cached before it went.
    """
    return [v for v in live_variations(variations) if not v.get("missing")]


@dataclass(frozen=True, slots=True)
class GalleryLayout:
    per_page: int
    box_width: int  # cells, border included
    picture_width: int  # cells
    picture_rows: int  # about: textual-image sizes the picture from the terminal's cells


def gallery_layout(width: int, height: int, aspect: float = 1.0) -> GalleryLayout:
    """Thumbnails for a gallery `width` cells wide in a pane `height` rows tall.

    `aspect`: the pictures' height over width, in pixels. The boxes share the
    width; a picture is as wide as its box, unless that would make it taller
    than the pane allows once the detail pane has its lines.
    """
    per_page = max(PER_PAGE, PER_PAGE + (width - 2 * COLUMNS_PER_EXTRA) // COLUMNS_PER_EXTRA)
    box_width = max(width // per_page, BOX_FRAME + 4)
    rows = max(height - DETAIL_ROWS - CHROME_ROWS, 3)
    widest = int(rows / (aspect * CELL_ASPECT))  # the widest picture that fits those rows
    picture_width = max(min(box_width - BOX_FRAME, widest), 2)
    picture_rows = max(round(picture_width * aspect * CELL_ASPECT), 1)
    return GalleryLayout(per_page, box_width, picture_width, picture_rows)


def page_of(indexes: list[int], selected: int | None, per_page: int) -> int:
    """The page (0-based) holding the selected variation."""
    at = indexes.index(selected) if selected in indexes else 0
    return at // per_page


def _looks(variation: VariationJSON) -> tuple[object, ...]:
    """What a box shows of a variation: when it changes, the box is drawn again."""
    v = variation
    return (v["index"], v["thumbnail"], v["selected"], v.get("missing", False))


class Thumbnail(Vertical):
    """One variation: its picture (or a placeholder until it arrives) and `N · seed`."""

    def __init__(
        self, variation: VariationJSON, picture: PILImage.Image | None, layout: GalleryLayout
    ) -> None:
        super().__init__()
        self.variation = variation
        self.picture = None if variation.get("missing") else picture
        self.styles.width = layout.box_width
        self._layout = layout
        self.pinned = False  # pinned for the large view's compare (`p`)

    def compose(self) -> ComposeResult:
        yield self._picture_widget()
        yield Label(self._caption())

    def _caption(self) -> str:
        mark = " ✓" if self.variation["selected"] else ""
        pin = " pin" if self.pinned else ""
        gone = " · missing" if self.variation.get("missing") else ""
        return f"{self.variation['index']} · {self.variation['seed']}{mark}{gone}{pin}"

    def set_pinned(self, pinned: bool) -> None:
        if pinned != self.pinned:
            self.pinned = pinned
            labels = self.query(Label)  # none yet before compose, which reads `pinned`
            if labels:
                labels.first().update(self._caption(), layout=False)  # one line, 100 % wide

    def _picture_widget(self) -> Widget:
        # Both sides set: textual-image's "auto" reads the widget's size before layout.
        if self.variation.get("missing"):
            widget: Widget = Static("file missing", classes="missing")
        elif self.picture is None:
            widget = Static("…", classes="pending")
        else:
            widget = picture_widget(self.picture)
        widget.styles.width = self._layout.picture_width
        widget.styles.height = self._layout.picture_rows
        return widget

    def show(self, variation: VariationJSON, picture: PILImage.Image | None) -> None:
        """Another variation in this box: cheaper than a new box (no mount, no layout)."""
        self.variation = variation
        self.query_one(Label).update(self._caption(), layout=False)  # one line, 100 % wide
        picture = None if variation.get("missing") else picture
        if picture is not None and self.picture is not None:
            self.picture = picture
            repicture(self.query_one(".picture", PictureBase), picture)
            return
        old, self.picture = self.children[0], picture
        old.remove()
        self.mount(self._picture_widget(), before=0)

    def set_picture(self, picture: PILImage.Image | None) -> None:
        """The picture arrived: it takes the placeholder's place."""
        if picture is None or self.picture is not None or self.variation.get("missing"):
            return
        self.picture = picture
        pending = self.query(".pending")
        if pending:
            pending.first().remove()
            self.mount(self._picture_widget(), before=0)


class Gallery(Vertical, can_focus=False):
    """One page of the live variations; `selected` is a variation index (1-based)."""

    selected: reactive[int | None] = reactive(None, init=False)

    class Selected(Message):
        def __init__(self, index: int | None) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.task_id: str | None = None
        self.variations: list[VariationJSON] = []
        self.note = ""
        self.layout_now = GalleryLayout(PER_PAGE, 16, 14, 7)
        self.pictures: dict[int, PILImage.Image | None] = {}
        self.previews: dict[int, PreviewShot] = {}  # variations being generated, by index
        # The first variation forming while its page is shown, until it is final or the
        # reviewer picks one; once per generation (`_forming`: previews seen since its start).
        self._follow: int | None = None
        self._forming = False
        self.pinned: int | None = None  # the variation pinned for the compare (`p`)
        self._page: int | None = None

    def compose(self) -> ComposeResult:
        yield Horizontal(id="thumbnails")

    def hide_stale(self) -> None:
        """Hide the pictures until the next `show` (another task is under the cursor).

        Cheaper than removing them: a repaint, not a layout of the whole pane,
        so the cursor stays quick while it moves.
        """
        self.add_class("-stale")

    def show(
        self,
        task_id: str | None,
        variations: list[VariationJSON],
        pictures: dict[int, PILImage.Image | None],
        note: str = "",
    ) -> None:
        """Show a task's variations; the selection stays when the task is the same.

        `pictures`: the thumbnails already in memory, by variation index.
        """
        self.remove_class("-stale")
        live = live_variations(variations)
        same_task = task_id == self.task_id
        unchanged = [_looks(v) for v in live] == [_looks(v) for v in self.variations]
        if same_task and unchanged and note == self.note:
            came = {n: p for n, p in pictures.items() if self.pictures.get(n) is None}
            for index, picture in came.items():  # known since it was drawn: shown now
                if task_id is not None and picture is not None:
                    self.picture_arrived(task_id, index, picture)
            return
        keep = self.selected if same_task else None
        if not same_task:
            self._follow, self._forming = None, False
        self.pinned = self.pinned if same_task else None
        self.task_id, self.variations, self.note = task_id, live, note
        done = {v["index"] for v in variations}  # final now: the thumbnail takes over
        self.previews = {n: s for n, s in self.previews.items() if same_task and n not in done}
        self.pictures = dict(pictures)
        indexes = [v["index"] for v in live]
        chosen = next((v["index"] for v in live if v["selected"]), None)
        selected = keep if keep in indexes else (chosen or (indexes[0] if indexes else None))
        if self._follow in indexes:  # the followed batch's first variation is final: on it
            selected, self._follow = self._follow, None
        self._page = None
        self.set_reactive(Gallery.selected, selected)
        self._draw()
        self.post_message(self.Selected(selected))

    def picture_arrived(self, task_id: str, index: int, picture: PILImage.Image | None) -> None:
        if task_id != self.task_id:
            return
        self.pictures[index] = picture
        for thumbnail in self.query(Thumbnail):
            if thumbnail.variation["index"] == index:
                thumbnail.set_picture(picture)

    def show_previews(self, task_id: str, shots: dict[int, PreviewShot]) -> None:
        """The latest previews of the variations being generated (none: `{}`)."""
        if task_id != self.task_id:
            return
        if not shots:  # the generation ended (done, cancelled, failed): none to follow
            self._follow, self._forming = None, False
        done = {v["index"] for v in self.variations}
        shots = {n: shot for n, shot in shots.items() if n not in done}
        if shots.keys() == self.previews.keys():
            self.previews = shots
            for box in self.query(PreviewBox):
                shot = shots.get(box.index)  # None: a box being removed (its variation is final)
                if shot is not None:
                    box.update(shot)
            return
        self.previews = shots
        if shots and not self._forming:  # a generation's first previews: show their page
            self._follow, self._forming = min(shots), True
        self._page = None
        self._draw()

    def pin(self, index: int | None) -> None:
        """Mark variation `index` as pinned (None: none is)."""
        self.pinned = index
        self._draw()

    def select(self, index: int) -> bool:
        """Select variation `index`; False when the task has no such live variation."""
        if index not in [v["index"] for v in self.variations]:
            return False
        self._follow = None  # the reviewer picked: the page is the selection's again
        self.selected = index
        self._draw()  # the same index as before still brings its page back
        return True

    def step(self, delta: int) -> None:
        indexes = [v["index"] for v in self.variations]
        if not indexes:
            return
        at = indexes.index(self.selected) if self.selected in indexes else 0
        self._follow = None
        self.selected = indexes[(at + delta) % len(indexes)]
        self._draw()

    @property
    def current(self) -> VariationJSON | None:
        """The selected variation, when it is on the page shown: what the keys act on."""
        if self._follow is not None and self.selected not in self._on_page():
            return None  # the page of a batch forming: nothing selected on it
        return next((v for v in self.variations if v["index"] == self.selected), None)

    def watch_selected(self) -> None:
        self._draw()
        self.post_message(self.Selected(self.selected))

    def on_resize(self) -> None:
        self._page = None
        self._draw()

    # -- drawing ------------------------------------------------------------------------

    def _draw(self) -> None:
        """Mount the page that holds the selection (when it changed), mark the selection."""
        if not self.is_mounted:
            return
        layout = self._layout()
        anchor = self.selected if self._follow is None else self._follow
        page = page_of(self._boxes(), anchor, layout.per_page)
        if page != self._page or layout != self.layout_now:
            relayout = layout != self.layout_now
            self._page, self.layout_now = page, layout
            self._mount_page(page, relayout)
        self.border_title = self._title()
        for thumbnail in self.query(Thumbnail):
            index = thumbnail.variation["index"]
            thumbnail.set_class(index == self.selected, "-selected")
            thumbnail.set_pinned(index == self.pinned)

    def _boxes(self) -> list[int]:
        """The indexes the boxes show, in order: the variations, then those forming."""
        return [v["index"] for v in self.variations] + sorted(self.previews)

    def _on_page(self) -> list[int]:
        per_page = self.layout_now.per_page
        page = self._page or 0
        return self._boxes()[page * per_page : (page + 1) * per_page]

    def _layout(self) -> GalleryLayout:
        first = self.variations[0] if self.variations else None
        aspect = first["height"] / first["width"] if first and first["width"] else 1.0
        pane = self.parent.size.height if isinstance(self.parent, Widget) else self.size.height
        return gallery_layout(self.size.width, pane, aspect)

    def _mount_page(self, page: int, relayout: bool) -> None:
        """Put the page's variations in the boxes: the boxes shown are reused when they
        fit (moving to the next task is then a repaint, not a new layout)."""
        row = self.query_one("#thumbnails", Horizontal)
        layout = self.layout_now
        on_page = self._on_page()
        shown = [v for v in self.variations if v["index"] in on_page]
        pending = [n for n in on_page if n in self.previews]
        boxes = list(row.query(Thumbnail))
        reusable = not pending and not row.query(PreviewBox)
        if shown and reusable and not relayout and len(boxes) == len(shown):
            for box, variation in zip(boxes, shown, strict=True):
                box.show(variation, self.pictures.get(variation["index"]))
            return
        row.remove_children()
        if not shown and not pending:
            row.mount(Static(self.note or "No images yet.", classes="empty"))
            return
        size = (layout.picture_width, layout.picture_rows)
        row.mount_all(
            [
                *(Thumbnail(v, self.pictures.get(v["index"]), layout) for v in shown),
                *(PreviewBox(n, self.previews[n], layout.box_width, size) for n in pending),
            ]
        )

    def _title(self) -> str:
        on_page = self._on_page()
        shown = [v for v in self.variations if v["index"] in on_page]
        forming = [n for n in on_page if n in self.previews]
        title = gallery_title(shown, self.variations) if shown or not forming else "Variations"
        if forming:
            title += f" · forming {_numbers(forming)}"
        keys = "  ← → 1-9" if len(self.variations) > 1 else ""
        return title + keys


def _numbers(numbers: list[int]) -> str:
    """`5–7` for a run, `5` alone, else `2, 5, 6`."""
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}–{numbers[-1]}" if len(numbers) > 1 else f"{numbers[0]}"
    return ", ".join(map(str, numbers))


def _round(variation: VariationJSON) -> int:
    return variation.get("round", 1)  # a daemon older than rounds: one round


def gallery_title(shown: list[VariationJSON], live: list[VariationJSON]) -> str:
    """The border: the page in the variations' own numbers, and their round.

    `Variations 1–3 of 4`; after a new round, `Round 2: variations 5–7 of 5–8`
    (the numbers under the pictures, the ones `1`-`9` and `gladtui approve
    --variation` take). The round is said once the task has had more than one.
    """
    if not live:
        return "Variations"
    indexes = [v["index"] for v in live]
    if shown == live:
        text = f"variations {_numbers(indexes)}"
    else:
        if indexes == list(range(1, len(indexes) + 1)):
            whole = str(len(indexes))  # 1..N: "of N" says it all
        elif indexes == list(range(indexes[0], indexes[-1] + 1)):
            whole = _numbers(indexes)
        else:  # some gone between: how many, and from where to where
            whole = f"{len(indexes)} in {indexes[0]}–{indexes[-1]}"
        text = f"variations {_numbers([v['index'] for v in shown])} of {whole}"
    if max(map(_round, live)) == 1:
        return text[0].upper() + text[1:]
    rounds = sorted(set(map(_round, shown)))
    label = f"Round {rounds[0]}" if len(rounds) == 1 else f"Rounds {_numbers(rounds)}"
    return f"{label}: {text}"
