"""Field-by-field validation of a parsed task file, collecting every problem.

Split from taskfile.py, which owns reading files and the task types; this
module only judges values and words the problems for the person fixing them.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from gladtui.config.presets import lora_name_problem, lora_weight_problem, missing_lora_problem
from gladtui.promptsyntax import PromptSyntaxError, parse_prompt
from gladtui.samplers import canonical_sampler, sampler_problem
from gladtui.taskid import derive_task_id, task_id_problem

FIELDS = (
    "id", "title", "prompt", "negative_prompt", "variations", "steps",
    "guidance_scale", "width", "height", "seed", "content", "scheduler", "sampler", "loras",
    "preset", "alt", "caption", "focus",
)  # fmt: skip
# `sampler` (the docs' word, and A1111's `Sampler:`) is another name for `scheduler`.
SAMPLER_NAMES = ("sampler", "scheduler")

# Prompts and content may span lines; titles and ids end up on one line in the
# TUI, in file names and in logs, where line and paragraph separators and bidi
# overrides (which can make a title display as something else) do harm.
_BAD_IN_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
MISSING = object()


def one_line(text: str, limit: int = 300) -> str:
    """Escape what would break a one-line message (user text ends up in problems)."""
    out = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "null"),
    (bool, "a true/false value"),  # before int: bool is an int subclass
    ((int, float), "a number"),
    (str, "text"),
    (bytes, "binary data (!!binary)"),
    (date, "a date"),  # !!timestamp; datetime is a date subclass
    (dict, "a mapping"),
    (list, "a list"),
    ((set, frozenset), "a set"),
)


def kind(value: object) -> str:
    return next((name for kinds, name in _KINDS if isinstance(value, kinds)), type(value).__name__)


def show(value: object) -> str:
    """The value as the user wrote it, short; never fails on huge integers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # int -> str refuses more than 4300 digits; such a number needs no digits shown.
        return str(value) if value.bit_length() <= 64 else "a number too large to show"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return "text " + one_line(repr(value), 60)
    return kind(value)


def _is_blank(text: str) -> bool:
    """Nothing visible: only whitespace and format characters (Unicode category Cf).

    Format characters (zero-width spaces, joiners, U+FEFF, soft hyphens, tag
    characters) draw nothing: a title made of them alone is an invisible post.
    """
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in text)


def _blank_problem(text: str) -> str:
    invisible = next((ch for ch in text if unicodedata.category(ch) == "Cf"), None)
    if invisible is None:
        return "must not be blank"
    named = f"U+{ord(invisible):04X} {unicodedata.name(invisible, '')}".rstrip()
    return (
        f"must not be blank: it holds only invisible characters ({named} and the like draw nothing)"
    )


