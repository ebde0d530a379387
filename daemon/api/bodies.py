"""Request bodies of the API, checked like task files: every problem by field name.

A body is a JSON object; unknown keys are refused (with a did-you-mean), so
a client's typo (`keep_file`) is an error instead of silently doing the
default. The same FieldChecker as task files words the problems.

Each body's fields are declared once, as a TypedDict below: the parser takes
exactly its keys, and the API's OpenAPI description (daemon/api/openapi.py) is
made from it. Bounds that depend on the config (`limits.max_variations`,
`limits.max_steps`) are the parser's; GET /api/status reports them.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection
from typing import Annotated, NotRequired

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict  # pydantic takes only this one on Python 3.11

from daemon.api.params import MAX_INDEX
from daemon.review.outcomes import InvalidRequest
from gladtui.config import LimitsConfig
from gladtui.shapes import GenerateRequest, RejectRequest
from gladtui.taskcheck import FieldChecker, kind, one_line
from gladtui.taskfile import MAX_PROMPT_CHARS

_CLOSED = ConfigDict(extra="forbid")  # described with additionalProperties: false
Prompt = Annotated[str | None, Field(max_length=MAX_PROMPT_CHARS)]  # null: the task's own
Count = Annotated[int | None, Field(ge=1)]  # null: as the task says
MAX_REASONS = 32  # review.reject_reasons names in one rejection


@with_config(_CLOSED)
class ApproveBody(TypedDict):
    """Approve one variation: it is published after publishing.grace_seconds."""

    variation: Annotated[int, Field(ge=1, le=MAX_INDEX)]


@with_config(_CLOSED)
class RejectBody(TypedDict):
    """Reject: the files are deleted unless keep_files; with a prompt (or again: the same
    one), a new round follows, with what the reasons add."""

    prompt: NotRequired[Prompt]
    again: NotRequired[bool]  # a new round with the task's prompt (not with `prompt`)
    reasons: NotRequired[Annotated[list[str], Field(max_length=MAX_REASONS)]]
    keep_files: NotRequired[bool]


@with_config(_CLOSED)
class GenerateBody(TypedDict):
    """More variations; each field left out or null is as the task says."""

    count: NotRequired[Count]  # at most limits.max_variations
    prompt: NotRequired[Prompt]
    steps: NotRequired[Count]  # at most limits.max_steps
    preset: NotRequired[str | None]  # a generation.presets name
    from_variation: NotRequired[Annotated[int | None, Field(ge=1, le=MAX_INDEX)]]


@with_config(_CLOSED)
class MediaBody(TypedDict):
    """The original system's request for more variations of a task."""

    task_id: Annotated[str, Field(min_length=1, max_length=200)]
    prompt: NotRequired[Prompt]
    num_variations: NotRequired[Count]  # at most limits.max_variations
    num_inference_steps: NotRequired[Count]  # at most limits.max_steps


@with_config(_CLOSED)
class EmptyBody(TypedDict):
    """No fields: the body may be empty, or `{}`."""


def fields_of(body: type) -> frozenset[str]:
    """The keys a body TypedDict declares: exactly those its parser takes."""
    keys: frozenset[str] = body.__required_keys__ | body.__optional_keys__  # type: ignore[attr-defined]
    return keys


def _number(text: str) -> int | float:
    """A JSON number with a fraction part or exponent: `2.0` and `1e3` are whole numbers
    as JSON Schema counts them ("integer"), so a client that writes them is understood."""
    value = float(text)
    return int(value) if value.is_integer() else value


def parse_object(body: bytes, allowed: Collection[str]) -> dict[object, object]:
    """The body as a JSON object with only `allowed` keys; an empty body is `{}`."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body, parse_float=_number)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:  # `[[[[…` a few thousand deep: json recurses per level
        raise InvalidRequest("the request body is nested too deeply") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"the request body must be a JSON object, got {kind(value)}")
    problems = []
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(sorted(allowed)) or "none"
            # The key is echoed escaped and short: a lone surrogate cannot be encoded
            # in the JSON answer, and a megabyte-long key need not come back whole.
            problems.append(f"{one_line(str(key), 60)}: unknown field{hint}; known fields: {known}")
    if problems:
        raise InvalidRequest("; ".join(problems))
    return value


def empty_request(body: bytes) -> None:
    """Cancel and undo take no fields."""
    parse_object(body, fields_of(EmptyBody))


def _finish(checker: FieldChecker) -> None:
    if checker.problems:
        raise InvalidRequest("; ".join(checker.problems))


def _optional_prompt(checker: FieldChecker, name: str) -> str | None:
    if checker.doc.get(name) is None:
        return None
    return checker.prompt(name, max_chars=MAX_PROMPT_CHARS, required=True)


def approve_request(body: bytes) -> int:
    """The variation index to approve."""
    checker = FieldChecker(parse_object(body, fields_of(ApproveBody)))
    if checker.doc.get("variation") is None:
        checker.add("variation", "required: the index of the variation to approve")
        _finish(checker)
    index = checker.number("variation", None, 1, MAX_INDEX)
    _finish(checker)
    assert index is not None
    return index


def reject_request(body: bytes) -> RejectRequest:
    """The shape only: the reasons' names are checked against the config by the decision."""
    checker = FieldChecker(parse_object(body, fields_of(RejectBody)))
    prompt = _optional_prompt(checker, "prompt")
    keep, again = _flag(checker, "keep_files"), _flag(checker, "again")
    reasons = checker.doc.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        checker.add("reasons", f"expected a list of reason names, got {kind(reasons)}")
        reasons = []
    elif len(reasons) > MAX_REASONS:
        checker.add("reasons", f"at most {MAX_REASONS} reasons")
    if again and prompt is not None:
        checker.add("again", "a new round has either a new prompt or the same one again: not both")
    _finish(checker)
    return RejectRequest(prompt=prompt, again=again, reasons=tuple(reasons), keep_files=keep)


def _flag(checker: FieldChecker, name: str) -> bool:
    value = checker.doc.get(name, False)
    if not isinstance(value, bool):
        checker.add(name, f"expected true or false, got {kind(value)}")
        return False
    return value


def generate_request(body: bytes, limits: LimitsConfig) -> GenerateRequest:
    checker = FieldChecker(parse_object(body, fields_of(GenerateBody)))
    preset = checker.doc.get("preset")
    if preset is not None and not isinstance(preset, str):
        checker.add("preset", f"expected a preset name, got {kind(preset)}")
    request = GenerateRequest(
        count=checker.number("count", None, 1, limits.max_variations),
        prompt=_optional_prompt(checker, "prompt"),
        steps=checker.number("steps", None, 1, limits.max_steps),
        preset=preset if isinstance(preset, str) else None,
        from_variation=checker.number("from_variation", None, 1, MAX_INDEX),
    )
    _finish(checker)
    return request


def media_request(body: bytes, limits: LimitsConfig) -> tuple[str, GenerateRequest]:
    """The original system's `POST /api/media/generate-image-variations` body."""
    checker = FieldChecker(parse_object(body, fields_of(MediaBody)))
    task_id = checker.text("task_id", max_chars=200, required=True, line=True)
    request = GenerateRequest(
        count=checker.number("num_variations", None, 1, limits.max_variations),
        prompt=_optional_prompt(checker, "prompt"),
        steps=checker.number("num_inference_steps", None, 1, limits.max_steps),
    )
    _finish(checker)
    assert task_id is not None
    return task_id, request
