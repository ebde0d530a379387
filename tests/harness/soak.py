"""Crash soak: a real `gladtui daemon` fed a stream of work and killed -9 at chosen moments.

The daemon runs as a subprocess on builtin:tiny-sdxl (64x64, 1-2 steps) and
publishes to a FakeCloudinary served by this process, which outlives every
kill. Each round:

1. feed work aimed at one moment and `kill -9` the daemon there:
   - ingest: right after a burst of drops (written in place or renamed in;
     some byte-identical to earlier drops, some invalid);
   - generation: as soon as a PNG of a new task appears;
   - upload: the CDN has stored the image but stalls its answer, so the
     daemon is between the upload and the commit of the post;
   - db write: in the middle of a burst of approvals over the API, with drops;
2. check every invariant on the dead daemon's store and folders (soak_checks.py);
3. restart it and let it settle: every file ingested, every approval published.

Generation settles only now and then (a "full" settle: no job left at all):
waiting for it every round would cost a model load (about 5 s of importing
torch and diffusers) per kill. Meanwhile generation goes on in the
background and kills land in it too; the checks allow for that.

The moments come from a seeded RNG (printed), so a failure can be replayed;
the exact instant of a kill still depends on the scheduler. Waits are on
conditions; the only timed pauses are the random kill delays themselves.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gladtui.client import ApiError, Client, ClientError
from gladtui.config import Config, load_config
from gladtui.shapes import MAX_PAGE
from tests.apidaemon import wait_until
from tests.fakecloudinary import FakeCloudinary
from tests.harness.soak_checks import Report, check_folders, check_store, waiting_files
from tests.harness.soak_tally import Tally
from tests.harness.soak_work import Drop, Ledger

GLADTUI = Path(sys.executable).parent / "gladtui"
MOMENTS = ("ingest", "generation", "upload", "db write")
PUBLISHING = ("approved", "publishing")
GENERATING = ("queued", "generating")
SETTLE_SECONDS = 180.0  # generous: the machine is shared, and a stuck daemon fails anyway
FULL_SETTLE_EVERY = 8  # rounds; and whenever the tasks awaiting review are restocked
REVIEW_SUPPLY = 6  # fewer tasks than this in review: drop more, and let them be generated
STALL_SECONDS = 20.0  # the CDN's answer comes far later than the kill


def write_config(root: Path, cdn: FakeCloudinary) -> Path:
    path = root / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "drop_dir": "drop", "state_dir": "state", "preview_dir": "previews",
                "cache_dir": "cache", "socket": "run/d.sock",
                # The kills are not the jobs' fault: a job hit by several in a row must
                # not be failed as one that keeps crashing the daemon.
                "generation": {"model": "builtin:tiny-sdxl", "device": "cpu", "batch_size": 2,
                               "max_attempts": 50},
                "publishing": {
                    "publisher": "cloudinary", "retry_base_seconds": 0.05, "max_attempts": 50,
                    "grace_seconds": 0,
                    "cloudinary": {"url": cdn.url, "upload_prefix": cdn.prefix,
                                   "timeout_seconds": 60},
                },
            }
        )
    )  # fmt: skip
    return path


def poll(condition: Callable[[], object], timeout: float = SETTLE_SECONDS) -> None:
    """wait_until, but looking every millisecond: the moments to kill at are short."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.001)


