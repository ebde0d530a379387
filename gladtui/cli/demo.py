"""`gladtui demo`: the whole system on the sample tasks, in a throwaway workspace.

The daemon (tiny built-in model) runs as a subprocess in its own session, so a
Ctrl-C reaches only the demo, which then stops it cleanly, and writes to
daemon.log, so it never draws over the TUI. The samples of examples/ go in
through `gladtui submit`'s code path at a quick size, beside the invalid
examples/invalid/typo.yaml. The first muffins task is approved, so the second,
with the same title, shows how a taken slug is handled (`-2`). Then the TUI
opens (or, headless, the demo waits for the samples and prints them). Whatever
happens, the daemon is stopped and the folder removed at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from gladtui.cli.submit import submit_file
from gladtui.client import Client, ClientError, client_for
from gladtui.config import Config, load_config
from gladtui.shapes import TaskStatus
from gladtui.taskfile import TaskFileError

if TYPE_CHECKING:
    from gladtui.shapes import TaskSummaryJSON

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
INVALID_SAMPLE = EXAMPLES / "invalid" / "typo.yaml"
FIRST_SAMPLE = "muffins.yaml"  # submitted and approved first: its twin then gets `-2`
SIZE, STEPS = 256, 4  # the tiny model draws noise at any size; small keeps the demo quick
GRACE = 5  # seconds: long enough to try undo, short enough to see a decision take effect
START_TIMEOUT, READY_TIMEOUT, STOP_TIMEOUT = 60.0, 300.0, 60.0  # seconds
POLL_SECONDS = 0.2
MAX_SOCKET_PATH_BYTES = 107  # sun_path is 108 bytes with its terminating NUL
LOG_TAIL_LINES = 20
CONFIG = f"""\
# Written by `gladtui demo`: everything lives in this folder.
drop_dir: drop
preview_dir: previews
state_dir: state
cache_dir: cache
socket: {{socket}}
generation:
  model: builtin:tiny-sdxl
  steps: {STEPS}
  width: {SIZE}
  height: {SIZE}
publishing:
  grace_seconds: {GRACE}      # u undoes a decision for this long
