"""What each API route takes and answers: the one description of the API.

daemon/api/openapi.py turns these into the OpenAPI document the daemon serves at
`GET /api/openapi.json` (bodies and answers described from their TypedDicts:
gladtui/shapes.py, daemon/api/bodies.py), the daemon refuses to start if a
route it registers is not here or one here is not registered, and
`scripts/apidoc` writes docs/api.md's route table from the same document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from daemon.api import bodies
from daemon.api.imageserving import MAX_WIDTH, MIN_WIDTH, WIDTH_HEADER
from daemon.api.params import MAX_INDEX
from daemon.api.previewserving import STEP_HEADER
from gladtui import shapes
from gladtui.shapes import MAX_PAGE

JSON = "application/json"
PNG = "image/png"
EVENTS = "text/event-stream"
YAML = "application/yaml"
MAX_OFFSET = 2**62


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    doc: str
    where: str = "query"  # query | path | header
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    doc: str  # what it does, for docs/api.md's table and the description
    answer: type | None = None  # the JSON body of a 200, a TypedDict; None: `media` bytes
    media: str = JSON  # the success answer's content type
    body: type | None = None  # the JSON request body, a TypedDict
    body_media: str | None = None  # a request body that is not JSON (a task file)
    params: tuple[Param, ...] = ()
    successes: tuple[int, ...] = (200,)
    errors: tuple[int, ...] = ()  # besides 403 (the peer check), which every route has
    headers: dict[str, str] = field(default_factory=dict)  # success headers: name → doc


def _integer(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def _page(what: str) -> tuple[Param, ...]:
    return (
        Param("limit", _integer(1, MAX_PAGE), f"the most {what} in the page (default 100)"),
        Param("offset", _integer(0, MAX_OFFSET), f"{what} to skip (default 0)"),
    )


_STATUS = "(?:" + "|".join(shapes.TaskStatus) + ")"
# Names between commas, spaces around them, empty ones skipped: "review, failed,".
_STATUS_LIST = {"type": "string", "pattern": f"^ *(?:{_STATUS} *)?(?:, *(?:{_STATUS} *)?)*$"}
TASK_ID = Param("task_id", {"type": "string", "minLength": 1}, "the task's id", "path", True)
INDEX = Param("index", _integer(1, MAX_INDEX), "the variation's index (from 1)", "path", True)
IF_NONE_MATCH = Param(
    "If-None-Match", {"type": "string"}, "an ETag from before: 304 if it still holds", "header"
)
ETAG = {"ETag": "the picture's tag: its bytes' sha256 (a scaled copy's adds -wWIDTH)"}
ACTION_ERRORS = (400, 404, 409, 413, 422)
VARIATION = "/api/tasks/{task_id}/variations/{index}"
# GET /api/stats's since: a span (7d) or an ISO 8601 time (its date must also exist)
SINCE_PATTERN = (
    r"^(?:[0-9]{1,6}[mhdw]|[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}(?::[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/api/health", "is the daemon up, and which version", shapes.HealthJSON),
    Operation(
        "GET",
        "/api/status",
        "version, pid, uptime, socket, folders, the model and its replicas, task counts by "
        "status, the decisions still in their grace period, job counts, the last event id, "
        "where images and posts go (in words, no secrets), and the limits the daemon enforces",
        shapes.StatusJSON,
    ),
    Operation(
        "GET",
        "/api/openapi.json",
        "this description of the API (OpenAPI 3.1)",
        None,
        media=JSON,
    ),
    Operation(
        "GET",
        "/api/tasks",
        "a page of task summaries, newest first, and how many match",
        shapes.TaskPageJSON,
        params=(
            Param("status", _STATUS_LIST, "statuses, comma-separated: review,failed"),
            Param("q", {"type": "string"}, "words in the title"),
            *_page("tasks"),
            Param(
                "undoable",
                {"type": "string", "enum": ["true", "false", "1", "0"]},
                "add the tasks whose decision is still in its grace period",
            ),
            Param("keep", {"type": "string"}, "add this task whatever the filter"),
        ),
        errors=(422,),
    ),
    Operation(
        "POST",
        "/api/tasks",
        "submit a task file: the drop folder's parser and limits; 201 and the task, 200 with "
        "`changed: false` if the same bytes made a task before, 422 with every problem",
        shapes.ActionJSON,
        body_media=YAML,
        params=(Param("name", {"type": "string"}, "the file name it is known by: FILE.yaml"),),
        successes=(200, 201),
        errors=(400, 413, 422),
    ),
    Operation(
        "GET",
        "/api/tasks/{task_id}",
        "one task, with its variations",
        shapes.TaskJSON,
        params=(TASK_ID,),
        errors=(404,),
    ),
    Operation(
        "POST",
        "/api/tasks/{task_id}/approve",
        "select a variation: the task becomes `approved` and is published after "
        "`publishing.grace_seconds`; 409 naming the file and what to do when the "
        "variation's file is missing",
        shapes.ActionJSON,
        body=bodies.ApproveBody,
        params=(TASK_ID,),
        errors=ACTION_ERRORS,
    ),
    Operation(
        "POST",
        "/api/tasks/{task_id}/reject",
        "`rejected` and the files deleted (unless `keep_files`); with a prompt (or `again`: "
        "the same one), back to `queued` for a new round, with the words the `reasons` add "
        "(review.reject_reasons; 422 naming them for an unknown one)",
        shapes.ActionJSON,
        body=bodies.RejectBody,
        params=(TASK_ID,),
        errors=ACTION_ERRORS,
    ),
    Operation(
        "POST",
        "/api/tasks/{task_id}/generate",
        "more variations; with `preset`, rendered with that preset; with `from_variation`, "
        "one re-rendering that variation's seed",
        shapes.ActionJSON,
        body=bodies.GenerateBody,
        params=(TASK_ID,),
        errors=ACTION_ERRORS,
    ),
    Operation(
        "POST",
        "/api/tasks/{task_id}/cancel",
        "stop a queued or running generation",
        shapes.ActionJSON,
        body=bodies.EmptyBody,
        params=(TASK_ID,),
        errors=ACTION_ERRORS,
    ),
    Operation(
        "POST",
        "/api/tasks/{task_id}/undo",
        "take back an approval or rejection still in its grace period; 409 once it has "
        "taken effect",
        shapes.ActionJSON,
        body=bodies.EmptyBody,
        params=(TASK_ID,),
        errors=ACTION_ERRORS,
    ),
    Operation(
        "POST",
        "/api/media/generate-image-variations",
        "the original system's route for more variations of a task",
        shapes.ActionJSON,
        body=bodies.MediaBody,
        errors=ACTION_ERRORS,
    ),
    Operation(
        "GET",
        f"{VARIATION}/image",
        "the variation's PNG, the bytes as they are on disk",
        media=PNG,
        params=(TASK_ID, INDEX, IF_NONE_MATCH),
        successes=(200, 304),
        errors=(404, 422),
        headers=ETAG,
    ),
    Operation(
        "GET",
        f"{VARIATION}/thumbnail",
        f"the variation at least `width` pixels wide: `width` rounded up to a step "
        f"({', '.join(map(str, shapes.THUMBNAIL_WIDTHS))}), or the image itself when the step "
        "is at or above its width; aspect kept",
        media=PNG,
        params=(
            TASK_ID,
            INDEX,
            Param("width", _integer(MIN_WIDTH, MAX_WIDTH), "pixels, at least", required=True),
            IF_NONE_MATCH,
        ),
        successes=(200, 304),
        errors=(404, 422),
        headers={**ETAG, WIDTH_HEADER: "the width of the answer: the step, or the image's"},
    ),
    Operation(
        "GET",
        f"{VARIATION}/preview",
        "while the variation is being generated, its latest live preview; 404 before the "
        "first and once it is final (then `image` serves it)",
        media=PNG,
        params=(TASK_ID, INDEX, IF_NONE_MATCH),
        successes=(200, 304),
        errors=(404, 422),
        headers={"ETag": "changes with every new preview", STEP_HEADER: "the step it shows: 12/30"},
    ),
    Operation(
        "GET",
        "/api/posts",
        "a page of posts, newest first",
        shapes.PostPageJSON,
        params=_page("posts"),
        errors=(422,),
    ),
    Operation(
        "GET",
        "/api/stats",
        "the review desk's figures from the audit trail: decisions per reviewer per hour, "
        "the wait from the last variation to the decision (p50, p90), rounds per published "
        "post, the approval rate, which place in its round wins, reasons by count, "
        "generation seconds per post",
        shapes.StatsJSON,
        params=(
            Param(
                "since",
                {"type": "string", "pattern": SINCE_PATTERN},
                "the decisions since then: a span back from now (`30m`, `12h`, `7d`, `2w`) or "
                "an ISO 8601 UTC time; left out: all the history",
            ),
        ),
        errors=(422,),
    ),
    Operation(
        "GET",
        "/api/events",
        "server-sent events until the client leaves: stored events by id, progress, "
        "heartbeats; resumes after `since` or `Last-Event-ID`",
        media=EVENTS,
        params=(
            Param("since", _integer(0, MAX_OFFSET), "resume after this event id"),
            Param(
                "Last-Event-ID",
                {"type": "string", "pattern": "^[0-9]*$"},
                "as `since`, from an SSE client (empty: none)",
                "header",
            ),
        ),
        errors=(422,),
    ),
)

# What `/api/events` sends, by SSE `event:` name (stored events are named by their kind).
STORED_EVENT = "(a stored event's kind: created, status_changed, …)"
EVENT_SHAPES: dict[str, type] = {
    STORED_EVENT: shapes.EventJSON,
    shapes.EventKind.PROGRESS: shapes.ProgressEventJSON,
    shapes.EventKind.HEARTBEAT: shapes.HeartbeatJSON,
    shapes.EventKind.RESYNC: shapes.ResyncJSON,
}
