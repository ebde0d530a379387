"""`GET /api/tasks/{id}/variations/{n}/preview`: the latest live preview of a variation.

While variation n is being generated, its latest preview (daemon/generation/previews.py)
as a PNG, with the step it shows in a `Preview-Step: 12/30` header and an
ETag that changes with every new preview (`If-None-Match` answers 304). 404
before the first preview and once the variation is final: its image and
thumbnail endpoints (daemon/api/imageserving.py) take over. Progress events on
/api/events carry the step of the latest preview, so a client fetches when
there is something new rather than polling.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from daemon.api.params import variation_target
from daemon.generation.previews import PreviewBoard
from daemon.review.outcomes import TaskNotFound
from daemon.store import Store

STEP_HEADER = "Preview-Step"
# A preview is replaced within a second: no cache may keep it, a client revalidates.
CACHE_CONTROL = "no-cache, private"


class PreviewRoutes:
    def __init__(self, board: PreviewBoard, store: Store) -> None:
        self._board = board
        self._store = store

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/api/tasks/{task_id}/variations/{index}/preview", self.preview)]

    async def preview(self, request: web.Request) -> web.StreamResponse:
        task_id, index = variation_target(request)
        preview = self._board.get(task_id, index)
        if preview is None:
            raise TaskNotFound(await asyncio.to_thread(self._why_none, task_id, index))
        headers = {
            "ETag": preview.etag,
            "Cache-Control": CACHE_CONTROL,
            STEP_HEADER: preview.step_label,
        }
        wanted = request.headers.get("If-None-Match", "")
        if any(tag.strip() in (preview.etag, "*") for tag in wanted.split(",")):
            return web.Response(status=304, headers=headers)
        body = await asyncio.to_thread(self._board.png, preview)  # encoding: off the loop
        return web.Response(body=body, content_type="image/png", headers=headers)

    def _why_none(self, task_id: str, index: int) -> str:
        """The 404's message: what the client should do instead."""
        if self._store.tasks.get(task_id) is None:
            return f"no task {task_id!r}"
        if self._store.variations.get(task_id, index) is not None:
            return f"variation {index} of task {task_id!r} is final: fetch its image"
        return f"no preview of variation {index} of task {task_id!r} (not being generated now)"
