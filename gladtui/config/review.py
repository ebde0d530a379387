"""review: the reasons a reviewer can give for a rejection, and what each changes.

A reason names what was wrong (bad hands, garbled text) and may add words to the
next round's prompt or negative prompt, so a reviewer who asks for a new round
(`--again`, or a new prompt) need not retype the fix. The reasons are chosen by
name over the API and the CLI, and by one key in the TUI's reject dialog: a
reason's key must be one lower-case letter or digit that the dialog does not
use itself (DIALOG_KEYS).

The additions are applied here, once, for the daemon (the round it queues) and
the TUI (the change shown before confirming) alike: `apply_additions`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import Field, field_validator

from gladtui.config.fields import Section

# The reject dialog's own keys: a (the same prompt again), k (keep the files),
# p (to the prompt field). Enter, Esc and Tab are not letters.
DIALOG_KEYS = {"a": "again", "k": "keep the files", "p": "the prompt field"}
_KEY = re.compile(r"[a-z0-9]")
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
HANDS = "deformed hands, extra fingers"
TEXT = "text, letters, watermark"


class RejectReason(Section):
    """One reason (`review.reject_reasons.NAME`)."""

    key: str
    """the one key that picks it in the TUI's reject dialog"""
    label: str = Field(min_length=1, max_length=60)
    """what the dialog and the figures call it"""
    prompt_add: str = Field("", max_length=500)
    """words added to the next round's prompt"""
    negative_add: str = Field("", max_length=500)
    """words added to the next round's negative prompt"""

    @field_validator("key")
    @classmethod
    def _one_free_key(cls, key: str) -> str:
        if not _KEY.fullmatch(key):
            raise ValueError(f"key {key!r} must be one lower-case letter or digit")
        if key in DIALOG_KEYS:
            raise ValueError(
                f"key {key!r} is the reject dialog's own ({DIALOG_KEYS[key]}); choose another"
            )
        return key


def _default_reasons() -> dict[str, RejectReason]:
    return {
        "hands": RejectReason(key="h", label="bad hands", negative_add=HANDS),
        "text": RejectReason(key="t", label="garbled text", negative_add=TEXT),
        "topic": RejectReason(key="o", label="off topic"),
        "dark": RejectReason(key="d", label="too dark", prompt_add="bright, well lit"),
        "blurry": RejectReason(key="b", label="blurry", negative_add="blurry, out of focus"),
    }


class ReviewConfig(Section):
    """How reviewers decide."""

    reject_reasons: dict[str, RejectReason] = Field(default_factory=_default_reasons)
    """the reasons a rejection can give (`gladtui reject TASK --reason hands`, a key in the TUI's
    reject dialog), each with its `key`, `label`, and what it adds to the next round's prompt
    (`prompt_add`) or negative prompt (`negative_add`) when one is asked for. A name is a
    lower-case word; a key one lower-case letter or digit, not `a`, `k` or `p` (the dialog's
    own). Setting it replaces the whole list; `{}`: no reasons
    """

    @field_validator("reject_reasons")
    @classmethod
    def _names_and_keys_unique(cls, reasons: dict[str, RejectReason]) -> dict[str, RejectReason]:
        seen: dict[str, str] = {}
        for name, reason in reasons.items():
            if not _NAME.fullmatch(name):
                raise ValueError(
                    f"reason name {name!r}: use a lower-case word (letters, digits, - and _)"
                )
            if reason.key in seen:
                raise ValueError(
                    f"reasons {seen[reason.key]!r} and {name!r} both use the key {reason.key!r}"
                )
            seen[reason.key] = name
        return reasons

    def chosen(self, names: Iterable[str]) -> list[str]:
        """`names` in the order given, once each; ValueError naming the unknown ones."""
        unique = list(dict.fromkeys(names))
        unknown = [name for name in unique if name not in self.reject_reasons]
        if unknown:
            known = ", ".join(self.reject_reasons) or "none (add them under review.reject_reasons)"
            raise ValueError(f"unknown reason(s) {', '.join(unknown)}; the config has: {known}")
        return unique


@dataclass(frozen=True, slots=True)
class Additions:
    """What a rejection's reasons added to the next round: the words actually added."""

    reasons: tuple[str, ...]
    prompt: str  # added to the prompt ("" none)
    negative_prompt: str  # added to the negative prompt

    def as_json(self) -> dict[str, object]:
        return {
            "reasons": list(self.reasons),
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
        }


@dataclass(frozen=True, slots=True)
class NextRound:
    """The prompts a new round renders with, and what the reasons added to them."""

    prompt: str
    negative_prompt: str
    additions: Additions


def apply_additions(
    reasons: Mapping[str, RejectReason] | Mapping[str, Mapping[str, object]],
    names: Sequence[str],
    prompt: str,
    negative_prompt: str,
) -> NextRound:
    """`prompt` and `negative_prompt` with the named reasons' additions appended, comma
    separated; words already there (case aside) are not added twice, so rejecting for the
    same reason round after round does not grow the prompt."""
    prompt_adds, negative_adds = [], []
    for name in names:
        reason = reasons[name]
        prompt_adds.append(_field(reason, "prompt_add"))
        negative_adds.append(_field(reason, "negative_add"))
    new_prompt, added = _appended(prompt, prompt_adds)
    new_negative, negative_added = _appended(negative_prompt, negative_adds)
    return NextRound(new_prompt, new_negative, Additions(tuple(names), added, negative_added))


def _field(reason: RejectReason | Mapping[str, object], name: str) -> str:
    if isinstance(reason, RejectReason):
        return str(getattr(reason, name))
    return str(reason.get(name, ""))


def _appended(text: str, additions: Iterable[str]) -> tuple[str, str]:
    """(text with each addition not already in it, what was added)."""
    added: list[str] = []
    for addition in additions:
        addition = addition.strip().strip(",").strip()
        have = ", ".join([text, *added]).casefold()
        if addition and addition.casefold() not in have:
            added.append(addition)
    if not added:
        return text, ""
    joined = ", ".join(added)
    base = text.rstrip().rstrip(",").rstrip()
    return (f"{base}, {joined}" if base else joined), joined
