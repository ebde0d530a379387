"""The dialogs of the actions: approve, reject, more variations.

Each is a `ModalScreen` that dismisses with what the reviewer chose (None when
they backed out); the review screen sends it to the daemon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from PIL import Image as PILImage
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from gladtui.config.review import apply_additions
from gladtui.shapes import RejectReasonJSON, TaskSummaryJSON, VariationJSON
from gladtui.tui.detail import slug_line
from gladtui.tui.picturewidget import picture_widget

T = TypeVar("T")

APPROVE_PICTURE_WIDTH = 24  # cells: large enough to recognise the picture in the dialog


@dataclass(frozen=True)
class RejectChoice:
    keep_files: bool
    prompt: str | None  # a new prompt: regenerate with it
    again: bool = False  # regenerate with the same prompt
    reasons: tuple[str, ...] = ()  # review.reject_reasons names


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
        if self.FIRST_FIELD:  # none: the dialog's own keys first (the reject dialog)
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
    """Why (the reasons, one key each), keep or delete the files, and a new round: the same
    prompt again (`a`) or a new one (`p`, then type). What the new round will render with,
    the reasons' words added, is shown before Enter confirms.

    It opens on its keys, no field focused (`p` or Tab: the prompt field), whether the
    daemon's reasons have arrived yet or not: the same keys always do the same.
    """

    FIRST_FIELD = ""  # no field focused: the letters are the dialog's keys
    # With no field focused, Enter is the dialog's (in the field: the field's Enter).
    BINDINGS = [Binding("enter", "choose", "Reject")]
    AUTO_FOCUS = ""  # None would be the app's ("*"): the prompt field

    def __init__(self, task: TaskSummaryJSON, reasons: Sequence[RejectReasonJSON] = ()) -> None:
        super().__init__(task)
        self.reasons = list(reasons)
        self.by_key = {reason["key"]: reason for reason in self.reasons}
        self.picked: list[str] = []  # names, in the order chosen
        self.again = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Reject: {self.task_summary['title']}", classes="dialog-title")
            keep = Tick("k  keep the image files on disk", False, id="keep")
            keep.can_focus = False  # k toggles it; Enter stays "reject"
            yield keep
            if self.reasons:
                yield Static(id="reasons")
            again = Tick("a  a new round with the same prompt", False, id="again")
            again.can_focus = False
            yield again
            yield Static(Text(f"prompt now: {self.task_summary['prompt']}", style="dim"))
            yield Input(placeholder="p: a new prompt for a new round (optional)", id="prompt")
            yield Static(id="change")
            with Horizontal(classes="buttons"):
                yield Button("Reject", variant="error", id="reject")
                yield Button("Back", id="back")
            yield Label(self._hint(), classes="hint")

    def _hint(self) -> str:
        keys = "a reason's key, k, a" if self.reasons else "k, a"
        return f"{keys}, p: prompt    Enter: reject    Esc: back"

    def on_mount(self) -> None:
        self._show()

    def on_key(self, event: events.Key) -> None:
        """The dialog's letters, while the prompt field does not have them."""
        if isinstance(self.focused, Input) or event.character is None:
            return
        key = event.character
        if key in self.by_key:
            name = self.by_key[key]["name"]
            self.picked.remove(name) if name in self.picked else self.picked.append(name)
        elif key == "k":
            self.query_one("#keep", Checkbox).toggle()
        elif key == "a":
            self.again = not self.again
            self.query_one("#again", Checkbox).value = self.again
        elif key == "p":
            self.query_one("#prompt", Input).focus()
        else:
            return
        event.stop()
        event.prevent_default()
        self._show()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "again":  # a click, as well as a
            self.again = event.value
            self._show()

    def on_input_changed(self, _event: Input.Changed) -> None:
        self._show()

    def _new_prompt(self) -> str | None:
        return self.query_one("#prompt", Input).value.strip() or None

    def _show(self) -> None:
        """The reasons ticked, what the new round renders with, what Enter will do."""
        if self.reasons:
            self.query_one("#reasons", Static).update(reason_lines(self.reasons, self.picked))
        prompt = self._new_prompt()
        new_round = prompt is not None or self.again
        self.query_one("#change", Static).update(self._change(prompt, new_round))
        button = self.query_one("#reject", Button)
        button.label = "Reject and regenerate" if new_round else "Reject"
        button.refresh(layout=True)  # a new label keeps the old width otherwise, and wraps

    def _change(self, prompt: str | None, new_round: bool) -> Text:
        if not new_round:
            return Text("No new round: the files are deleted unless kept.", style="dim")
        task = self.task_summary
        by_name = {reason["name"]: reason for reason in self.reasons}
        after = apply_additions(
            by_name, self.picked, prompt or task["prompt"], task["negative_prompt"]
        )
        text = Text("The new round renders with:\n", style="bold")
        text.append_text(_with_added("prompt", after.prompt, after.additions.prompt))
        text.append("\n")
        negative = after.negative_prompt or "(none)"
        text.append_text(_with_added("negative", negative, after.additions.negative_prompt))
        return text

    def action_choose(self) -> None:
        self._choose()

    def _choose(self) -> None:
        keep = self.query_one("#keep", Checkbox).value
        prompt = self._new_prompt()
        again = self.again and prompt is None  # a new prompt wins over the same one
        choice = RejectChoice(keep, prompt, again=again, reasons=tuple(self.picked))
        self.dismiss(choice)


def reason_lines(reasons: Sequence[RejectReasonJSON], picked: Sequence[str]) -> Text:
    """One line a reason: its key, ticked or not, its label and the words it adds."""
    text = Text()
    for number, reason in enumerate(reasons):
        if number:
            text.append("\n")
        on = reason["name"] in picked
        text.append(f"{reason['key']}  [{'✓' if on else ' '}] ", style="bold" if on else "")
        text.append(reason["label"], style="bold" if on else "")
        adds = [f"+{reason['prompt_add']}"] if reason["prompt_add"] else []
        adds += [f"−{reason['negative_add']}"] if reason["negative_add"] else []
        if adds:
            text.append(f"  {'  '.join(adds)}", style="dim")
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def _with_added(name: str, whole: str, added: str) -> Text:
    """`name: whole`, the words the reasons added in bold (they end `whole`)."""
    text = Text(f"  {name}: ")
    if added and whole.endswith(added):
        text.append(whole[: -len(added)])
        text.append(added, style="bold green")
    else:
        text.append(whole)
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


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
