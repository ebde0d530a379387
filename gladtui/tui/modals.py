"""The dialogs of the actions: approve, reject, more variations.

Each is a `ModalScreen` that dismisses with what the reviewer chose (None when
they backed out); the review screen sends it to the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from gladtui.shapes import TaskSummaryJSON
from gladtui.tui.detail import slug_line

T = TypeVar("T")

MAX_MORE = 16  # variations asked for at once from the TUI


@dataclass(frozen=True)
class RejectChoice:
    keep_files: bool
    prompt: str | None  # a new prompt: regenerate with it


@dataclass(frozen=True)
class GenerateChoice:
    count: int
    prompt: str | None


class ApproveScreen(ModalScreen[bool]):
    """`y`/Enter publishes, `n`/Escape backs out."""

    BINDINGS = [
        Binding("y,enter", "dismiss(True)", "Approve"),
        Binding("n,escape", "dismiss(False)", "Back"),
    ]

    def __init__(self, task: TaskSummaryJSON, variation: int, destination: str) -> None:
        super().__init__()
        self.task_summary = task
        self.variation = variation
        self.destination = destination

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Approve variation {self.variation}?", classes="dialog-title")
            yield Static(Text(self.task_summary["title"], style="bold"))
            yield Static(f"slug: {slug_line(self.task_summary)}", markup=False)
            yield Static(f"to:   {self.destination}", markup=False)
            yield Label("y / Enter: approve and publish    n / Esc: back", classes="hint")


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


class RejectScreen(ChoiceDialog[RejectChoice]):
    """Delete or keep the files; a new prompt regenerates."""

    FIRST_FIELD = "prompt"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Reject: {self.task_summary['title']}", classes="dialog-title")
            yield Checkbox("keep the image files on disk", False, id="keep")
            yield Label("New prompt, to generate again (empty: reject only):")
            yield Input(placeholder=self.task_summary["prompt"], id="prompt")
            with Horizontal(classes="buttons"):
                yield Button("Reject", variant="error", id="reject")
                yield Button("Back", id="back")
            yield Label("Enter in the prompt: reject    Esc: back", classes="hint")

    def _choose(self) -> None:
        prompt = self.query_one("#prompt", Input).value.strip()
        keep = self.query_one("#keep", Checkbox).value
        self.dismiss(RejectChoice(keep_files=keep, prompt=prompt or None))


class GenerateScreen(ChoiceDialog[GenerateChoice]):
    """How many more variations, and optionally a new prompt for them."""

    FIRST_FIELD = "count"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"More variations: {self.task_summary['title']}", classes="dialog-title")
            yield Label(f"How many (1-{MAX_MORE}):")
            default = str(min(self.task_summary["variations_requested"], MAX_MORE))
            yield Input(default, type="integer", id="count")
            yield Label("New prompt (empty: the same prompt):")
            yield Input(placeholder=self.task_summary["prompt"], id="prompt")
            yield Label("", id="problem", classes="problem")
            with Horizontal(classes="buttons"):
                yield Button("Generate", variant="primary", id="generate")
                yield Button("Back", id="back")
            yield Label("Enter: generate    Esc: back", classes="hint")

    def _choose(self) -> None:
        text = self.query_one("#count", Input).value.strip()
        count = int(text) if text.isdigit() else 0
        if not 1 <= count <= MAX_MORE:
            self.query_one("#problem", Label).update(f"the count must be 1 to {MAX_MORE}")
            return
        prompt = self.query_one("#prompt", Input).value.strip()
        self.dismiss(GenerateChoice(count=count, prompt=prompt or None))
