"""`gladtui show TASK --watch`: a task's progress, a line a step, until it stops generating.

The event stream is opened before the task is read, so nothing between the
two is missed. A queued task is waited for; once the task is neither queued
nor generating (review, failed, cancelled…) the task is printed as `show`
prints it and the command ends. A step is one line, though the daemon sends
it again once its preview is ready (the next step's line says that preview).
With `--json`, each progress event and then the task are printed as one JSON
object a line.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from gladtui.client import Client
from gladtui.eventstream import ProgressEvent, StoredEvent
from gladtui.shapes import IN_GENERATION, EventKind, ProgressEventJSON

STREAM_TIMEOUT = 120.0  # s without a byte (heartbeats included): the daemon is gone


def watch_task(client: Client, task_id: str, *, as_json: bool, out: TextIO = sys.stdout) -> None:
    """Print progress lines until the task leaves generating. Raises ClientError."""
    from gladtui.cli.cliformat import format_task

    with client.events(timeout=STREAM_TIMEOUT) as stream:
        task = client.task(task_id)
        if task["status"] in IN_GENERATION:
            if not as_json:
                print(f"{task_id}: {task['status']}", file=out, flush=True)
            printed: tuple[int, int, int] | None = None  # the step of the last line
            for event in stream:
                if isinstance(event, StoredEvent) and _ended(event, task_id):
                    break
                if isinstance(event, ProgressEvent) and event.data["task_id"] == task_id:
                    step = _step(event.data)
                    if as_json or step != printed:
                        print(_line(event.data, as_json), file=out, flush=True)
                        printed = step
            task = client.task(task_id)
    print(json.dumps(task, ensure_ascii=False) if as_json else format_task(task), file=out)


def _ended(event: StoredEvent, task_id: str) -> bool:
    if event.kind != EventKind.STATUS_CHANGED or event.data["task_id"] != task_id:
        return False
    return event.data["to_status"] not in IN_GENERATION


def _step(progress: ProgressEventJSON) -> tuple[int, int, int]:
    return progress["step"], progress["steps"], progress["images_done"]


def _line(progress: ProgressEventJSON, as_json: bool) -> str:
    if as_json:
        return json.dumps(progress)
    line = (
        f"{progress['task_id']}: step {progress['step']}/{progress['steps']}, "
        f"{progress['images_done']}/{progress['images_total']} images done"
    )
    preview = progress.get("preview")
    if preview is not None:
        numbers = ", ".join(str(n) for n in preview["variations"])
        line += f"; preview of {numbers} at step {preview['step']}/{preview['steps']}"
    return line