def _fraction(value: object) -> float | None:
    """A number from 0 to 1, written as a number or as text ("0.25")."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and 0.0 <= number <= 1.0 else None


def _excerpt(text: str, position: int, width: int = 24) -> str:
    """The text around a 1-based character position, the position marked with ⟨⟩."""
    at = position - 1
    before = text[max(0, at - width) : at]
    after = text[at + 1 : at + 1 + width]
    return one_line(f"…{before}⟨{text[at : at + 1]}⟩{after}…", 3 * width)


class FieldChecker:
    """Validates fields one by one, collecting problems instead of stopping at the first."""

    def __init__(self, doc: dict[object, object]) -> None:
        self.doc = doc
        self.problems: list[str] = []

    def add(self, name: str, problem: str) -> None:
        self.problems.append(f"{name}: {problem}")

    def text(self, name: str, *, max_chars: int, required: bool, line: bool) -> str | None:
        raw = self.doc.get(name, MISSING)
        if raw is MISSING or (raw is None and required):
            if required:
                self.add(name, "required" if raw is MISSING else "required, but the value is empty")
            return None
        if not isinstance(raw, str):
            hint = " — put it in quotes" if isinstance(raw, int | float) else ""
            if raw is None:
                hint = " — leave the line out if there is none"
            self.add(name, f"expected text, got {kind(raw)}{hint}")
            return None
        if len(raw) > max_chars:
            self.add(name, f"must be at most {max_chars:,} characters, got {len(raw):,}")
            return None
        bad = (_BAD_IN_LINE if line else _BAD_IN_MULTILINE).search(raw)
        if bad:
            self.add(name, f"contains control character U+{ord(bad.group()):04X} at {bad.start()}")
            return None
        if required and _is_blank(raw):
            self.add(name, _blank_problem(raw))
            return None
        # Content is markdown, where leading whitespace means something; the rest
        # are single values where stray spaces only make duplicates look different.
        return raw if name == "content" else raw.strip()

    def words(self, name: str, *, max_chars: int) -> str:
        """Optional one-line text (alt, caption): given, it must show something."""
        raw = self.doc.get(name, MISSING)
        text = self.text(name, max_chars=max_chars, required=False, line=True)
        if text is None or raw is MISSING or raw is None:
            return ""
        if _is_blank(text):
            self.add(name, f"{_blank_problem(text)}; leave the line out if there is none")
            return ""
        return text

    def focus(self, name: str) -> tuple[float, float] | None:
        """`focus: 0.3,0.6` (or `[0.3, 0.6]`): a point as fractions of width and height."""
        raw = self.doc.get(name, MISSING)
        if raw is MISSING or raw is None:
            return None
        parts = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(parts, list) or len(parts) != 2:
            self.add(name, f"expected two fractions x,y (e.g. 0.5,0.3), got {show(raw)}")
            return None
        x, y = _fraction(parts[0]), _fraction(parts[1])
        if x is None or y is None:
            self.add(
                name,
                "x and y must be numbers from 0 to 1 (fractions of the width and the height; "
                f"0,0 is the top left corner), got {show(raw)}",
            )
            return None
        return (x, y)

    def prompt(self, name: str, *, max_chars: int, required: bool) -> str | None:
        """Prompt text whose weighting syntax parses (gladtui/promptsyntax.py)."""
        text = self.text(name, max_chars=max_chars, required=required, line=False)
        if text is None:
            return None
        try:
            parse_prompt(text)
        except PromptSyntaxError as exc:
            self.add(name, f"{exc}: {_excerpt(text, exc.position)}")
            return None
        return text

    def sampler_field(self) -> str:
        """Which of the two names of the sampler the file uses (`scheduler` if neither);
        both at once is a problem, whatever their values."""
        given = [name for name in SAMPLER_NAMES if name in self.doc]
        if len(given) > 1:
            self.problems.append(
                "sampler and scheduler are two names of one setting: keep one of them"
            )
        return given[0] if given else "scheduler"

    def sampler(self, name: str, default: str | None) -> str | None:
        raw = self.doc.get(name, MISSING)
        if raw is MISSING or raw is None:
            return default
        if not isinstance(raw, str):
            self.add(name, f"expected a sampler name, got {show(raw)}")
            return None
        canonical = canonical_sampler(raw)
        if canonical is None:
            self.add(name, str(sampler_problem(raw)))
        return canonical

    def loras(self, name: str) -> dict[str, float]:
        """`loras: {brand-style: 0.8}`: LoRA names with their weights."""
        raw = self.doc.get(name, MISSING)
        if raw is MISSING or raw is None:
            return {}
        if not isinstance(raw, dict):
            self.add(name, f"expected a mapping of LoRA names to weights, got {kind(raw)}")
            return {}
        found: dict[str, float] = {}
        for key, weight in raw.items():
            problem = lora_name_problem(key) or lora_weight_problem(weight)
            if problem:
                self.add(name, problem)
            else:
                found[str(key)] = float(weight)
        return found

    def loras_exist(self, name: str, loras: Mapping[str, float], lora_dir: Path | None) -> None:
        for lora in loras:
            problem = missing_lora_problem(lora_dir, lora)
            if problem:
                self.add(name, problem)

    def preset(self, name: str, presets: Mapping[str, object]) -> str | None:
        raw = self.doc.get(name, MISSING)
        if raw is MISSING or raw is None:
            return None
        if isinstance(raw, str) and raw in presets:
            return raw
        known = ", ".join(sorted(presets)) or "none (add them under generation.presets)"
        self.add(name, f"unknown preset {show(raw)}; the config has: {known}")
        return None

    def number(
        self, name: str, default: int | None, low: int, high: int, step: int = 1
    ) -> int | None:
        """A whole number in low..high; null only where the default is None (seed)."""
        raw = self.doc.get(name, MISSING)
        if raw is MISSING or (raw is None and default is None):
            return default
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.add(name, f"expected a whole number, got {show(raw)}{self._hint(raw, default)}")
            return None
        if not low <= raw <= high:
            self.add(name, f"must be between {low} and {high}, got {show(raw)}")
            return None
        if raw % step:
            self.add(name, f"must be a multiple of {step}, got {raw}")
            return None
        return raw

    def scale(self, name: str, default: float, high: float) -> float | None:
        raw = self.doc.get(name, MISSING)
        if raw is MISSING:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            self.add(name, f"expected a number, got {show(raw)}{self._hint(raw, default)}")
            return None
        if isinstance(raw, float) and not math.isfinite(raw):
            self.add(name, f"must be a finite number, got {show(raw)}")
            return None
        if not 0 <= raw <= high:  # compared before float(): a huge int would overflow
            self.add(name, f"must be between 0 and {high}, got {show(raw)}")
            return None
        return float(raw)

    def task_id(self, file_name: str, data: bytes) -> tuple[str | None, bool]:
        raw = self.doc.get("id", MISSING)
        if raw is MISSING:
            return derive_task_id(file_name, data), True
        if not isinstance(raw, str):
            hint = " — put it in quotes" if isinstance(raw, int | float) else ""
            if raw is None:
                hint = " — leave the line out to derive it from the file name"
            self.add("id", f"expected text, got {kind(raw)}{hint}")
            return None, False
        problem = task_id_problem(raw)
        if problem is not None:
            self.add("id", f"{problem}, got {show(raw)}")
            return None, False
        return raw, False

    @staticmethod
    def _hint(raw: object, default: float | None) -> str:
        if raw is None:
            return f" — leave the line out to use the default ({default})"
        if isinstance(raw, str) and re.fullmatch(r"\s*[-+]?[0-9.]+\s*", raw):
            return " — remove the quotes"
        return ""

    def unknown_keys(self) -> None:
        for key in self.doc:
            if key in FIELDS:
                continue
            if isinstance(key, str):
                close = difflib.get_close_matches(key.lower(), FIELDS, n=1) if len(key) < 40 else []
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.problems.append(f"unknown field {one_line(repr(key), 60)}{hint}")
            else:
                self.problems.append(f"unknown field {show(key)} (field names are text)")
