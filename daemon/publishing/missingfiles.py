"""A variation whose file is gone though gladtui never removed it: how to tell, what to say.

The preview folder is the reviewer's too: a file moved away or deleted by
hand, or a folder no longer mounted, leaves a variation row whose file is not
there. Such a variation is `missing` in the task JSON (one stat per
variation, only when a task is read in full: a page of summaries stats
nothing), approving it is refused, and publishing it fails at once: a file
that is not there is not a network error that waiting fixes. Each says what
to do: put the file back at its path, or generate more variations.
"""

from __future__ import annotations

import stat
from pathlib import Path

from daemon.store import VariationRecord


def is_missing(variation: VariationRecord) -> bool:
    """True when the variation's file should be there (not removed) and is not a file now."""
    if variation.removed_at is not None:
        return False
    try:
        return not stat.S_ISREG(Path(variation.path).stat().st_mode)
    except OSError:  # gone, or a folder on its way that cannot be searched
        return True


PUT_IT_BACK = "put the file back at that path and approve again, or generate more variations"


def what_to_do(task_id: str) -> str:
    return f"{PUT_IT_BACK} (gladtui generate {task_id})"


def cannot_approve(task_id: str, variation: VariationRecord) -> str:
    """The refusal of an approval of a missing variation."""
    return (
        f"cannot approve variation {variation.idx} of {task_id}: its file is missing "
        f"({variation.path}); {what_to_do(task_id)}"
    )


def cannot_read(task_id: str, index: int, path: str, reason: str) -> str:
    """Why a publish failed at once: the approved image could not be read."""
    return f"cannot read variation {index} of {task_id} ({path}: {reason}); {what_to_do(task_id)}"
