"""Request bodies of the API, checked like task files: every problem by field name.

A body is a JSON object; unknown keys are refused (with a did-you-mean), so
a client's typo (`keep_file`) is an error instead of silently doing the
default. The same FieldChecker as task files words the problems.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection
from dataclasses import dataclass

from daemon.outcomes import InvalidRequest
from gladtui.config import LimitsConfig
from gladtui.shapes import GenerateRequest
from gladtui.taskcheck import FieldChecker, kind, one_line
from gladtui.taskfile import MAX_PROMPT_CHARS


@dataclass(frozen=True, slots=True)
class RejectRequest:
    prompt: str | None
    keep_files: bool


def parse_object(body: bytes, allowed: Collection[str]) -> dict[object, object]:
    """The body as a JSON object with only `allowed` keys; an empty body is `{}`."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
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


def _finish(checker: FieldChecker) -> None:
    if checker.problems:
        raise InvalidRequest("; ".join(checker.problems))


def _optional_prompt(checker: FieldChecker, name: str) -> str | None:
    if checker.doc.get(name) is None:
        return None
    return checker.prompt(name, max_chars=MAX_PROMPT_CHARS, required=True)


def approve_request(body: bytes) -> int:
    """The variation index to approve."""
    checker = FieldChecker(parse_object(body, {"variation"}))
    if checker.doc.get("variation") is None:
        checker.add("variation", "required: the index of the variation to approve")
        _finish(checker)
    index = checker.number("variation", None, 1, 1_000_000)
    _finish(checker)
    assert index is not None
    return index


def reject_request(body: bytes) -> RejectRequest:
    checker = FieldChecker(parse_object(body, {"prompt", "keep_files"}))
    prompt = _optional_prompt(checker, "prompt")
    keep = checker.doc.get("keep_files", False)
    if not isinstance(keep, bool):
        checker.add("keep_files", f"expected true or false, got {kind(keep)}")
    _finish(checker)
    return RejectRequest(prompt=prompt, keep_files=bool(keep))


def generate_request(body: bytes, limits: LimitsConfig) -> GenerateRequest:
    fields = {"count", "prompt", "steps", "preset", "from_variation"}
    checker = FieldChecker(parse_object(body, fields))
    preset = checker.doc.get("preset")
    if preset is not None and not isinstance(preset, str):
        checker.add("preset", f"expected a preset name, got {kind(preset)}")
    request = GenerateRequest(
        count=checker.number("count", None, 1, limits.max_variations),
        prompt=_optional_prompt(checker, "prompt"),
        steps=checker.number("steps", None, 1, limits.max_steps),
        preset=preset if isinstance(preset, str) else None,
        from_variation=checker.number("from_variation", None, 1, 1_000_000),
    )
    _finish(checker)
    return request


def media_request(body: bytes, limits: LimitsConfig) -> tuple[str, GenerateRequest]:
    """The original system's `POST /api/media/generate-image-variations` body."""
    fields = {"task_id", "prompt", "num_variations", "num_inference_steps"}
    checker = FieldChecker(parse_object(body, fields))
    task_id = checker.text("task_id", max_chars=200, required=True, line=True)
    request = GenerateRequest(
        count=checker.number("num_variations", None, 1, limits.max_variations),
        prompt=_optional_prompt(checker, "prompt"),
        steps=checker.number("num_inference_steps", None, 1, limits.max_steps),
    )
    _finish(checker)
    assert task_id is not None
    return task_id, request
