"""`webhook`: each post is POSTed as JSON to the blog, signed, exactly once per task.

The protocol (docs/publishing.md, "Webhook: the protocol", is the reference for receivers):

- `POST <url>` with `Content-Type: application/json` and the body
  `{"task_id", "title", "slug", "content", "featured_image_url", "alt", "caption",
  "social_image_url", "created_at", "replace"}`.
- `X-Gladtui-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, keyed with
  `GLADTUI_WEBHOOK_SECRET`.
- `Idempotency-Key: <task id>`: a receiver that already made a post for this
  key answers 2xx with that post, whatever slug the body asks for. That is
  how a retry after a crash or a lost answer never makes a second post.
- Answers: 2xx made (or already had) the post; its JSON body may say `slug`
  (the slug it has), `id` and `url`. 409: the slug belongs to another post;
  gladtui sends the next free slug (`replace: true` with the same slug under
  `on_duplicate_slug: update`, nothing under `skip`). 408, 425, 429, 5xx and
  network errors: tried again with backoff (publishing.max_attempts). Any
  other answer fails the task with the status and the start of the body.

The receiver cannot be asked which slugs it has, so slug previews show
gladtui's own records of what it sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from daemon.publishing.destinations.base import (
    DestinationError,
    DestinationUnusable,
    Placed,
    PostDraft,
)
from daemon.publishing.destinations.secrets import WEBHOOK_SECRET_ENV
from gladtui import __version__
from gladtui.config import WebhookPostsConfig

SIGNATURE_HEADER = "X-Gladtui-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_RETRYABLE_STATUSES = {408, 425, 429}
MAX_ANSWER_BYTES = 1 << 20
EXCERPT_CHARS = 200


def sign(body: bytes, secret: str) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookDestination:
    kind = "webhook"

    def __init__(self, settings: WebhookPostsConfig, secret: str) -> None:
        assert settings.url is not None  # the config refuses `to: webhook` without one
        self.url = settings.url
        self.timeout = settings.timeout_seconds
        self._secret = secret
        self._conflicts: dict[str, dict[str, Any]] = {}  # slug → the 409's post, for `skip`

    def describe(self) -> str:
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        host += f":{parts.port}" if parts.port else ""
        return f"webhook POST to {parts.scheme}://{host}{parts.path} (signed, HMAC-SHA256)"

    def check(self) -> None:
        if not self._secret:
            raise DestinationUnusable(
                f"publishing.posts.to is webhook but {WEBHOOK_SECRET_ENV} is not set: the "
                "receiver checks each post's signature with that shared secret"
            )

    def taken(self, bases: Collection[str]) -> dict[str, set[str]]:
        return {}

    def create(self, draft: PostDraft) -> Placed | None:
        status, answer = self._post(draft, replace=False)
        if status == 409:
            self._conflicts[draft.slug] = answer
            return None
        return self._placed(draft, answer)

    def update(self, draft: PostDraft) -> Placed | None:
        status, answer = self._post(draft, replace=True)
        if status == 409:
            raise DestinationError(
                f"webhook: the receiver refused to replace the post {draft.slug!r} (409); "
                'on_duplicate_slug: update needs it to accept "replace": true',
                retryable=False,
            )
        return self._placed(draft, answer)

    def existing(self, slug: str) -> Placed:
        answer = self._conflicts.pop(slug, {})
        title, image = answer.get("title"), answer.get("featured_image_url")
        return Placed(
            slug,
            self._location(answer),
            title if isinstance(title, str) else None,
            image if isinstance(image, str) else None,
        )

    def find(self, slug: str, image_url: str) -> Placed | None:
        return None  # the Idempotency-Key finds it: the receiver answers with that post

    def close(self) -> None:
        return None

    def _placed(self, draft: PostDraft, answer: dict[str, Any]) -> Placed:
        slug = answer.get("slug")
        return Placed(
            slug if isinstance(slug, str) and slug else draft.slug, self._location(answer)
        )

    def _location(self, answer: dict[str, Any]) -> str:
        if isinstance(answer.get("url"), str):
            return str(answer["url"])
        host = urlsplit(self.url).hostname or self.url
        return f"{host} id {answer['id']}" if "id" in answer else host

    def _post(self, draft: PostDraft, *, replace: bool) -> tuple[int, dict[str, Any]]:
        """(status, JSON answer) for 2xx and 409; DestinationError for anything else."""
        body = json.dumps(
            {
                "task_id": draft.task_id,
                "title": draft.title,
                "slug": draft.slug,
                "content": draft.content,
                "featured_image_url": draft.image_url,
                "alt": draft.alt,
                "caption": draft.caption,
                "social_image_url": draft.social_image_url or None,
                "created_at": draft.created_at.isoformat().replace("+00:00", "Z"),
                "replace": replace,
            },
            ensure_ascii=False,
        ).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"gladtui/{__version__}",
                IDEMPOTENCY_HEADER: draft.task_id,
                SIGNATURE_HEADER: sign(body, self._secret),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return int(response.status), _json(response.read(MAX_ANSWER_BYTES))
        except urllib.error.HTTPError as exc:
            with exc:
                answer = exc.read(MAX_ANSWER_BYTES)
            if exc.code == 409:
                return 409, _json(answer)
            retryable = exc.code >= 500 or exc.code in _RETRYABLE_STATUSES
            raise DestinationError(
                f"webhook: the receiver answered {exc.code} for {draft.slug!r}: {_excerpt(answer)}",
                retryable=retryable,
            ) from None
        except (urllib.error.URLError, OSError) as exc:  # refused, reset, timed out, DNS
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise DestinationError(
                f"webhook: cannot reach the receiver: {reason}", retryable=True
            ) from None


def _json(data: bytes) -> dict[str, Any]:
    """The answer's JSON object; anything else (no body, text) as an empty one."""
    try:
        loaded = json.loads(data) if data.strip() else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _excerpt(data: bytes) -> str:
    text = " ".join(data.decode("utf-8", errors="replace").split())
    return (text[:EXCERPT_CHARS] + "…") if len(text) > EXCERPT_CHARS else (text or "(no body)")
