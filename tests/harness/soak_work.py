"""The work a crash soak feeds the daemon, and the ledger of what it fed.

Every task file the soak drops and every approval it asks for is recorded
here, so that after a kill the checks (tests/harness/soak_checks.py) can say
what the store and the folders must hold. All randomness comes from one
seeded `random.Random`, so a failing run is replayed with its seed (the
kill timing itself still depends on the scheduler).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

# Few titles on purpose: most posts share a title, so slugs need de-duplication.
TITLES = (
    "Making Delicious Muffins",
    "Crème Brûlée: 5 Tips!",
    "Soak Test",
    "Night Market Dumplings",
)

MAX_FILE_BYTES = 65536  # limits.max_task_file_bytes: larger files are refused unread

# Task files the parser must refuse, each for a different reason.
INVALID_BODIES = (
    "title: No prompt here\n",
    "title: Typo\nprompt: a typo\nstepz: 3\n",
    "title: Zero\nprompt: nothing to make\nvariations: 0\n",
    "title: [unclosed\nprompt: broken yaml\n",
    "title: 1984\nprompt: a number as a title\n",
)


@dataclass
class Drop:
    """One file placed in the drop folder under a name never used before."""

    name: str
    data: bytes
    valid: bool
    how: str  # "in place" (written where it lies) | "renamed" (written aside, renamed in)
    settled: bool = False  # the daemon has settled since: it must be in its final place

    @property
    def oversized(self) -> bool:
        return len(self.data) > MAX_FILE_BYTES

    @property
    def sha(self) -> str:
        """What the daemon keys the file by: its bytes, or its name when it cannot read it."""
        if self.oversized:  # refused unread: daemon/intake/ingest.py hashes `unreadable:{name}`
            return hashlib.sha256(f"unreadable:{self.name}".encode()).hexdigest()
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Approval:
    """An approval the soak asked for. `accepted` None: the answer was lost in a kill."""

    task_id: str
    variation: int
    accepted: bool | None
    settled: bool = False


@dataclass
class Ledger:
    """Everything fed so far, in order."""

    rng: random.Random
    drops: list[Drop] = field(default_factory=list)
    approvals: dict[str, Approval] = field(default_factory=dict)
    review: dict[str, int] = field(default_factory=dict)  # task id -> variations, unapproved
    lost_answers: int = 0  # approvals whose answer a kill ate

    # -- task files ---------------------------------------------------------------------

    def next_name(self) -> str:
        return f"d{len(self.drops) + 1:05d}.yaml"

    def valid_file(self, *, variations: int | None = None) -> bytes:
        """A new task; its bytes are unique (the drop number is in the prompt)."""
        number = len(self.drops) + 1
        count = variations or self.rng.randint(1, 3)
        return (
            f"title: {json.dumps(self.rng.choice(TITLES), ensure_ascii=False)}\n"
            f"prompt: soak drop {number}, blueberry muffins\n"
            f"variations: {count}\nsteps: {self.rng.randint(1, 2)}\n"
            f"width: 64\nheight: 64\nseed: {number}\n"
            f"content: post body of drop {number}\n"
        ).encode()

    def invalid_file(self) -> bytes:
        number = len(self.drops) + 1
        if self.rng.random() < 0.2:  # too large: refused before it is even read
            return f"# drop {number}\n{'#' * MAX_FILE_BYTES}\ntitle: big\n".encode()
        return f"# drop {number}\n{self.rng.choice(INVALID_BODIES)}".encode()

    def pick_file(self) -> tuple[bytes, bool]:
        """Mostly new tasks; some refusals; some byte-identical copies of earlier drops."""
        roll = self.rng.random()
        readable = [d for d in self.drops if not d.oversized]  # copies of those are new files
        if roll < 0.15 and readable:
            earlier = self.rng.choice(readable)
            return earlier.data, earlier.valid
        if roll < 0.30:
            return self.invalid_file(), False
        return self.valid_file(), True

    def drop(self, folder: Path, data: bytes, valid: bool) -> Drop:
        """Place one file, the way a user or a program would, and record it."""
        item = Drop(self.next_name(), data, valid, self.rng.choice(("in place", "renamed")))
        self.drops.append(item)
        if item.how == "renamed":
            aside = folder / f".{item.name}.part"  # hidden: the daemon never reads it
            aside.write_bytes(data)
            aside.rename(folder / item.name)
        else:  # two writes: the daemon may see the first half and must wait for the rest
            half = len(data) // 2
            with (folder / item.name).open("wb") as stream:
                stream.write(data[:half])
                stream.flush()
                stream.write(data[half:])
        return item

    def burst(self, folder: Path, size: int) -> list[Drop]:
        return [self.drop(folder, *self.pick_file()) for _ in range(size)]

    # -- approvals ----------------------------------------------------------------------

    def pick_for_approval(self, count: int) -> list[tuple[str, int]]:
        """Up to `count` tasks in review, each with a variation to approve."""
        ids = self.rng.sample(sorted(self.review), min(count, len(self.review)))
        return [(task_id, self.rng.randint(1, self.review.pop(task_id))) for task_id in ids]

    def record_approval(self, task_id: str, variation: int, accepted: bool | None) -> None:
        self.approvals[task_id] = Approval(task_id, variation, accepted)
        self.lost_answers += accepted is None

    def settle_everything(self) -> None:
        for item in self.drops:
            item.settled = True
        for approval in self.approvals.values():
            approval.settled = True

    def by_sha(self) -> dict[str, list[Drop]]:
        groups: dict[str, list[Drop]] = {}
        for item in self.drops:
            groups.setdefault(item.sha, []).append(item)
        return groups
