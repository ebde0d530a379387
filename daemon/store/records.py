"""The values the store takes and returns: frozen dataclasses, never raw tuples.

Each `*Record` mirrors one table row (a stored task or variation is what was
created plus the columns the store keeps); the repositories select exactly
`column_list(Record)` and build records with `from_row`, so a column added by a
migration is added here in one place (a task setting in gladtui/taskfile.py).
JSON columns (job payloads, event details) come back as dicts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from gladtui.shapes import TaskStatus
from gladtui.taskfile import TaskSettings

__all__ = [
    "REMOVE_IMAGE",
    "REMOVE_IMAGE_AND_THUMBNAIL",
    "AppliedMigration",
    "EventRecord",
    "JobRecord",
    "JobStatus",
    "NewTask",
    "NewVariation",
    "PostRecord",
    "TaskRecord",
    "TaskSummaryRecord",
    "VariationRecord",
    "column_list",
    "dump_json",
    "dump_point",
    "load_json",
    "load_list",
    "load_weights",
]


# What a variation's decided deletion takes (the `removing` column, migration 5).
REMOVE_IMAGE = "image"  # after publishing: the thumbnail stays
REMOVE_IMAGE_AND_THUMBNAIL = "image_and_thumbnail"


class JobStatus(StrEnum):
    """Where a job is. `pending` jobs are claimable once their `run_after` has come."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


def dump_json(value: Mapping[str, Any] | None) -> str | None:
    """JSON text for a VARCHAR column; a value json cannot encode is a TypeError here."""
    if value is None:
        return None
    return json.dumps(dict(value), ensure_ascii=False, sort_keys=True, allow_nan=False)


def dump_point(point: tuple[float, float] | None) -> str | None:
    """A point (a task's focus) as a JSON list for a VARCHAR column; None stays NULL."""
    return None if point is None else json.dumps(list(point))


