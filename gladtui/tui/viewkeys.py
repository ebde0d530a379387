"""The review screen's keys to the large view: Enter, `z` (100 %) and `p` (pin). A mixin of
ReviewScreen.

They act on the gallery's selection, as every key of the review screen does.
`Enter` shows it large, `z` at 100 % (the loupe), and `p` pins it and opens
the compare, the selection moved on to the next variation so that two
different ones stand side by side; with a variation pinned, `p` unpins it
(the gallery marks the pinned one). The pin and the loupe's place belong to
the task under the cursor (largeview.ViewState): another task starts afresh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gladtui.tui.bindings import bindings
from gladtui.tui.largeview import LargeView, ViewState

if TYPE_CHECKING:
    from textual.screen import Screen

    from gladtui.shapes import TaskJSON
    from gladtui.tui.gallery import Gallery
    from gladtui.tui.pictures import Pictures

    _Base = Screen[None]
else:
    _Base = object


class ViewKeys(_Base):
    """Needs, from the screen: gallery, pictures, full (the cursor's task in full), and
    action_approve (decide.py)."""

    if TYPE_CHECKING:
        gallery: Gallery
        pictures: Pictures
        full: TaskJSON | None

        def action_approve(self, dialog: bool = False) -> None: ...

    VIEW_BINDINGS = bindings("view")

    view_state: ViewState | None = None

    def action_enlarge(self) -> None:
        self._open(zoomed=False)

    def action_zoom(self) -> None:
        self._open(zoomed=True)

    def action_pin(self) -> None:
        state = self._state()
        if state is None or self.gallery.current is None:
            self.notify("no image to pin", severity="warning")
            return
        if state.pinned is not None:
            unpinned = state.pinned
            self._pin_changed(None)
            self.notify(f"variation {unpinned} unpinned", timeout=3)
            return
        if len(self.gallery.variations) < 2:
            self.notify("only one variation: nothing to compare it with", severity="warning")
            return
        self._pin_changed(self.gallery.selected)
        self.gallery.step(1)  # the other side of the compare: the next one
        self._open(zoomed=False)

    def approve_note(self, index: int) -> str:
        """What the approve dialog says when a variation other than `index` is pinned."""
        state = self.view_state
        if state is None or state.task_id != self.gallery.task_id or state.pinned in (None, index):
            return ""
        return (
            f"the selected variation, {index} (on the right in the compare),"
            f" not the pinned one, {state.pinned}"
        )

    def close_large_view(self) -> None:
        """A decision moves on to the next task: the large view of this one goes."""
        if isinstance(self.app.screen, LargeView):
            self.app.pop_screen()

    def _state(self) -> ViewState | None:
        """The large view's state for the gallery's task (new for another task)."""
        task_id = self.gallery.task_id
        if task_id is None:
            return None
        if self.view_state is None or self.view_state.task_id != task_id:
            self.view_state = ViewState(task_id)
        return self.view_state

    def _pin_changed(self, index: int | None) -> None:
        state = self._state()
        if state is not None:
            state.pinned = index
        self.gallery.pin(index)

    def _open(self, *, zoomed: bool) -> None:
        state = self._state()
        if state is None or self.gallery.current is None:
            self.notify("no image to show", severity="warning")
            return
        view = LargeView(
            self.gallery,
            self.pictures,
            state,
            title=self.full["title"] if self.full else "",
            zoomed=zoomed,
            approve=self.action_approve,
            pinned_changed=self.gallery.pin,
        )
        self.app.push_screen(view)
