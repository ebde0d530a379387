"""Vocabulary shared by the daemon and its clients.

The task lifecycle every part of gladtui agrees on, and the JSON shapes
exchanged over the API and printed by `--json` (docs/api.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import NotRequired

# pydantic describes these shapes (daemon/api/openapi.py); on Python 3.11 it takes only
# typing_extensions' TypedDict
from typing_extensions import TypedDict


class TaskStatus(StrEnum):
    """Where a task is in its life. See docs/lifecycle.md."""

    QUEUED = "queued"
    GENERATING = "generating"
    REVIEW = "review"
    APPROVED = "approved"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    REJECTED = "rejected"
    FAILED = "failed"
    INVALID = "invalid"


class EventKind(StrEnum):
    """What an event of `GET /api/events` is. The audit trail's rows (stored, with
    ids) come first; the last three are the stream's own. A newer daemon may add
    kinds: clients read an event's `kind` as a string and compare it with these."""

    CREATED = "created"
    STATUS_CHANGED = "status_changed"
    VARIATION_ADDED = "variation_added"
    FILES_REMOVED = "files_removed"  # detail: {"variations": [...]}
    PUBLISHED = "published"
    PUBLISH_FAILED = "publish_failed"
    PROGRESS = "progress"
    HEARTBEAT = "heartbeat"
    RESYNC = "resync"


class SlugOutcome(StrEnum):
    """The slug a task gets, and why: a task's `slug_outcome` (daemon/publishing/slugs.py).

    The first four are what `publishing.on_duplicate_slug` chooses; a published task
    says so once its post exists (the event of its status change to published says
    it in the past tense: `recorded`)."""

    FREE = "free"
    SUFFIXED = "suffixed"  # the base slug is taken: -2, -3, … (policy suffix)
    TAKES_OVER = "takes_over"  # the post holding it gets this task's image (policy update)
    LINKS = "links"  # the post holding it is this task's result (policy skip)
    PUBLISHED = "published"
    NONE = "none"  # a refused task file: never published

    @property
    def recorded(self) -> str:
        """The word for it once done: the `outcome` in the detail of the task's status
        change to published, and what a post intent stores (new, took_over, …)."""
        return _RECORDED.get(self, self.value)

    @classmethod
    def from_recorded(cls, word: str) -> SlugOutcome:
        """The outcome that `recorded` gave `word` (a post intent read back)."""
        for outcome in cls:
            if outcome.recorded == word:
                return outcome
        raise ValueError(f"{word!r} is not a slug outcome as recorded")


_RECORDED = {
    SlugOutcome.FREE: "new",
    SlugOutcome.TAKES_OVER: "took_over",
    SlugOutcome.LINKS: "linked",
    SlugOutcome.PUBLISHED: "existing",  # published before a crash ate the status change
}


# The statuses of a task being made: waiting for the generator, or generating. A
# reviewer cancels these; the TUI shows them apart, with their live previews.
IN_GENERATION = (TaskStatus.QUEUED, TaskStatus.GENERATING)

MAX_PAGE = 100_000  # the most tasks or posts the daemon returns in one page

# The widths `GET …/thumbnail?width=W` makes (pixels). A width between steps is
# rounded up to the next one, so a client never gets less than it asked for and
# every reviewer's sizes share the daemon's cache; a step at or above the image's
# own width answers the image itself. Clients ask for steps (`thumbnail_step`).
THUMBNAIL_WIDTHS = (64, 128, 256, 320, 512, 640, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192)


def thumbnail_step(width: int) -> int:
    """The step `width` is rounded up to (the widest step for anything wider)."""
    return next((step for step in THUMBNAIL_WIDTHS if step >= width), THUMBNAIL_WIDTHS[-1])


# -- The JSON shapes of the API and of `--json` output (docs/api.md) ---------------------
#
# TypedDicts: no cost at run time, and mypy checks that the daemon builds and the
# client reads the same fields. Times are ISO 8601 UTC strings ending in "Z".
# Fields are only ever added, never renamed or removed: scripts rely on them.


class PreviewStepJSON(TypedDict):
    """The latest live preview: `step` of `steps` of the batch making `variations`.

    Each of those variations has a preview at
    /api/tasks/{id}/variations/{n}/preview until it is final.
    """

    step: int
    steps: int
    variations: list[int]


