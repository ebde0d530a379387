"""The dialogs of the actions: approve, reject, more variations.

Each is a `ModalScreen` that dismisses with what the reviewer chose (None when
they backed out); the review screen sends it to the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from PIL import Image as PILImage
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from gladtui.shapes import TaskSummaryJSON, VariationJSON
from gladtui.tui.detail import slug_line
from gladtui.tui.picturewidget import picture_widget

T = TypeVar("T")

APPROVE_PICTURE_WIDTH = 24  # cells: large enough to recognise the picture in the dialog


@dataclass(frozen=True)
class RejectChoice:
    keep_files: bool
    prompt: str | None  # a new prompt: regenerate with it


@dataclass(frozen=True)
class GenerateChoice:
    count: int
    prompt: str | None


class ApproveScreen(ModalScreen[bool]):
    """`y`/Enter publishes, `n`/Escape backs out. Shows the picture it will publish.

    A variation whose file is missing (the daemon's `missing`) cannot be
    approved (the daemon refuses it): the dialog says so, and what to do,
    instead of the picture, and offers only to go back.
    """

    BINDINGS = [
        Binding("y,enter", "approve", "Approve"),
        Binding("n,escape", "dismiss(False)", "Back"),
    ]

    def __init__(
        self,
        task: TaskSummaryJSON,
        variation: VariationJSON,
        picture: PILImage.Image | None,
        publish_to: str,
        *,
        note: str = "",
    ) -> None:
        """`note`: which variation this is, when another one is pinned beside it."""
        super().__init__()
        self.task_summary = task
        self.variation = variation
        self.missing = bool(variation.get("missing"))
        self.picture = None if self.missing else picture
        self.publish_to = publish_to
        self.note = note

    def compose(self) -> ComposeResult:
        number, seed = self.variation["index"], self.variation["seed"]
        title = (
            f"Cannot approve variation {number}" if self.missing else f"Approve variation {number}?"
        )
        with Vertical(classes="dialog"):
            yield Label(title, classes="dialog-title")
            with Horizontal(classes="approve-body"):
                if self.picture is not None:
                    picture = picture_widget(self.picture, id="approve-picture")
                    picture.styles.width = APPROVE_PICTURE_WIDTH
                    yield picture
                with Vertical(classes="approve-facts"):
                    yield Static(Text(self.task_summary["title"], style="bold"))
                    yield Static(f"variation {number} · seed {seed}", markup=False)
                    if self.note:
                        yield Static(Text(self.note, style="bold"), id="approve-note")
                    if self.missing:
                        yield Static(self._missing_text(), markup=False, classes="problem")
                    else:
                        yield Static(f"slug: {slug_line(self.task_summary)}", markup=False)
                        yield Static(self.publish_to, markup=False)
            hint = "y / Enter: approve and publish    n / Esc: back"
            yield Label("n / Esc: back" if self.missing else hint, classes="hint")

    def _missing_text(self) -> str:
        return (
            f"Its file is missing: {self.variation['path']}\n"
            "Put the file back at that path and approve again, "
            "or g for more variations."
        )

    def action_approve(self) -> None:
        if not self.missing:  # nothing is sent for a file that is not there
            self.dismiss(True)


class ChoiceDialog(ModalScreen[T | None]):
    """A form: Enter in a field or the first button chooses, Esc or Back backs out."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Back")]
    FIRST_FIELD = ""  # the id of the field focused on opening

    def __init__(self, task: TaskSummaryJSON) -> None:
        super().__init__()
        self.task_summary = task

    def on_mount(self) -> None:
        self.query_one(f"#{self.FIRST_FIELD}", Input).focus()

    def on_input_submitted(self) -> None:
        self._choose()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            self.dismiss(None)
        else:
            self._choose()

    def _choose(self) -> None:
        raise NotImplementedError


class Tick(Checkbox):
    """A checkbox whose mark says on or off in any terminal: `✓` or blank.

    Textual's own draws an `X` either way and tells them apart by colour only,
    which a monochrome terminal or a screen reader does not show.
    """

    def on_mount(self) -> None:
        self._mark()

    def watch_value(self) -> None:
        self._mark()

    def _mark(self) -> None:
        self.BUTTON_INNER = "✓" if self.value else " "
        self.refresh()


class RejectScreen(ChoiceDialog[RejectChoice]):
    """Delete or keep the files; a new prompt regenerates."""

    FIRST_FIELD = "prompt"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Reject: {self.task_summary['title']}", classes="dialog-title")
            yield Tick("keep the image files on disk", False, id="keep")
            yield Static(Text(f"prompt now: {self.task_summary['prompt']}", style="dim"))
            yield Label("A new prompt regenerates the task (empty: reject only):")
            yield Input(placeholder="new prompt (optional)", id="prompt")
            with Horizontal(classes="buttons"):
                yield Button("Reject", variant="error", id="reject")
                yield Button("Back", id="back")
            yield Label("Enter: reject    Tab: the other fields    Esc: back", classes="hint")

    def on_input_changed(self, event: Input.Changed) -> None:
        """The button says what Enter will do."""
        label = "Reject and regenerate" if event.value.strip() else "Reject"
        button = self.query_one("#reject", Button)
        button.label = label
        button.refresh(layout=True)  # a new label keeps the old width otherwise, and wraps

    def _choose(self) -> None:
        prompt = self.query_one("#prompt", Input).value.strip()
        keep = self.query_one("#keep", Checkbox).value
        self.dismiss(RejectChoice(keep_files=keep, prompt=prompt or None))


class GenerateScreen(ChoiceDialog[GenerateChoice]):
    """How many more variations (up to the daemon's limit), and optionally a new prompt."""

    FIRST_FIELD = "count"

    def __init__(self, task: TaskSummaryJSON, max_count: int) -> None:
        super().__init__(task)
        self.max_count = max_count  # the daemon's limits.max_variations

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"More variations: {self.task_summary['title']}", classes="dialog-title")
            yield Label(f"How many (1-{self.max_count}):")
            default = str(min(self.task_summary["variations_requested"], self.max_count))
            yield Input(default, type="integer", id="count")
            yield Label("New prompt (empty: the same prompt):")
            yield Input(placeholder="new prompt (optional)", id="prompt")
            yield Label("", id="problem", classes="problem")
            with Horizontal(classes="buttons"):
                yield Button("Generate", variant="primary", id="generate")
                yield Button("Back", id="back")
            yield Label("Enter: generate    Esc: back", classes="hint")

    def _choose(self) -> None:
        text = self.query_one("#count", Input).value.strip()
        count = int(text) if text.isdigit() else 0
        if not 1 <= count <= self.max_count:
            self.query_one("#problem", Label).update(f"the count must be 1 to {self.max_count}")
            return
        prompt = self.query_one("#prompt", Input).value.strip()
        self.dismiss(GenerateChoice(count=count, prompt=prompt or None))
