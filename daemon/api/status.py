"""What `GET /api/status` answers, as `gladtui status` shows it."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from daemon.api.taskjson import iso
from daemon.publishing.publishers.factory import describe_publisher
from gladtui import __version__
from gladtui.shapes import StatusJSON

if TYPE_CHECKING:
    from daemon.api.context import ApiContext


def status_json(ctx: ApiContext) -> StatusJSON:
    """`GET /api/status`: the daemon, its model and replicas, counts, publishing, limits."""
    model = ctx.model
    return {
        "version": __version__,
        "pid": os.getpid(),
        "started_at": iso(ctx.started_at),
        "uptime_seconds": round(time.monotonic() - ctx.started, 3),
        "socket": ctx.socket_path,
        "drop_dir": str(ctx.config.drop_dir),
        "preview_dir": str(ctx.config.preview_dir),
        "database": str(ctx.store.path),
        "model": {
            "name": model.model,
            "device": model.device,
            "state": model.state,
            "error": model.error,
            "load_seconds": model.load_seconds,
            "speed": model.speed,
            "compile_seconds": model.compile_seconds,
            "images_generated": model.images_generated,
            "backend": model.backend,
            "replicas": [
                {
                    "name": r.name,
                    "state": r.state,
                    "task_id": r.task_id,
                    "device": r.device,
                    "node": r.node,
                    "error": r.error,
                    "images_generated": r.images_generated,
                }
                for r in model.replicas
            ],
        },
        "tasks": {str(k): v for k, v in ctx.store.tasks.count_by_status().items()},
        "undoable": ctx.store.tasks.count([], undoable=True),
        "jobs": {str(k): v for k, v in ctx.store.jobs.count_by_status().items()},
        "last_event_id": ctx.store.events.last_id(),
        "publishing": {
            "publisher": ctx.config.publishing.publisher,
            "images_to": describe_publisher(ctx.config),
            "destination": describe_publisher(ctx.config),  # images_to's old name, for old clients
            "on_duplicate_slug": ctx.config.publishing.on_duplicate_slug,
            "grace_seconds": ctx.config.publishing.grace_seconds,
            "posts_to": ctx.destination.kind,
            "posts_destination": ctx.destination.describe(),
        },
        "limits": {
            "max_variations": ctx.config.limits.max_variations,
            "max_steps": ctx.config.limits.max_steps,
        },
        "reject_reasons": [
            {
                "name": name,
                "key": reason.key,
                "label": reason.label,
                "prompt_add": reason.prompt_add,
                "negative_add": reason.negative_add,
            }
            for name, reason in ctx.config.review.reject_reasons.items()
        ],
    }