class ProgressJSON(TypedDict):
    """A running generation: `step` of `steps` over all its batches."""

    step: int
    steps: int
    images_done: int
    images_total: int
    # The daemon always sends it (null: no preview yet, or previews off).
    preview: NotRequired[PreviewStepJSON | None]


class AdditionsJSON(TypedDict):
    """What a rejection's reasons added to the round that made a variation."""

    reasons: list[str]  # review.reject_reasons names, as given
    prompt: str  # the words added to the prompt ("" none)
    negative_prompt: str  # the words added to the negative prompt


class VariationJSON(TypedDict):
    index: int  # 1-based and stable for the task's whole life
    # 1-based: the generation that made it (the task file's, then each `generate` and
    # each reject with a new prompt)
    round: int
    path: str
    thumbnail: str | None
    seed: int
    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int
    guidance_scale: float
    model: str
    selected: bool
    removed_at: str | None  # the local file was deleted (rejected, published, retention)
    created_at: str
    scheduler: str | None  # the sampler name asked for (gladtui/samplers.py); null: the model's
    sampler: str | None  # as AUTOMATIC1111 names it: "DPM++ 2M Karras", "Euler a"
    loras: dict[str, float]  # LoRA name: weight
    preset: str | None  # the preset it was rendered with
    from_variation: int | None  # re-rendered from that variation's seed (draft, then final)
    # The file is not at `path` though gladtui never removed it (moved or deleted by
    # hand): it cannot be shown nor approved until it is put back. False once removed.
    missing: bool
    # the round came from a rejection with reasons: what they added to `prompt` and
    # `negative_prompt` (both already include it); null otherwise
    additions: AdditionsJSON | None


class PostJSON(TypedDict):
    id: int
    task_id: str
    title: str
    slug: str
    featured_image_url: str
    created_at: str
    updated_at: str
    destination: str  # where it went (publishing.posts.to): local | postgres | markdown | webhook
    location: str | None  # where it is there: "posts id 42", a file's path; null for local


class TaskSummaryJSON(TypedDict):
    """A task as lists show it: everything but the variations themselves."""

    id: str
    title: str
    # Decoded from JSON it is the value's str, which equals the member (compare with ==)
    status: TaskStatus
    prompt: str
    negative_prompt: str
    slug: str  # the slug it has (published) or would get if approved now
    slug_outcome: SlugOutcome  # why that slug; compare with == like `status`
    # the task whose post holds the base slug, if another's; null also when the
    # post holding it was not made by gladtui (already on the blog)
    slug_taken_by: str | None
    error: str | None
    source_file: str | None
    variations_requested: int
    steps: int
    guidance_scale: float
    width: int
    height: int
    seed: int | None
    created_at: str
    updated_at: str
    variation_count: int  # variations whose file is still there
    selected_variation: int | None
    post: PostJSON | None
    progress: ProgressJSON | None
    # What the daemon accepts for this task now: approve, reject, generate, cancel, undo.
    # Clients offer these and never restate the daemon's rules.
    actions: list[str]
    # An approval or rejection waits out its grace period until then, and may be
    # undone meanwhile; null when no decision is waiting.
    undo_until: str | None
    scheduler: str | None  # sampler name for new variations; null: the model's own
    loras: dict[str, float]  # LoRA name: weight, for new variations
    preset: str | None
    # What the last generation could not do as asked, in words (e.g. words a
    # configured prompt cap dropped). Empty when all went as asked.
    warnings: list[str]


class TaskJSON(TaskSummaryJSON):
    """One task in full: the summary plus its variations (removed ones included)."""

    content: str
    # The alt text its post's image carries: the task file's `alt:`
    # (`alt_from_task`), else derived from the title (gladtui/alttext.py).
    alt: str
    alt_from_task: bool
    caption: str  # empty: none
    focus: list[float] | None  # [x, y] in 0..1, the social card's centre; null: the middle
    variations: list[VariationJSON]


class TaskPageJSON(TypedDict):
    """`GET /api/tasks`: one page of summaries, newest first."""

    tasks: list[TaskSummaryJSON]
    total: int  # tasks matching the filter, over all pages
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class GenerateRequest:
    """`POST /api/tasks/{id}/generate`: more variations. None: as the task says.

    The client sends it (`body()`), the daemon parses it back and acts on it.
    """

    count: int | None = None
    prompt: str | None = None
    steps: int | None = None
    preset: str | None = None  # a generation.presets name, for this request's variations
    from_variation: int | None = None  # re-render that variation's seed

    def body(self) -> dict[str, object]:
        """The JSON object to send: None is left out, so the daemon's defaults apply."""
        fields: dict[str, object] = asdict(self)
        return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True, slots=True)
