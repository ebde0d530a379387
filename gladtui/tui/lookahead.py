"""Tasks fetched before the cursor reaches them, so the next one shows at once.

Filled from a worker thread, read on the UI thread. An event about a task
makes what was fetched of it stale: `forget` drops it, and the task is
fetched again when the cursor gets there.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from gladtui.shapes import TaskJSON

MAX_TASKS = 16


class Lookahead:
    def __init__(self, capacity: int = MAX_TASKS) -> None:
        self._tasks: OrderedDict[str, TaskJSON] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, task_id: str) -> TaskJSON | None:
        with self._lock:
            return self._tasks.get(task_id)

    def put(self, task: TaskJSON) -> None:
        with self._lock:
            self._tasks[task["id"]] = task
            self._tasks.move_to_end(task["id"])
            while len(self._tasks) > self._capacity:
                self._tasks.popitem(last=False)

    def forget(self, task_id: str) -> None:
        with self._lock:
            self._tasks.pop(task_id, None)

    def clear(self) -> None:
        with self._lock:
            self._tasks.clear()
