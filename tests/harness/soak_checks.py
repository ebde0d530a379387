"""The invariants a crash soak checks after every kill, while the daemon is dead.

DuckDB lets one process open the file, so `check_store` runs only between a
kill and the next start. It holds the daemon to the ledger of what the soak
fed it (tests/harness/soak_work.py). Items fed before the daemon last settled
must be in their final state; newer ones only in a state a crash may leave,
one that the next start finishes. `check_folders` runs after a settle, with
the daemon alive: what only a finished daemon guarantees on disk.

Each check returns human-readable problems (empty: fine) and counts what it
saw in passing (`Seen`), which tells whether a kill landed where it was aimed.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from daemon.intake.dropfolder import DropFolder, is_candidate_name
from daemon.publishing.slugs import base_slug
from daemon.review.rules import APPROVED_STATES
from daemon.store import Store, TaskRecord, VariationRecord
from gladtui.atomicfiles import is_temp_name
from gladtui.config import Config
from gladtui.shapes import EventKind, TaskStatus
from tests.harness.soak_work import Drop, Ledger

CDN_FOLDER = "glad-labs"
IN_FLIGHT = (TaskStatus.QUEUED, TaskStatus.GENERATING)
_PNG_OWNER = re.compile(r"\Asdxl-(.+)-variation-(\d+)-\d{8}_\d{6}\.png\Z")


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)

    def fail(self, message: str) -> None:
        self.problems.append(message)


@dataclass
class Snapshot:
    """The store read once: every task, post and event, and the variations that matter."""

    tasks: dict[str, TaskRecord]
    variations: dict[str, list[VariationRecord]]
    posts_by_task: dict[str, list[str]]  # task id -> slugs (a list: duplicates are a finding)
    post_urls: dict[str, str]  # task id -> featured image URL
    slugs: list[str]
    published_events: Counter[str]
    approved_events: Counter[str]

    @classmethod
    def read(cls, store: Store) -> Snapshot:
        tasks = {t.id: t for t in store.tasks.list()}
        variations = {
            t.id: store.variations.list(t.id, include_removed=True)
            for t in tasks.values()
            if t.status is not TaskStatus.INVALID
        }
        posts = store.posts.list()
        by_task: dict[str, list[str]] = {}
        for post in posts:
            by_task.setdefault(post.task_id, []).append(post.slug)
        events = store.events.since(0, limit=1 << 30)
        return cls(
            tasks=tasks,
            variations=variations,
            posts_by_task=by_task,
            post_urls={post.task_id: post.featured_image_url for post in posts},
            slugs=[post.slug for post in posts],
            published_events=Counter(
                e.task_id or "" for e in events if e.kind == EventKind.PUBLISHED
            ),
            approved_events=Counter(
                e.task_id or ""
                for e in events
                if e.kind == EventKind.STATUS_CHANGED and e.to_status is TaskStatus.APPROVED
            ),
        )


def check_store(config: Config, ledger: Ledger, assets: dict[str, bytes]) -> Report:
    """Every invariant, on the store of a dead daemon and the files it left."""
    report = Report()
    with Store.open(copy_of_database(config)) as store:
        snap = Snapshot.read(store)
        if store.ingest_attempts.all():  # a parse was under way at the kill
            report.seen["parse interrupted"] += 1
    check_drops(DropFolder(config.drop_dir), ledger, snap, report)
    check_variations(config.preview_dir, snap, report)
    check_publishing(snap, assets, report)
    check_approvals(ledger, snap, report)
    return report


def copy_of_database(config: Config) -> Path:
    """The database and its write-ahead log as the kill left them, copied aside.

    Opening the file itself would replay the WAL into it and checkpoint it on
    close: the restarted daemon would never have to replay a WAL of its own.
    """
    original = config.database_path
    aside = config.state_dir.parent / "check" / original.name
    aside.parent.mkdir(exist_ok=True)
    for source in (original, original.with_name(original.name + ".wal")):
        target = aside.with_name(source.name)
        target.unlink(missing_ok=True)
        if source.exists():
            shutil.copyfile(source, target)
    return aside


# -- 1. every dropped file is one task or one refusal, and ends in processed/ or failed/


def check_drops(folder: DropFolder, ledger: Ledger, snap: Snapshot, report: Report) -> None:
    by_sha: dict[str, list[TaskRecord]] = {}
    for task in snap.tasks.values():
        by_sha.setdefault(task.source_sha256 or "", []).append(task)
    groups = ledger.by_sha()
    for sha, drops in groups.items():
        made = by_sha.get(sha, [])
        names = {d.name for d in drops}
        if len(made) > 1:
            report.fail(f"{sorted(names)}: one content made {len(made)} tasks {_ids(made)}")
        first = made[0] if made else None
        if first is not None:
            _check_outcome(first, drops[0].valid, names, report)
        for item in drops:
            _check_place(folder, item.name, item.settled, first, report)
    strays = [t.id for sha, ts in by_sha.items() if sha not in groups for t in ts]
    if strays:
        report.fail(f"tasks made from no dropped file: {strays}")
    _check_no_extra_files(folder, {d.name: d for d in ledger.drops}, report)


def _check_outcome(task: TaskRecord, valid: bool, names: set[str], report: Report) -> None:
    if task.source_file not in names:
        report.fail(f"task {task.id}: source {task.source_file!r} is none of {sorted(names)}")
    if valid and task.status is TaskStatus.INVALID:
        report.fail(f"task {task.id}: a valid file was refused: {task.error}")
    if not valid and task.status is not TaskStatus.INVALID:
        report.fail(f"task {task.id}: an invalid file became a {task.status} task")


def _check_place(
    folder: DropFolder, name: str, settled: bool, task: TaskRecord | None, report: Report
) -> None:
    in_root = (folder.root / name).exists()
    done = [f for f in (folder.processed, folder.failed) if (f / name).exists()]
    if not in_root and not done:
        report.fail(f"{name}: lost (neither in the drop folder nor moved)")
    if len(done) > 1:
        report.fail(f"{name}: in both processed/ and failed/")
    if in_root:
        report.seen["file committed, not yet moved" if task else "file not yet ingested"] += 1
        if settled:
            report.fail(f"{name}: still in the drop folder after the daemon settled")
        if done:  # only between link and unlink; the next start must not make a second copy
            report.seen["file in the drop folder and moved"] += 1
        return
    if task is None:
        if done:
            report.fail(f"{name}: moved out of the drop folder, but no task was stored")
        return
    wanted = folder.failed if task.status is TaskStatus.INVALID else folder.processed
    if done and done[0] != wanted:
        report.fail(f"{name}: in {done[0].name}/, task {task.id} is {task.status}")
    reason = folder.failed / f"{name}.error.txt"
    if wanted == folder.failed and done and not _text(reason).strip():
        report.fail(f"failed/{name}: refused, but {reason.name} is missing or empty")


def _check_no_extra_files(folder: DropFolder, drops: dict[str, Drop], report: Report) -> None:
    """A second copy (`d00001-2.yaml`) or a file nobody dropped is a finding."""
    for moved in (folder.processed, folder.failed):
        if not moved.exists():
            continue
        for path in moved.iterdir():
            name = path.name.removesuffix(".error.txt")
            writing = _reason_being_written(path.name)
            if writing in drops and not drops[writing].settled and (folder.root / writing).exists():
                report.seen["refusal's reason half-written"] += 1  # its move is redone
            elif name not in drops:
                report.fail(f"{moved.name}/{path.name}: no such file was dropped")
            elif path.name.endswith(".error.txt") and not (moved / name).exists():
                report.fail(f"{moved.name}/{path.name}: the refusal has no file beside it")


# -- 2. a task in review has exactly its variations, every PNG present, no orphans --------


def check_variations(previews: Path, snap: Snapshot, report: Report) -> None:
    referenced: set[str] = set()
    for task_id, rows in snap.variations.items():
        task = snap.tasks[task_id]
        referenced |= {Path(v.path).name for v in rows}
        indexes = [v.idx for v in rows]
        if task.status in IN_FLIGHT:
            if task.status is TaskStatus.GENERATING:
                report.seen["task generating"] += 1
            if 0 < len(rows) < task.variations:
                report.seen["task partly generated"] += 1
            if not set(indexes) <= set(range(1, task.variations + 1)):
                report.fail(f"task {task_id}: {task.status} with variations {indexes}")
        elif indexes != list(range(1, task.variations + 1)):
            report.fail(f"task {task_id} ({task.status}): variations {indexes}, "
                        f"asked for {task.variations}")  # fmt: skip
        for row in rows:
            _check_variation_files(task, row, report)
    for path in previews.glob("*.png") if previews.exists() else []:
        if path.name in referenced:
            continue
        owner = _PNG_OWNER.match(path.name)
        made_for = snap.tasks.get(owner[1]) if owner else None
        if made_for is not None and made_for.status in IN_FLIGHT:
            report.seen["orphan PNG of a task in generation"] += 1  # its rerun deletes it
        else:
            report.fail(f"{path.name}: a PNG that no variation row names")


def _check_variation_files(task: TaskRecord, row: VariationRecord, report: Report) -> None:
    if row.removed_at is not None or not Path(row.path).is_file():
        report.fail(f"task {task.id} variation {row.idx}: {row.path} is missing")
    if row.thumbnail is not None and not Path(row.thumbnail).is_file():
        report.fail(f"task {task.id} variation {row.idx}: thumbnail {row.thumbnail} is missing")
    if task.seed is not None and row.seed != task.seed + row.idx - 1:
        report.fail(f"task {task.id} variation {row.idx}: seed {row.seed}, not base + index")


# -- 3. a published task has one post and one CDN asset, with the chosen bytes ------------


def check_publishing(snap: Snapshot, assets: dict[str, bytes], report: Report) -> None:
    if len(set(snap.slugs)) != len(snap.slugs):
        repeated = [s for s, n in Counter(snap.slugs).items() if n > 1]
        report.fail(f"post slugs not unique: {repeated}")
    by_task = _assets_by_task(assets, report)
    for task_id in set(by_task) | set(snap.posts_by_task):
        if task_id not in snap.tasks:
            report.fail(f"an asset or a post for a task that does not exist: {task_id}")
    for task in snap.tasks.values():
        stored = by_task.get(task.id, [])
        if len(stored) > 1:
            report.fail(f"task {task.id}: {len(stored)} CDN assets {sorted(stored)}")
        if task.status is TaskStatus.PUBLISHED:
            _check_published(task, snap, stored, assets, report)
            continue
        if task.id in snap.posts_by_task:
            report.fail(f"task {task.id} is {task.status} but has a post")
        if stored and task.status not in APPROVED_STATES:
            report.fail(f"task {task.id} is {task.status} but its image is on the CDN")
        elif stored:
            report.seen["image uploaded, post not yet made"] += 1


def _assets_by_task(assets: dict[str, bytes], report: Report) -> dict[str, list[str]]:
    """Asset ids are `{folder}/{task id}-{sha256[:16]}`: group them by task."""
    grouped: dict[str, list[str]] = {}
    for public_id in assets:
        found = re.fullmatch(rf"{CDN_FOLDER}/(.+)-[0-9a-f]{{16}}", public_id)
        if found is None:
            report.fail(f"CDN asset {public_id!r} is not named after a task")
            continue
        grouped.setdefault(found[1], []).append(public_id)
    return grouped


def _check_published(
    task: TaskRecord,
    snap: Snapshot,
    stored: list[str],
    assets: dict[str, bytes],
    report: Report,
) -> None:
    slugs = snap.posts_by_task.get(task.id, [])
    if len(slugs) != 1:
        report.fail(f"task {task.id} is published with {len(slugs)} posts {slugs}")
    elif not re.fullmatch(rf"{re.escape(base_slug(task.title))}(-\d+)?", slugs[0]):
        report.fail(f"task {task.id}: slug {slugs[0]!r} is not made from {task.title!r}")
    if snap.published_events[task.id] != 1:
        report.fail(f"task {task.id}: {snap.published_events[task.id]} `published` events")
    chosen = [v for v in snap.variations.get(task.id, []) if v.selected]
    if len(stored) != 1 or len(chosen) != 1:
        report.fail(f"task {task.id}: {len(stored)} assets, {len(chosen)} selected variations")
        return
    if assets[stored[0]] != Path(chosen[0].path).read_bytes():
        report.fail(f"task {task.id}: the CDN holds other bytes than variation {chosen[0].idx}")
    if not snap.post_urls.get(task.id, "").endswith(f"/{stored[0]}.png"):
        report.fail(f"task {task.id}: the post's image is not {stored[0]}")


# -- 4. no approval is lost, none is made twice -------------------------------------------


def check_approvals(ledger: Ledger, snap: Snapshot, report: Report) -> None:
    for task in snap.tasks.values():
        approval = ledger.approvals.get(task.id)
        if task.status in APPROVED_STATES and approval is None:
            report.fail(f"task {task.id} is {task.status}, but nobody approved it")
        if snap.approved_events[task.id] > 1:
            report.fail(f"task {task.id} was approved {snap.approved_events[task.id]} times")
    for approval in ledger.approvals.values():
        found = snap.tasks.get(approval.task_id)
        if found is None:
            report.fail(f"approved task {approval.task_id} does not exist")
            continue
        task = found
        chosen = [v.idx for v in snap.variations.get(task.id, []) if v.selected]
        if approval.accepted is None and task.status is TaskStatus.REVIEW:
            report.seen["approval lost with its answer"] += 1  # never committed: fine
            continue
        if task.status not in APPROVED_STATES or chosen != [approval.variation]:
            report.fail(
                f"task {task.id}: approval of variation {approval.variation} "
                f"({'answered' if approval.accepted else 'answer lost'}) but the task is "
                f"{task.status} with {chosen} selected"
            )
        elif approval.settled and task.status is not TaskStatus.PUBLISHED:
            report.fail(f"task {task.id}: approved and settled, yet {task.status}")
        elif task.status is not TaskStatus.PUBLISHED:
            report.seen["approved, not yet published"] += 1


# -- after a settle, with the daemon alive --------------------------------------------------


def check_folders(config: Config, *, generating: bool) -> list[str]:
    """Nothing left half-done on disk once the daemon has settled.

    `generating`: generation may still be under way, so temp files are expected.
    """
    problems = []
    waiting = waiting_files(config)
    if waiting:
        problems.append(f"still in the drop folder after settling: {waiting}")
    for where in () if generating else (config.preview_dir, config.thumbnail_dir):
        temps = sorted(p.name for p in where.glob(".*") if is_temp_name(p.name))
        if temps:
            problems.append(f"temporary files left in {where}: {temps}")
    return problems


def _reason_being_written(name: str) -> str:
    """`x.yaml` for `.x.yaml.error.txt.tmp`, the temp name of a reason (else "")."""
    if name.startswith(".") and name.endswith(".error.txt.tmp"):
        return name[1 : -len(".error.txt.tmp")]
    return ""


def waiting_files(config: Config) -> list[str]:
    """Task files still in the drop folder (listed, not DropFolder.scan: that renames some)."""
    return sorted(p.name for p in config.drop_dir.iterdir() if is_candidate_name(p.name))


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _ids(tasks: list[TaskRecord]) -> list[str]:
    return sorted(t.id for t in tasks)
