"""Task ids: what an explicit `id:` may be, and how one is made from a file name.

A task id ends up inside file names (`sdxl-{task_id}-variation-1-….png`), URLs
and log lines, so it is restricted to a set that is safe in all three. An id a
person typed is never rewritten: if it is unsafe it is refused, because a quiet
rewrite could merge two tasks or hide a traversal attempt. An id derived from a
file name, on the other hand, is ours to shape, so there we normalise.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_TASK_ID_LENGTH = 64

_SAFE_CHARS = re.compile(r"[A-Za-z0-9._-]+")
_UNSAFE_RUN = re.compile(r"[^a-z0-9._-]+")
_YAML_SUFFIX = re.compile(r"\.ya?ml$", re.IGNORECASE)
# A derived id shorter than this at its last dash is cut mid-word instead, so a
# long first word does not shrink the id to almost nothing.
_MIN_CUT = MAX_TASK_ID_LENGTH // 2


def task_id_problem(text: str) -> str | None:
    """Why `text` is not a safe task id, or None when it is one."""
    if not text:
        return "must not be empty"
    if len(text) > MAX_TASK_ID_LENGTH:
        return f"must be at most {MAX_TASK_ID_LENGTH} characters long ({len(text)} given)"
    if not _SAFE_CHARS.fullmatch(text):
        return "may contain only ASCII letters, digits, '.', '_' and '-'"
    if text[0] in ".-":
        return "must not start with '.' or '-'"
    if ".." in text:
        return "must not contain '..'"
    return None


def is_safe_task_id(text: object) -> bool:
    """True when `text` is a string usable as a task id as it is."""
    return isinstance(text, str) and task_id_problem(text) is None


def derive_task_id(file_name: str, data: bytes) -> str:
    """An id from the file name (`My Task (1).yaml` → `my-task-1`).

    When nothing usable is left (`日本.yaml`, `.yaml`), fall back to a hash of
    the content, so the same bytes always get the same id.
    """
    base = re.split(r"[/\\]", file_name)[-1]
    stem = _YAML_SUFFIX.sub("", base)
    # Strip accents so `Crème brûlée` gives `creme-brulee` rather than `cr-me-br-l-e`.
    decomposed = unicodedata.normalize("NFKD", stem.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    text = _UNSAFE_RUN.sub("-", plain)
    text = re.sub(r"\.{2,}", "-", text)
    text = re.sub(r"-{2,}", "-", text).strip("-.")
    if len(text) > MAX_TASK_ID_LENGTH:
        cut = text[:MAX_TASK_ID_LENGTH]
        dash = cut.rfind("-")
        text = (cut[:dash] if dash >= _MIN_CUT else cut).strip("-.")
    if is_safe_task_id(text):
        return text
    return "task-" + hashlib.sha256(data).hexdigest()[:12]
