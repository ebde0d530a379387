"""The prompt weighting syntax users paste from AUTOMATIC1111, read into weighted fragments.

    (word)        weight x 1.1 (nested: x 1.21, …)
    [word]        weight / 1.1
    (word:1.3)    weight x 1.3
    \\( \\) \\[ \\] \\\\   a literal bracket or backslash
    BREAK         start a new 75-token chunk

Pure Python on purpose: `gladtui check` and `gladtui submit` validate prompts
with it, and must not import torch or compel to do so. The daemon hands the
fragments to compel, which encodes them (daemon/generation/prompts.py).

A1111 itself reads any text without complaint (an unclosed bracket silently
weights the rest of the prompt). Here a bracket that does not close, a weight
that is not a number, and the A1111 features this project does not run
(prompt editing `[a:b:0.5]`, alternation `[a|b]`, `<lora:…>` tags) are
refused with the character where the problem is, so nothing is misread.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["Fragment", "ParsedPrompt", "PromptSyntaxError", "parse_prompt"]

UP = 1.1  # A1111's factor for ( ) and, inverted, [ ]
_ESCAPABLE = "()[]\\"
# `:1.3)` closing a group: A1111's own pattern for an explicit weight.
_WEIGHT = re.compile(r":\s*([+-]?[.\d]+)\s*\)")
# `:` then something that starts like a number but is not one, up to `)`: a typo.
# One word only: `(16:9 ratio)` is words, as in A1111; `(cat:1,5)` is a typo.
_BAD_WEIGHT = re.compile(r":\s*([+-]?[.\d][^\s()\[\]]*|)\s*\)")
_BREAK = re.compile(r"\s*\bBREAK\b\s*")
_EXTRA_NETWORK = re.compile(r"<(lora|lyco|hypernet):", re.IGNORECASE)


class PromptSyntaxError(ValueError):
    """Malformed weighting syntax; `position` is the 1-based character it was found at."""

    def __init__(self, position: int, problem: str) -> None:
        self.position = position
        self.problem = problem
        super().__init__(f"character {position}: {problem}")


@dataclass(frozen=True, slots=True)
class Fragment:
    text: str
    weight: float


@dataclass(frozen=True, slots=True)
class ParsedPrompt:
    """A prompt as weighted fragments, in chunks that BREAK separates (usually one)."""

    chunks: tuple[tuple[Fragment, ...], ...]

    @property
    def plain_text(self) -> str:
        """The words without the syntax (what the pooled embedding reads)."""
        return " ".join("".join(f.text for f in chunk) for chunk in self.chunks)

    @property
    def is_weighted(self) -> bool:
        return any(f.weight != 1.0 for chunk in self.chunks for f in chunk)


@dataclass
class _Piece:
    text: str | None  # None: a BREAK
    weight: float = 1.0


@dataclass
class _Group:
    opener: str  # "(" or "["
    position: int  # 0-based, for messages
    start: int  # index in the fragment list where the group's text starts


def parse_prompt(text: str) -> ParsedPrompt:
    """Fragments with their weights; adjacent fragments of equal weight are merged.

    Raises PromptSyntaxError naming the character where the problem is.
    """
    extra = _EXTRA_NETWORK.search(text)
    if extra:
        raise PromptSyntaxError(
            extra.start() + 1,
            f"<{extra.group(1)}:…> tags are not read from the prompt; name LoRAs in the "
            "task's loras: field (loras: {name: 0.8})",
        )
    pieces: list[_Piece] = []
    stack: list[_Group] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPABLE:
            _add_text(pieces, text[i + 1])
            i += 2
        elif char in "([":
            stack.append(_Group(char, i, len(pieces)))
            i += 1
        elif char == ")":
            i = _close(stack, pieces, i, ")", UP)
        elif char == "]":
            i = _close(stack, pieces, i, "]", 1 / UP)
        elif char == ":" and stack:
            i = _colon(text, stack, pieces, i)
        elif char == "|" and any(group.opener == "[" for group in stack):
            raise PromptSyntaxError(i + 1, "alternation [a|b] is not supported")
        else:
            end = _plain_end(text, i, inside=bool(stack))
            _add_text(pieces, text[i:end])
            i = end
    if stack:
        group = stack[-1]
        closer = ")" if group.opener == "(" else "]"
        raise PromptSyntaxError(
            group.position + 1, f"'{group.opener}' is never closed by '{closer}'"
        )
    return _chunks(pieces)


def _plain_end(text: str, start: int, *, inside: bool) -> int:
    specials = "\\()[]" + (":|" if inside else "")
    end = start + 1
    while end < len(text) and text[end] not in specials:
        end += 1
    return end


def _add_text(pieces: list[_Piece], text: str) -> None:
    parts = _BREAK.split(text)
    for number, part in enumerate(parts):
        if number:
            pieces.append(_Piece(None))
        if part:
            pieces.append(_Piece(part))


def _close(stack: list[_Group], pieces: list[_Piece], i: int, closer: str, factor: float) -> int:
    opener = "(" if closer == ")" else "["
    if not stack:
        raise PromptSyntaxError(
            i + 1, f"'{closer}' has no '{opener}' before it (write \\{closer} for the character)"
        )
    group = stack.pop()
    if group.opener != opener:
        raise PromptSyntaxError(
            i + 1,
            f"'{closer}' closes the '{group.opener}' opened at character {group.position + 1}",
        )
    _scale(pieces, group.start, factor)
    return i + 1


def _colon(text: str, stack: list[_Group], pieces: list[_Piece], i: int) -> int:
    group = stack[-1]
    if group.opener == "[":
        raise PromptSyntaxError(i + 1, "prompt editing [from:to:when] is not supported")
    weight = _WEIGHT.match(text, i)
    if weight is not None:
        value = _number(weight.group(1), i)
        stack.pop()
        _scale(pieces, group.start, value)
        return weight.end()
    bad = _BAD_WEIGHT.match(text, i)
    if bad is not None:
        shown = bad.group(1).strip()
        problem = (
            f"weight {shown!r} is not a number" if shown else "':' is not followed by a weight"
        )
        raise PromptSyntaxError(i + 1, problem)
    _add_text(pieces, ":")  # `(photo: sunset)`: a colon in the words, as in A1111
    return i + 1


def _number(raw: str, i: int) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise PromptSyntaxError(i + 1, f"weight {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise PromptSyntaxError(i + 1, f"weight {raw!r} must be 0 or more")
    return value


def _scale(pieces: list[_Piece], start: int, factor: float) -> None:
    for piece in pieces[start:]:
        piece.weight *= factor


def _chunks(pieces: list[_Piece]) -> ParsedPrompt:
    chunks: list[tuple[Fragment, ...]] = []
    current: list[Fragment] = []
    for piece in pieces:
        if piece.text is None:
            chunks.append(tuple(current))
            current = []
            continue
        text, weight = (
            piece.text,
            round(piece.weight, 6),
        )  # 1.1 * (1 / 1.1) is 1, not 0.9999999999999999
        if current and current[-1].weight == weight:
            current[-1] = Fragment(current[-1].text + text, weight)
        else:
            current.append(Fragment(text, weight))
    chunks.append(tuple(current))
    return ParsedPrompt(tuple(chunks))
