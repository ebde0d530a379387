"""The shipped task defaults and limits, said once.

The config's `generation` and `limits` defaults, the task-file rules without a
config (`TaskRules()`), and the TUI's bound on "more" before the daemon reports
its own (`limits.max_variations` in its status) all read these.
"""

from __future__ import annotations

VARIATIONS = 3
STEPS = 30
GUIDANCE_SCALE = 7.0
WIDTH = 1024
HEIGHT = 1024

MAX_TASK_FILE_BYTES = 65536
MAX_VARIATIONS = 16
MAX_STEPS = 150
MAX_GUIDANCE_SCALE = 30.0
MIN_SIZE = 64
MAX_WIDTH = 2048
MAX_HEIGHT = 2048