def load_point(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    x, y = json.loads(text)
    return (float(x), float(y))


def load_weights(text: str | None) -> dict[str, float]:
    """A JSON column of {name: weight} (LoRAs)."""
    return {str(k): float(v) for k, v in (load_json(text) or {}).items()}


def load_list(text: str | None) -> list[str]:
    """A JSON column holding a list of strings (warnings)."""
    loaded = json.loads(text) if text else []
    if not isinstance(loaded, list):
        raise ValueError(f"expected a JSON list, got {type(loaded).__name__}")
    return [str(item) for item in loaded]


def load_json(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    loaded = json.loads(text)
    if not isinstance(loaded, dict):
        raise ValueError(f"expected a JSON object, got {type(loaded).__name__}")
    return loaded


def column_list(record_type: type[Any], table: str = "") -> str:
    """`"a", "b", …` for a record's fields (quoted: `at` is a DuckDB keyword)."""
    prefix = f"{table}." if table else ""
    return ", ".join(f'{prefix}"{field.name}"' for field in fields(record_type))


@dataclass(frozen=True, slots=True, kw_only=True)
class NewTask(TaskSettings):
    """A task to create: its settings, already resolved (task file + config), and its source."""

    source_file: str | None = None
    source_sha256: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRecord(NewTask):
    """A stored task: what was created, and what the store keeps of its life since."""

    loras: dict[str, float]
    file_loras: dict[str, float]
    status: TaskStatus
    error: str | None
    post_id: int | None
    created_at: datetime
    updated_at: datetime
    warnings: list[str]  # what the last generation could not do as asked

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Self:
        return cls(**_values(cls, row, _TASK_DECODERS))


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSummaryRecord:
    """A task as lists show it: its row, times as ISO text, and its variation counts.

    Read by one query for a whole page (tasks.summaries), with the times
    formatted by DuckDB: building datetimes for 10,000 rows only to format
    them again was most of the cost of a listing.
    """

    id: str
    title: str
    status: TaskStatus
    prompt: str
    negative_prompt: str
    variations: int
    steps: int
    guidance_scale: float
    width: int
    height: int
    seed: int | None
    error: str | None
    source_file: str | None
    post_id: int | None
    created_at: str  # ISO 8601 UTC, "2026-11-23T12:00:01.234Z"
    updated_at: str
    variation_count: int  # variations whose file is still there
    selected_variation: int | None
    undo_until: str | None  # a decision waits until then (ISO time) and can be undone
    scheduler: str | None
    loras: dict[str, float]
    preset: str | None
    warnings: list[str]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Self:
        return cls(**_values(cls, row, _TASK_DECODERS))


@dataclass(frozen=True, slots=True, kw_only=True)
class NewVariation:
    """One generated image, with the parameters that reproduce it."""

    task_id: str
    idx: int  # 1-based and stable: never reused, even after the file is removed
    path: str
    seed: int
    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int
    guidance_scale: float
    model: str
    thumbnail: str | None = None
    scheduler: str | None = None  # the sampler name asked for; None: the model's own
    sampler: str | None = None  # as A1111 records it: "DPM++ 2M Karras"
    loras: Mapping[str, float] = field(default_factory=dict)
    preset: str | None = None
    from_variation: int | None = None  # re-rendered from this variation's seed
    # what a rejection's reasons added to its prompts (AdditionsJSON); None: no reasons
    additions: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VariationRecord(NewVariation):
    """A stored variation: what was recorded, and whether it is chosen or gone since."""

    loras: dict[str, float]
    selected: bool
    removed_at: datetime | None  # when the local file was deleted
    created_at: datetime
    # the deletion decided and not yet done: REMOVE_IMAGE or REMOVE_IMAGE_AND_THUMBNAIL
    removing: str | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Self:
        return cls(**_values(cls, row, {"loras": load_weights, "additions": load_json}))

    @property
    def removes_thumbnail(self) -> bool:
        """Whether the decided deletion takes the thumbnail too."""
        return self.removing == REMOVE_IMAGE_AND_THUMBNAIL


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecord:
    id: int
    kind: str
    task_id: str | None
    payload: dict[str, Any]
    status: JobStatus
    attempts: int  # claims so far, including the running one
    max_attempts: int
    last_error: str | None
    run_after: datetime
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Self:
        return cls(**_values(cls, row, _JOB_DECODERS))


@dataclass(frozen=True, slots=True, kw_only=True)
class PostRecord:
    id: int
    task_id: str
    slug: str
    title: str
    content: str
    featured_image_url: str
    asset_id: str | None
    created_at: datetime
    updated_at: datetime
    destination: str  # where the post went: local | postgres | markdown | webhook
    location: str | None  # where it is there, in words (a row id, a file); None: local

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Self:
        return cls(**_values(cls, row, {}))


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRecord:
    id: int
    task_id: str | None
    kind: str
    from_status: TaskStatus | None
    to_status: TaskStatus | None
    actor: str | None
    detail: dict[str, Any] | None
    at: datetime

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Self:
        return cls(**_values(cls, row, _EVENT_DECODERS))


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    applied_at: datetime


# How a column's stored value becomes its field's, by field name; for each
# record, the fields it has of these (a summary has no file_loras).
Decoders = Mapping[str, Callable[[Any], Any]]
_TASK_DECODERS: Decoders = {
    "status": TaskStatus,
    "loras": load_weights,
    "file_loras": load_weights,
    "warnings": load_list,
    "focus": load_point,
}
_JOB_DECODERS: Decoders = {"payload": lambda text: load_json(text) or {}, "status": JobStatus}
_EVENT_DECODERS: Decoders = {
    "from_status": lambda value: None if value is None else TaskStatus(value),
    "to_status": lambda value: None if value is None else TaskStatus(value),
    "detail": load_json,
}


def _values(record_type: type[Any], row: Sequence[Any], decoders: Decoders) -> dict[str, Any]:
    """The fields of `record_type` from a row of `column_list(record_type)`, decoded."""
    values = dict(zip(_names(record_type), row, strict=True))
    for name, decode in decoders.items():
        if name in values:
            values[name] = decode(values[name])
    return values


_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _names(record_type: type[Any]) -> tuple[str, ...]:
    # Once per record type: `fields()` on every row was half the cost of listing 10,000 tasks.
    names = _NAMES.get(record_type)
    if names is None:
        names = _NAMES[record_type] = tuple(field.name for field in fields(record_type))
    return names