class RejectRequest:
    """`POST /api/tasks/{id}/reject`. A new round follows with `prompt` (a new one) or
    `again` (the same one); the `reasons` (review.reject_reasons names) are recorded with
    the decision and add their words to that round's prompt and negative prompt."""

    prompt: str | None = None
    again: bool = False
    reasons: tuple[str, ...] = ()
    keep_files: bool = False

    def body(self) -> dict[str, object]:
        """The JSON object to send: only what differs from the defaults."""
        fields: dict[str, object] = {}
        if self.prompt is not None:
            fields["prompt"] = self.prompt
        if self.again:
            fields["again"] = True
        if self.reasons:
            fields["reasons"] = list(self.reasons)
        if self.keep_files:
            fields["keep_files"] = True
        return fields

    @property
    def new_round(self) -> bool:
        return self.prompt is not None or self.again


class RejectReasonJSON(TypedDict):
    """One of review.reject_reasons, as GET /api/status lists them (in the config's order)."""

    name: str
    key: str  # the TUI dialog's key for it
    label: str
    prompt_add: str
    negative_add: str


class ActionJSON(TypedDict):
    """The answer to approve, reject, generate, cancel and submit."""

    task: TaskJSON
    changed: bool  # false: the request was already satisfied (a repeated approval)
    message: str


class PostPageJSON(TypedDict):
    posts: list[PostJSON]
    total: int
    offset: int
    limit: int


class ReplicaJSON(TypedDict):
    name: str  # local, or replica-1, replica-2, … with generation.backend: ray
    state: str  # starting | loading | idle | generating | unavailable
    task_id: str | None  # the task it is generating now
    device: str | None
    node: str | None  # the host it runs on
    error: str | None
    images_generated: int


class ModelJSON(TypedDict):
    name: str
    device: str | None
    state: str  # starting | loading | idle | generating | unavailable
    error: str | None
    load_seconds: float | None
    # The GPU speed switches in effect, e.g. `sdpa attention, channels_last, compiled in
    # 84.2 s`; compile_seconds is the first-use compile (None: not compiled).
    speed: NotRequired[str | None]
    compile_seconds: NotRequired[float | None]
    images_generated: int
    backend: str  # local | ray
    replicas: list[ReplicaJSON]


class PublishingJSON(TypedDict):
    publisher: str  # local | cloudinary | s3
    images_to: str  # where the publisher puts approved images, in words (no secrets)
    # images_to under its old name, from before "destination" came to mean where posts
    # go (posts_to): kept for clients older than images_to (fields are never renamed).
    destination: str
    on_duplicate_slug: str  # suffix | update | skip
    grace_seconds: float  # a decision takes effect this long after it is made
    posts_to: str  # where posts go (publishing.posts.to): local|postgres|markdown|webhook|wordpress
    posts_destination: str  # the same in words: the table, the folder, the URL (no secrets)


def images_to(publishing: PublishingJSON) -> str:
    """Where approved images go, in words, from a daemon of any age (before images_to,
    a daemon sent it only as `destination`)."""
    return publishing.get("images_to") or publishing["destination"]


class LimitsJSON(TypedDict):
    """The bounds the daemon enforces, so clients offer what it accepts."""

    max_variations: int
    max_steps: int


class HealthJSON(TypedDict):
    """`GET /api/health`."""

    ok: bool
    version: str


class StatusJSON(TypedDict):
    version: str
    pid: int
    started_at: str
    uptime_seconds: float
    socket: str
    drop_dir: str
    preview_dir: str
    database: str
    model: ModelJSON
    tasks: dict[str, int]  # every TaskStatus value, zero included
    # approved or rejected tasks whose decision is in its grace period (can be undone):
    # the Review list shows them with their countdown, so its count includes them
    undoable: int
    jobs: dict[str, int]  # pending, running, done, failed, cancelled
    last_event_id: int
    publishing: PublishingJSON
    limits: LimitsJSON
    reject_reasons: list[RejectReasonJSON]


# -- The review desk's figures (`GET /api/stats`, `gladtui stats --json`) ------------------