"""
QUIT_NOTE = "quit the demo: stops its daemon and deletes its workspace (unless --keep)"

Tasks = dict[str, "TaskSummaryJSON"]


class DemoError(Exception):
    """The demo cannot go on; the message says why."""


def run_demo(*, keep: bool, headless: bool) -> int:
    """The `gladtui demo` command; returns its exit status."""
    if not headless and not sys.stdout.isatty():
        _say("needs a terminal; try --headless")
        return 2
    if not INVALID_SAMPLE.is_file():  # installed without the repository
        _say(f"no sample tasks in {EXAMPLES}: run the demo from a clone of the repository")
        return 1
    _unwind_on_signals()
    workspace = Path(tempfile.mkdtemp(prefix="gladtui-demo-"))
    socket = _socket_path(workspace)
    daemon: subprocess.Popen[bytes] | None = None
    try:
        (workspace / "config.yaml").write_text(CONFIG.format(socket=socket), encoding="utf-8")
        config = load_config(workspace / "config.yaml")
        daemon = _start_daemon(workspace)
        _run(config, daemon, workspace, headless)
        return 0
    except (DemoError, ClientError) as exc:  # ClientError: the daemon refused or went away
        _say(str(exc))
        return 1
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    finally:
        _stop(daemon)
        _leave(workspace, keep, socket)


def _run(config: Config, daemon: subprocess.Popen[bytes], workspace: Path, headless: bool) -> None:
    client, until = client_for(config), partial(_until, daemon, workspace)
    _say(f"starting a daemon with the tiny model in {workspace} (log: daemon.log)")
    until(START_TIMEOUT, _waiting_for(client, {}))  # until it answers
    first, *others = _small_samples(workspace / "samples")
    # The first sample is queued before the others, so it is generated first.
    first_id = _submit(config, first)
    until(START_TIMEOUT, _waiting_for(client, {first_id: None}))
    ids = [first_id, *(_submit(config, sample) for sample in others)]
    # cp -p: the copy's mtime is older than its ctime, the daemon's sign of a complete file.
    shutil.copy2(INVALID_SAMPLE, config.drop_dir / INVALID_SAMPLE.name)
    _say(f"submitted {len(ids)} samples and {INVALID_SAMPLE.name}; generating {first_id}")
    until(READY_TIMEOUT, _waiting_for(client, {first_id: TaskStatus.REVIEW}))
    client.approve(first_id, 1)
    if headless:
        wanted = dict.fromkeys(ids, TaskStatus.REVIEW) | {first_id: TaskStatus.PUBLISHED}
        until(READY_TIMEOUT, _waiting_for(client, wanted, invalid=True))
        print(_summary(_tasks(client)))
        return
    _say(f"approved {first_id}; opening the review TUI (q quits and ends the demo)")
    from gladtui.tui import run  # loads Textual: only now, and only here

    run(config, quit_note=QUIT_NOTE)


def _socket_path(workspace: Path) -> Path:
    """The daemon's socket: in the workspace, unless a long $TMPDIR makes that path longer
    than a Unix socket's 107 bytes; then in a short folder of its own under /tmp (the
    daemon makes it again if it is gone when a kept workspace is reused)."""
    inside = workspace / "daemon.sock"
    if len(bytes(inside)) <= MAX_SOCKET_PATH_BYTES:
        return inside
    return Path(tempfile.mkdtemp(prefix="gladtui-demo-", dir="/tmp")) / "daemon.sock"


def _start_daemon(workspace: Path) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).parent / "gladtui"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gladtui.cli.main"]
    (temp := workspace / "tmp").mkdir()
    with (workspace / "daemon.log").open("wb") as log:
        return subprocess.Popen(
            [*command, "--config", str(workspace / "config.yaml"), "daemon"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own TMPDIR: what torch leaves in temp (torchinductor_*) goes with the workspace.
            env={**os.environ, "TRANSFORMERS_VERBOSITY": "error", "TMPDIR": str(temp)},
            start_new_session=True,
        )


def _until(
    daemon: subprocess.Popen[bytes], workspace: Path, timeout: float, check: Callable[[], str]
) -> None:
    """Call `check` until it returns "" (done); otherwise it says what is still missing."""
    deadline = time.monotonic() + timeout
    while missing := check():
        if daemon.poll() is not None:
            raise DemoError(f"the daemon exited ({daemon.returncode}){_log_tail(workspace)}")
        if time.monotonic() > deadline:
            raise DemoError(f"waited {timeout:g} s for {missing}{_log_tail(workspace)}")
        time.sleep(POLL_SECONDS)


def _waiting_for(
    client: Client, wanted: Mapping[str, str | None], invalid: bool = False
) -> Callable[[], str]:
    """A check for `_until`: each task in `wanted` has its status (None: exists at all),
    and with `invalid`, the invalid sample is recorded. A failed task ends the wait."""

    def check() -> str:
        try:
            tasks = _tasks(client)
        except ClientError as exc:
            return f"the daemon to answer ({exc})"
        for task in tasks.values():
            if task["status"] == TaskStatus.FAILED and task["id"] in wanted:
                raise DemoError(f"task {task['id']} failed: {task['error']}")
        have = {task_id: task["status"] for task_id, task in tasks.items()}
        missing = [
            f"{task_id} ({have.get(task_id, 'not there yet')})"
            for task_id, status in wanted.items()
            if task_id not in have or status not in (None, have[task_id])
        ]
        refused = {t["source_file"] for t in tasks.values() if t["status"] == TaskStatus.INVALID}
        if invalid and INVALID_SAMPLE.name not in refused:
            missing.append(f"{INVALID_SAMPLE.name} to be recorded as invalid")
        return ", ".join(missing)

    return check


def _tasks(client: Client) -> Tasks:
    return {task["id"]: task for task in client.tasks(limit=100)["tasks"]}


def _small_samples(folder: Path) -> list[Path]:
    """Copies of examples/*.yaml at the demo's size, the first sample first.

    Only the top-level `width`, `height` and `steps` lines change, so the
    copies keep their comments and read like the examples. A sample without
    them gets the config's defaults, which are the demo's size already.
    """
    folder.mkdir()
    copies = []
    for source in sorted(EXAMPLES.glob("*.yaml"), key=lambda p: (p.name != FIRST_SAMPLE, p.name)):
        text = source.read_text(encoding="utf-8")
        text = re.sub(r"(?m)^(width|height):.*$", rf"\1: {SIZE}", text)
        text = re.sub(r"(?m)^steps:.*$", f"steps: {STEPS}", text)
        (copy := folder / source.name).write_text(text, encoding="utf-8")
        copies.append(copy)
    return copies


def _submit(config: Config, sample: Path) -> str:
    """`gladtui submit`'s path: validated here, then placed in the drop folder atomically."""
    try:
        placed = submit_file(sample, config.drop_dir, rules=config.task_rules())
    except (TaskFileError, OSError) as exc:
        raise DemoError(f"cannot submit the sample {sample.name}: {exc}") from exc
    return placed.task.spec.id


def _summary(tasks: Tasks) -> str:
    rows = sorted(tasks.values(), key=lambda t: (t["created_at"], t["id"]))
    table = [("ID", "STATUS", "SLUG", "TITLE")]
    table += [(t["id"], t["status"], t["slug"], t["title"]) for t in rows]
    widths = [max(len(row[n]) for row in table) for n in range(3)]
    lines = ["  ".join([*(row[n].ljust(widths[n]) for n in range(3)), row[3]]) for row in table]
    lines += [f"{t['id']} was refused: {t['error']}" for t in rows if t["error"]]
    return "\n".join(lines)


def _log_tail(workspace: Path) -> str:
    lines = (workspace / "daemon.log").read_text(errors="replace").splitlines()
    return "; the end of daemon.log:\n" + "\n".join(f"  {n}" for n in lines[-LOG_TAIL_LINES:])


def _stop(daemon: subprocess.Popen[bytes] | None) -> None:
    if daemon is None or daemon.poll() is not None:
        return
    daemon.terminate()
    try:
        daemon.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()


def _leave(workspace: Path, keep: bool, socket: Path) -> None:
    if keep:
        config = workspace / "config.yaml"
        print(
            f"gladtui demo: kept the workspace {workspace}\n"
            f"  to review it again: `gladtui --config {config} daemon` in one terminal,\n"
            f"  then `gladtui --config {config}` in another; remove the folder when done"
        )
        return
    if not socket.is_relative_to(workspace):
        shutil.rmtree(socket.parent, ignore_errors=True)
    try:
        shutil.rmtree(workspace)
    except OSError as exc:
        _say(f"could not remove {workspace}: {exc}")
    else:
        _say(f"stopped the daemon and removed {workspace}")


def _unwind_on_signals() -> None:
    """SIGTERM, and SIGHUP when the terminal closes, unwind through the cleanup as Ctrl-C
    does: the daemon is in a session of its own and would otherwise run on, orphaned."""

    def unwind(signum: int, frame: FrameType | None) -> NoReturn:
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, unwind)


def _say(message: str) -> None:
    # stderr: with --headless, stdout carries only the summary (and --keep's note).
    print(f"gladtui demo: {message}", file=sys.stderr, flush=True)