class DaemonProcess:
    """`gladtui daemon` as a child process; its log is appended to `log`."""

    def __init__(self, config_file: Path, client: Client, log: Path) -> None:
        self.config_file = config_file
        self.client = client
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}
        env.pop("CLOUDINARY_URL", None)
        self.starts += 1
        with self.log.open("ab") as log:
            log.write(f"---- start {self.starts}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [str(GLADTUI), "--config", str(self.config_file), "daemon"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        wait_until(self._answers, timeout=60)

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"the daemon exited with {self.process.returncode}; see {self.log}"
            )
        try:
            self.client.health()
        except ClientError:
            return False
        return True

    def kill(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> int:
        """SIGTERM, as systemd stops it: the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        self.process = None
        return code


class Soak:
    """One soak run in `root` (a short /tmp folder: the socket path must stay < 108 bytes)."""

    def __init__(
        self, root: Path, cdn: FakeCloudinary, seed: int, say: Callable[[str], None] = print
    ) -> None:
        self.root, self.cdn, self.say = root, cdn, say
        self.rng = random.Random(seed)
        self.ledger = Ledger(self.rng)
        self.config: Config = load_config(write_config(root, cdn), env={})
        self.client = Client(self.config.socket_path(), timeout=30)
        self.daemon = DaemonProcess(root / "config.yaml", self.client, root / "daemon.log")
        self.tally = Tally(seed)

    # -- the run --------------------------------------------------------------------------

    def run(self, kills: int) -> Tally:
        started = time.monotonic()
        self.say(f"crash soak: seed {self.tally.seed}, {kills} kills, in {self.root}")
        try:
            self._run(kills, started)
        finally:
            self.daemon.kill()  # if a wait ran out, the daemon is still running
            self.tally.elapsed = time.monotonic() - started
        return self.tally

    def _run(self, kills: int, started: float) -> None:
        self.daemon.start()
        self.config.drop_dir.mkdir(parents=True, exist_ok=True)
        self._restock()
        schedule = [MOMENTS[n % len(MOMENTS)] for n in range(kills)]
        self.rng.shuffle(schedule)  # every moment equally often, in a seeded order
        for number, moment in enumerate(schedule, 1):
            if len(self.ledger.review) < REVIEW_SUPPLY:
                self._restock()
            elif number % FULL_SETTLE_EVERY == 0:
                self.settle(full=True)
            self.round(number, moment)
            elapsed = time.monotonic() - started
            self.say(f"round {number}/{kills} ({moment}) done at {elapsed:.0f} s")
        self.settle(full=True)
        self.finish()

    def round(self, number: int, moment: str) -> None:
        aim = getattr(self, "_" + moment.replace(" ", "_"))
        landed = aim()  # ends with the daemon killed
        report = check_store(self.config, self.ledger, self.cdn.assets)
        self.tally.add_kill(moment, landed(report), report)
        self._note(f"round {number} ({moment})", report.problems)
        self.daemon.start()
        self.settle(full=False)

    def _restock(self) -> None:
        """Enough tasks in review for the approvals of the next rounds."""
        for _ in range(REVIEW_SUPPLY + 2):
            self.ledger.drop(self.config.drop_dir, self.ledger.valid_file(), True)
        self.settle(full=True)

    def finish(self) -> None:
        """Stop it cleanly once settled, and check everything as final."""
        code = self.daemon.stop()
        problems = [] if code == 0 else [f"SIGTERM: the daemon exited with {code}"]
        report = check_store(self.config, self.ledger, self.cdn.assets)
        self._note("final check", problems + report.problems)
        self.tally.finish(self.ledger, self.config, self.cdn)

    def settle(self, *, full: bool) -> None:
        """Wait until every file is ingested and every approval published (`full`: and
        nothing is left to generate), check the folders, then learn the lost answers."""
        try:
            wait_until(lambda: self._settled(full), timeout=SETTLE_SECONDS)
        except AssertionError:
            status = self.client.status()
            self._note(
                "settle", [f"did not settle: tasks {status['tasks']}, jobs {status['jobs']}"]
            )
            raise
        self._note("after settling", check_folders(self.config, generating=not full))
        self._resolve_lost_answers()
        self.ledger.settle_everything()

    def _settled(self, full: bool) -> bool:
        status = self.client.status()
        jobs, tasks = status["jobs"], status["tasks"]
        busy = sum(tasks[s] for s in PUBLISHING)
        if full:
            busy += jobs["pending"] + jobs["running"] + sum(tasks[s] for s in GENERATING)
        return busy == 0 and not waiting_files(self.config)

    def _resolve_lost_answers(self) -> None:
        """An approval whose answer died with the daemon either happened or did not."""
        for approval in list(self.ledger.approvals.values()):
            if approval.accepted is None:
                status = self.client.task(approval.task_id)["status"]
                if status == "review":  # never committed: it may be approved again
                    del self.ledger.approvals[approval.task_id]
                else:
                    approval.accepted = True  # the checks hold it to its promise
        page = self.client.tasks(status=["review"], limit=MAX_PAGE)["tasks"]
        approved = self.ledger.approvals
        self.ledger.review = {
            t["id"]: t["variations_requested"] for t in page if t["id"] not in approved
        }

    def _note(self, where: str, problems: list[str]) -> None:
        """Record each violation once: a broken file stays broken in every later check."""
        for problem in problems:
            if problem not in self.tally.violations:
                self.say(f"VIOLATION ({where}): {problem}")
                self.tally.violations.append(problem)

    # -- the moments: each feeds work, kills, and says how to tell that the kill landed ----

    def _ingest(self) -> Callable[[Report], bool]:
        self._approve_some(self.rng.randint(0, 2))
        burst = self.ledger.burst(self.config.drop_dir, self.rng.randint(4, 10))
        how = self.rng.choice(("moving", "moved", "instant"))
        if how == "moving":  # as the first file of the burst arrives in processed/ or failed/
            poll(lambda: self._moved(burst) > 0)
        elif how == "moved":  # after some of the burst, at least one still to go
            some = self.rng.randint(1, len(burst) - 1)
            poll(lambda: self._moved(burst) >= some)
        else:  # at a random instant: before, during or after the parse of the burst
            time.sleep(self.rng.uniform(0.05, 0.5))
        self.daemon.kill()
        left = sum((self.config.drop_dir / d.name).exists() for d in burst)
        return lambda report: (
            left > 0  # the kill came before the daemon was done with the burst
            or report.seen["file committed, not yet moved"] > 0
            or report.seen["parse interrupted"] > 0
        )

    def _moved(self, burst: list[Drop]) -> int:
        folders = (self.config.drop_dir / "processed", self.config.drop_dir / "failed")
        return sum((f / d.name).exists() for f in folders for d in burst)

    def _generation(self) -> Callable[[Report], bool]:
        self._approve_some(self.rng.randint(0, 2))
        drop, new_task = self.config.drop_dir, self.ledger.valid_file
        fresh = [
            self.ledger.drop(drop, new_task(variations=self.rng.randint(3, 5)), True)
            for _ in range(self.rng.randint(1, 2))
        ]
        prefixes = tuple(f"sdxl-{d.name.removesuffix('.yaml')}-variation-" for d in fresh)
        wanted = self.rng.randint(1, 2)  # the first or the second PNG of these tasks
        poll(lambda: self._pngs(prefixes) >= wanted)
        self.daemon.kill()
        return lambda report: (
            report.seen["task partly generated"] + report.seen["orphan PNG of a task in generation"]
            > 0
        )

    def _pngs(self, prefixes: tuple[str, ...]) -> int:
        previews = self.config.preview_dir
        if not previews.exists():
            return 0
        return sum(p.name.startswith(prefixes) and p.suffix == ".png" for p in previews.iterdir())

    def _upload(self) -> Callable[[Report], bool]:
        [(task_id, variation)] = self.ledger.pick_for_approval(1)
        self.cdn.stall_after_store(STALL_SECONDS)
        self._approve(task_id, variation)
        prefix = f"glad-labs/{task_id}-"
        poll(lambda: any(k.startswith(prefix) for k in list(self.cdn.assets)))
        self.daemon.kill()
        while self.cdn.next_fault() is not None:  # an unused stall must not hit a later upload
            pass
        return lambda report: report.seen["image uploaded, post not yet made"] > 0

    def _db_write(self) -> Callable[[Report], bool]:
        chosen = self.ledger.pick_for_approval(self.rng.randint(2, 6))
        answered = threading.Semaphore(0)
        dead = threading.Event()

        def approve_all() -> None:
            for task_id, variation in chosen:
                if dead.is_set():  # never sent; settling puts it back in the review pool
                    return
                self._approve(task_id, variation)
                answered.release()

        burst = threading.Thread(target=approve_all, name="approvals")
        burst.start()
        self.ledger.burst(self.config.drop_dir, self.rng.randint(0, 4))
        for _ in range(self.rng.randint(1, len(chosen))):  # kill after the k-th answer
            answered.acquire(timeout=30)
        time.sleep(self.rng.uniform(0.0, 0.03))
        self.daemon.kill()
        dead.set()
        burst.join(timeout=60)
        return lambda report: (
            report.seen["approved, not yet published"]
            + report.seen["approval lost with its answer"]
            > 0
        )

    # -- approvals ----------------------------------------------------------------------

    def _approve_some(self, count: int) -> None:
        for task_id, variation in self.ledger.pick_for_approval(count):
            self._approve(task_id, variation)

    def _approve(self, task_id: str, variation: int) -> Any:
        try:
            answer = self.client.approve(task_id, variation)
        except ApiError as exc:
            self._note("approve", [f"approving {task_id} in review was refused: {exc.message}"])
            return None
        except ClientError:  # the daemon died under the request: committed or not
            self.ledger.record_approval(task_id, variation, None)
            return None
        self.ledger.record_approval(task_id, variation, True)
        return answer