class ReviewerStatsJSON(TypedDict):
    reviewer: str  # the user name the daemon's peer check gave the decisions
    decisions: int  # approvals and rejections, undone ones included
    approved: int
    rejected: int
    active_hours: int  # distinct clock hours (UTC) with at least one decision
    per_hour: float  # decisions / active_hours


class WaitStatsJSON(TypedDict):
    """From a task's last variation to the decision on it."""

    decisions: int  # decisions with a variation before them
    p50_seconds: float | None  # null: no such decision
    p90_seconds: float | None


class RoundsStatsJSON(TypedDict):
    """Rounds of variations the posts published in the period needed."""

    posts: int
    mean: float | None  # null: no post
    by_rounds: dict[str, int]  # "2": posts that needed 2 rounds


class WinnerStatsJSON(TypedDict):
    """Approvals by the chosen variation's place in its round (1: the round's first)."""

    place: int
    chosen: int
    by_chance: float  # expected if reviewers chose at random within each round


class ReasonCountJSON(TypedDict):
    reason: str  # a review.reject_reasons name
    count: int


class GenerationStatsJSON(TypedDict):
    """Generation time of the posts published in the period, all their rounds."""

    posts: int
    seconds: float
    seconds_per_post: float | None


class StatsJSON(TypedDict):
    """`GET /api/stats?since=7d`: the figures since then, from the audit trail."""

    since: str | None  # ISO 8601 UTC; null: all the history
    until: str  # when they were computed
    decisions: int
    approval_rate: float | None  # approvals / decisions; null: none
    reviewers: list[ReviewerStatsJSON]
    wait: WaitStatsJSON
    rounds: RoundsStatsJSON
    winners: list[WinnerStatsJSON]
    reasons: list[ReasonCountJSON]  # most given first
    generation: GenerationStatsJSON


# -- The event stream (`GET /api/events`): each SSE event's `data`, by its `event:` kind --


class EventJSON(TypedDict):
    """One row of the audit trail, as the event stream sends it (SSE `id` = `id`)."""

    id: int
    kind: str  # an EventKind (a newer daemon may send kinds this one does not know)
    task_id: str | None
    from_status: TaskStatus | None
    to_status: TaskStatus | None
    actor: str | None  # "uid:1000" for a reviewer's action; null for the daemon's own
    detail: dict[str, object] | None  # what the kind says more: its own keys, any JSON
    at: str
    task: TaskSummaryJSON | None  # the task as it is now, so a list updates in place


class ProgressEventJSON(ProgressJSON):
    """`progress`: a generation's latest step (not stored, so no SSE `id`)."""

    task_id: str


class HeartbeatJSON(TypedDict):
    """`heartbeat`: the stream is alive; resume after `last_id` if it breaks."""

    last_id: int
    at: str


class ResyncJSON(TypedDict):
    """`resync`: the client's position is unknown here; reload, then resume after `last_id`."""

    last_id: int
    reason: str


class ErrorCode(StrEnum):
    """An API error's `code`: why, in one word (the message says it in words). A newer
    daemon may add codes: clients read `code` as a string and compare it with these."""

    NOT_FOUND = "not_found"  # 404: no such task or variation, or no such endpoint
    CONFLICT = "conflict"  # 409: the task's status does not allow the action
    INVALID = "invalid"  # 422: the request, or the task file, is not valid
    REFUSED = "refused"  # 400: an action refused for another reason
    FORBIDDEN = "forbidden"  # 403: this user may not use the daemon (api.allowed_users)
    TOO_LARGE = "too_large"  # 413: the body is over api.max_request_bytes
    METHOD_NOT_ALLOWED = "method_not_allowed"  # 405: the Allow header says what is
    TIMEOUT = "timeout"  # 408: the request did not arrive in time
    INCOMPLETE = "incomplete"  # 400: the connection closed before the body ended
    MALFORMED = "malformed"  # 400: not valid HTTP
    BUSY = "busy"  # 503: every connection slot is taken; Retry-After says when
    INTERNAL = "internal"  # 500: the daemon failed; its log says why
    # Any other HTTP error; also what a client says of an error answer without this body
    HTTP_ERROR = "http_error"


class ErrorBodyJSON(TypedDict):
    status: int
    code: str  # an ErrorCode (a newer daemon may send codes this one does not know)
    message: str


class ErrorJSON(TypedDict):
    error: ErrorBodyJSON
