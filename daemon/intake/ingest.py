"""Turning ready task files into tasks: exactly once each, whatever the producer did.

For a batch of ready files:

1. read the bytes (refusing symlinks, folders, unreadable files) and hash them;
2. a hash that already made a task is a duplicate: the file is moved along and
   the log says which task it duplicates, nothing is queued twice;
3. record that the rest are about to be parsed (committed before parsing, see
   daemon/store/ingest.py), then parse them;
4. in one transaction: create the tasks (queued, with a generation job) and the
   refusals (`invalid` tasks carrying the message), and forget the attempts;
5. only then move the files to processed/ or failed/.

A crash anywhere leaves either no task (the file is still in the folder and is
taken again) or the task with its file still in the folder (step 2 recognises
it on the next pass): never two tasks, never a lost file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from daemon.intake.dropfolder import DropFolder, reason_path, write_reason
from daemon.store import NewTask, Store, TaskRecord
from daemon.store.jobkinds import GENERATE, generation_payload
from gladtui.filemodes import close_to_others
from gladtui.shapes import TaskStatus
from gladtui.taskfile import (
    TaskFileError,
    TaskRules,
    TaskSpec,
    derive_task_id,
    parse_task,
    read_task_bytes,
)
from gladtui.taskid import MAX_TASK_ID_LENGTH

log = logging.getLogger(__name__)

CRASHED_BEFORE = (
    "reading this file stopped the daemon on an earlier attempt; it was refused so that "
    "it cannot do so again"
)

Parser = Callable[[bytes, str, TaskRules], TaskSpec]


def parse_with_rules(data: bytes, file_name: str, rules: TaskRules) -> TaskSpec:
    return parse_task(data, file_name=file_name, rules=rules)


@dataclass(slots=True)
class _Dropped:
    """One file of a batch, as it goes through the steps above."""

    path: Path
    data: bytes = b""
    sha256: str = ""
    spec: TaskSpec | None = None
    problem: str | None = None
    title: str | None = None  # a refused file's own title, when it had a good one
    task_id: str = ""
    duplicate_of: TaskRecord | None = None  # an earlier task made from the same bytes
    same_as: _Dropped | None = None  # an earlier file of this batch with the same bytes
    over_api: bool = False  # sent in a request body: there is no file in the drop folder


@dataclass(frozen=True, slots=True)
class Submission:
    """A task submitted over the API: the task, and whether this request created it."""

    task: TaskRecord
    created: bool


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What became of one file: its task, and whether it was new, a duplicate or refused."""

    file_name: str
    task_id: str
    kind: str  # "accepted" | "refused" | "duplicate"
    moved_to: Path | None


class Ingestor:
    """Creates tasks from ready files. `parse` is injectable (the crash tests use it)."""

    def __init__(
        self,
        store: Store,
        folder: DropFolder,
        rules: TaskRules,
        *,
        generation_attempts: int = 3,
        parse: Parser = parse_with_rules,
        on_queued: Callable[[], object] = lambda: None,
    ) -> None:
        self.store = store
        self.folder = folder
        self.rules = rules
        self.generation_attempts = generation_attempts
        self._parse = parse
        self._on_queued = on_queued  # wakes the generator instead of waiting for its poll
        # The watcher and API submissions both pick free ids, then create: one at a time.
        self._lock = threading.Lock()

    def ingest(self, paths: Iterable[Path]) -> list[FileOutcome]:
        """Ingest a batch; one bad file never stops the others."""
        with self._lock:
            return self._ingest(paths)

    def submit(self, data: bytes, file_name: str, *, actor: str | None = None) -> Submission:
        """A task sent over the API: the same parser and the same exactly-once rule.

        The same bytes as an earlier task give that task back (`created` false).
        A file that does not parse raises TaskFileError and stores nothing: the
        sender gets the message directly, there is no file to keep. That holds
        for bytes the drop folder once refused too: an `invalid` task is a
        refusal on record, not a task to hand back as if it were accepted.
        """
        sha256 = hashlib.sha256(data).hexdigest()
        item = _Dropped(Path(file_name), data=data, sha256=sha256, over_api=True)
        with self._lock:
            earlier = self.store.tasks.by_sha256({item.sha256}).get(item.sha256)
            if earlier is not None and earlier.status is not TaskStatus.INVALID:
                return Submission(earlier, created=False)
            item.spec = self._parse(data, file_name, self.rules)
            self._assign_ids([item])
            self._commit([item], actor=actor)
        task = self.store.tasks.get(item.task_id)
        assert task is not None  # just committed
        log.info("accepted a task over the API as %s", task.id)
        return Submission(task, created=True)

    def _ingest(self, paths: Iterable[Path]) -> list[FileOutcome]:
        dropped = [item for item in map(self._read, paths) if item is not None]
        outcomes = self._settle_duplicates(dropped)
        fresh = [d for d in dropped if d.duplicate_of is None and d.same_as is None]
        suspects = self._suspects(fresh)
        batch = [d for d in fresh if d.sha256 not in suspects]
        outcomes += self._parse_and_commit(batch, solo=False)
        for item in (d for d in fresh if d.sha256 in suspects):
            outcomes += self._retry_suspect(item, suspects[item.sha256])
        return outcomes + self._settle_in_batch_duplicates(dropped)

    # -- step 1: read ---------------------------------------------------------------------

    def _read(self, path: Path) -> _Dropped | None:
        item = _Dropped(path)
        try:
            item.data = read_task_bytes(path, max_bytes=self.rules.max_file_bytes)
        except TaskFileError as exc:
            if not os.path.lexists(path):
                log.debug("%s disappeared before it was read; forgotten", path.name)
                return None
            item.problem = str(exc)
        # Unreadable files hash their name, so the same refusal is not recorded twice.
        item.sha256 = hashlib.sha256(item.data or f"unreadable:{path.name}".encode()).hexdigest()
        return item

    # -- step 2: duplicates ---------------------------------------------------------------

    def _settle_duplicates(self, dropped: list[_Dropped]) -> list[FileOutcome]:
        # Unreadable files too: their refusal may be stored with the file still here.
        known = self.store.tasks.by_sha256({d.sha256 for d in dropped})
        first_in_batch: dict[str, _Dropped] = {}
        outcomes = []
        for item in dropped:
            if item.sha256 in known:
                item.duplicate_of = known[item.sha256]
                outcomes.append(self._move_duplicate(item, known[item.sha256]))
            elif item.problem is None and item.sha256 in first_in_batch:
                item.same_as = first_in_batch[item.sha256]  # settled once that one is stored
            else:
                first_in_batch.setdefault(item.sha256, item)
        return outcomes

    def _move_duplicate(self, item: _Dropped, task: TaskRecord) -> FileOutcome:
        if task.status is TaskStatus.INVALID:
            moved = self._move(item.path, refuse=task.error or "refused")
        else:
            moved = self._move(item.path)
        if moved is not None:
            where = f"moved to {moved.parent.name}/{moved.name}"
        elif os.path.lexists(item.path):  # the move failed, and said why
            where = "it stays in the drop folder"
        else:
            where = "it was gone before it could be moved"
        log.info("%s is a duplicate of task %s; %s", item.path.name, task.id, where)
        return FileOutcome(item.path.name, task.id, "duplicate", moved)

    # -- step 3: crash suspects -----------------------------------------------------------

    def _suspects(self, fresh: list[_Dropped]) -> dict[str, bool]:
        """Files whose earlier parse the daemon did not survive: sha -> was it solo."""
        found = self.store.ingest_attempts.find([d.sha256 for d in fresh if d.problem is None])
        return {sha: attempt.solo for sha, attempt in found.items()}

    def _retry_suspect(self, item: _Dropped, was_solo: bool) -> list[FileOutcome]:
        if was_solo:
            item.problem = f"{item.path.name}: {CRASHED_BEFORE}"
            log.warning("refusing %s: it stopped the daemon while being parsed", item.path.name)
            return self._parse_and_commit([item], solo=True, parse=False)
        log.warning("re-reading %s alone: the daemon stopped while parsing it", item.path.name)
        return self._parse_and_commit([item], solo=True)

    # -- steps 3 to 5 ---------------------------------------------------------------------

    def _parse_and_commit(
        self, batch: list[_Dropped], *, solo: bool, parse: bool = True
    ) -> list[FileOutcome]:
        if not batch:
            return []
        to_parse = [d for d in batch if d.problem is None] if parse else []
        self.store.ingest_attempts.begin(((d.sha256, d.path.name) for d in to_parse), solo=solo)
        for item in to_parse:
            try:
                item.spec = self._parse(item.data, item.path.name, self.rules)
            except TaskFileError as exc:
                item.problem, item.title = str(exc), exc.title
        self._assign_ids(batch)
        self._commit(batch)
        return [self._move_stored(item) for item in batch]

    def _assign_ids(self, items: list[_Dropped]) -> None:
        """Each task its own id: a taken id gets -2, -3, ... (never overwrites)."""
        wanted = {}
        for item in items:
            if item.spec is not None:
                wanted[id(item)] = item.spec.id
            else:
                wanted[id(item)] = derive_task_id(item.path.name, item.data)
        taken = self.store.tasks.existing_ids(set(wanted.values()))
        for item in items:
            base = wanted[id(item)]
            task_id, n = base, 1
            while task_id in taken:
                n += 1
                task_id = _suffixed(base, n)
                # Only the base ids were looked up: ask about each suffixed one.
                taken |= self.store.tasks.existing_ids({task_id})
            taken.add(task_id)
            item.task_id = task_id

    def _commit(self, items: list[_Dropped], *, actor: str | None = None) -> None:
        valid = [(item, item.spec) for item in items if item.spec is not None]
        with self.store.transaction():
            self.store.tasks.create_many(
                [self._new_task(item, spec) for item, spec in valid], actor=actor
            )
            self.store.jobs.enqueue_many(
                GENERATE,
                [(item.task_id, generation_payload(1, spec.variations)) for item, spec in valid],
                max_attempts=self.generation_attempts,
            )
            for item in items:  # refusals are rare and each has its own message
                if item.spec is None:
                    self.store.tasks.create(
                        self._invalid_task(item), status=TaskStatus.INVALID, error=item.problem
                    )
            self.store.ingest_attempts.finish([d.sha256 for d in items])
        if valid:
            self._on_queued()

    def _new_task(self, item: _Dropped, spec: TaskSpec) -> NewTask:
        return NewTask(
            id=item.task_id,
            title=spec.title,
            prompt=spec.prompt,
            negative_prompt=spec.negative_prompt,
            content=spec.content,
            variations=spec.variations,
            steps=spec.steps,
            guidance_scale=spec.guidance_scale,
            width=spec.width,
            height=spec.height,
            seed=spec.seed,
            source_file=None if item.over_api else item.path.name,
            source_sha256=item.sha256,
            scheduler=spec.scheduler,
            loras=spec.loras,
            file_loras=spec.file_loras,
            preset=spec.preset,
            alt=spec.alt,
            caption=spec.caption,
            focus=spec.focus,
        )

    def _invalid_task(self, item: _Dropped) -> NewTask:
        # The file's own title when it had a good one, else its name stands in for it;
        # the file name is kept either way, so the reviewer sees which file it was.
        return NewTask(
            id=item.task_id,
            title=item.title or item.path.name,
            prompt="",
            variations=0,
            steps=0,
            guidance_scale=0.0,
            width=0,
            height=0,
            source_file=item.path.name,
            source_sha256=item.sha256,
        )

    def _move_stored(self, item: _Dropped) -> FileOutcome:
        if item.spec is not None:
            moved = self._move(item.path)
            log.info(
                "accepted %s as task %s (%d variation(s) queued)",
                item.path.name,
                item.task_id,
                item.spec.variations,
            )
            return FileOutcome(item.path.name, item.task_id, "accepted", moved)
        moved = self._move(item.path, refuse=item.problem or "refused")
        log.warning("refused %s (task %s): %s", item.path.name, item.task_id, item.problem)
        return FileOutcome(item.path.name, item.task_id, "refused", moved)

    def _settle_in_batch_duplicates(self, dropped: list[_Dropped]) -> list[FileOutcome]:
        later = [d for d in dropped if d.same_as is not None]
        if not later:
            return []
        # A file whose twin was not stored (the daemon stops) waits for the next pass.
        known = self.store.tasks.by_sha256({d.sha256 for d in later})
        return [self._move_duplicate(d, known[d.sha256]) for d in later if d.sha256 in known]

    def _move(self, path: Path, *, refuse: str | None = None) -> Path | None:
        """Move a file out of the drop folder; a failure is logged, never raised.

        The task is already committed, so a file that cannot be moved is only
        recognised again as a duplicate on the next pass.
        """
        try:
            moved = self._finish_cut_move(path, refuse)
            if moved is not None:
                return moved
            if refuse is None:
                return self.folder.accept(path)
            return self.folder.refuse(path, refuse)
        except FileNotFoundError:
            return None  # moved or deleted by someone else meanwhile
        except OSError as exc:
            log.error("cannot move %s out of the drop folder: %s", path.name, exc)
            return None

    def _finish_cut_move(self, path: Path, refuse: str | None) -> Path | None:
        """Where a move that a kill cut short already put this very file, if it did.

        A move links the file into processed/ or failed/, then unlinks it here
        (daemon/intake/dropfolder.py): a kill in between leaves both names. Moving it
        again would make a second copy (`x-2.yaml`); drop this name instead, and
        write a refusal's reason if it never was. The link took the first free
        name of `x.yaml`, `x-2.yaml`, ..., so the last existing one is checked.
        """
        folder = self.folder.failed if refuse is not None else self.folder.processed
        try:
            here = path.lstat()  # lstat: a symlink is never the same file as its target
        except FileNotFoundError:
            return None
        for target in self.folder.destinations(path.name, refused=refuse is not None):
            if not os.path.lexists(target):
                return None
            there = target.lstat()
            if (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino):
                if refuse is not None and not reason_path(target).exists():
                    write_reason(target, refuse)
                path.unlink(missing_ok=True)
                close_to_others(target)
                log.info("%s was already moved to %s/ before a stop", path.name, folder.name)
                return target
        return None


def _suffixed(base: str, n: int) -> str:
    suffix = f"-{n}"
    return base[: MAX_TASK_ID_LENGTH - len(suffix)] + suffix
