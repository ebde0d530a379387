"""The connection flood of issue 29: idle connections from another user, held open.

A daemon (`gladtui daemon`, the tiny model) runs with a chosen open-file limit.
A child process running as nobody, whom `api.allowed_users` admits, keeps N
connections open that send nothing, and opens a new one whenever the daemon
closes one (as a stuck or hostile client would). Meanwhile the daemon's own
user runs `gladtui tasks` and drops a task file. Printed: what `gladtui tasks`
did, whether the file was ingested, and how much the daemon logged, during the
flood and after it ends. Root only (the flood runs as another user).

    .venv/bin/python bench/connflood.py [--connections 1020] [--nofile 1024:1024]
        [--seconds 60] [--source DIR] [--json PATH]

`--source DIR` runs the daemon and the CLI from another checkout, e.g. the code
before the fix: `git archive COMMIT | tar -x -C /tmp/old`. The flood reconnects
as fast as the daemon closes its connections, so it also measures the cost of
refusing: the connections opened and answered 503 are counted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import Row, add_json_option, row, write_rows  # noqa: E402

NOBODY = 65534
INGEST_WAIT = 30.0
LAST_LOG = Path("/tmp/gt-flood-last.log")  # the daemon's log of the last run, kept


@dataclass
class Phase:
    name: str
    tasks: str  # what `gladtui tasks` did
    ingest: str  # what became of a dropped file


def command(source: Path | None) -> list[str]:
    """`gladtui` from this checkout, or from `source`."""
    if source is None:
        return [str(Path(sys.executable).parent / "gladtui")]
    code = f"import sys; sys.path.insert(0, {str(source)!r}); from gladtui.cli.main import main; "
    return [sys.executable, "-c", code + "sys.exit(main())"]


def write_config(root: Path) -> Path:
    config = root / "config.yaml"
    config.write_text(
        "drop_dir: drop\nstate_dir: state\npreview_dir: previews\ncache_dir: cache\n"
        "socket: run/daemon.sock\n"
        "generation: {model: 'builtin:tiny-sdxl', device: cpu}\n"
        f"api: {{allowed_users: [{NOBODY}]}}\n"
    )
    return config


def limit_files(soft: int, hard: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def start_daemon(
    gladtui: list[str], config: Path, log: Path, nofile: tuple[int, int]
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [*gladtui, "--config", str(config), "daemon"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"},
            preexec_fn=lambda: limit_files(*nofile),
        )


def run_tasks(gladtui: list[str], config: Path) -> str:
    started = time.monotonic()
    try:
        done = subprocess.run(
            [*gladtui, "--config", str(config), "tasks"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        return "no answer in 120 s"
    took = time.monotonic() - started
    if done.returncode == 0:
        return f"listed the tasks in {took:.2f} s"
    last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
    return f"failed after {took:.1f} s (exit {done.returncode}): {last[:160]}"


def drop_and_wait(drop: Path, name: str) -> str:
    (drop / f"{name}.yaml").write_text(
        f"title: {name}\nprompt: a muffin\nvariations: 1\nsteps: 2\nwidth: 64\nheight: 64\n"
    )
    started = time.monotonic()
    while time.monotonic() - started < INGEST_WAIT:
        if (drop / "processed" / f"{name}.yaml").exists():
            return f"ingested in {time.monotonic() - started:.1f} s"
        error = drop / "failed" / f"{name}.yaml.error.txt"
        if error.exists():
            return f"refused: {error.read_text().strip()[:160]}"
        time.sleep(0.1)
    return f"not ingested in {INGEST_WAIT:.0f} s"


def wait_healthy(gladtui: list[str], config: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(
            [*gladtui, "--config", str(config), "status"], capture_output=True, timeout=120
        )
        if done.returncode == 0:
            return True
        time.sleep(0.5)
    return False


def flood(path: str, count: int, stop: int, report: int) -> None:
    """As nobody (a forked child): hold `count` idle connections until `stop` closes."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    selector = selectors.DefaultSelector()
    selector.register(stop, selectors.EVENT_READ)
    held: set[socket.socket] = set()
    opened = refused = closed = connect_failures = 0
    while True:
        while len(held) < count:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.connect(path)
            except OSError:  # the daemon's backlog is full (EAGAIN): later
                sock.close()
                connect_failures += 1
                time.sleep(0.01)
                break
            selector.register(sock, selectors.EVENT_READ)
            held.add(sock)
            opened += 1
        for key, _ in selector.select(timeout=0.2):
            if key.fd == stop:
                os.write(report, f"{opened} {refused} {closed} {connect_failures}".encode())
                os._exit(0)
            sock = key.fileobj  # type: ignore[assignment]
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            refused += data.startswith(b"HTTP/1.1 503")
            closed += 1
            selector.unregister(sock)
            held.discard(sock)
            sock.close()


def start_flood(path: Path, count: int) -> tuple[int, int, int]:
    """The child's pid, the pipe end to close to stop it, the pipe end its report comes on."""
    stop_read, stop_write = os.pipe()
    report_read, report_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(stop_write)
        os.close(report_read)
        try:
            flood(str(path), count, stop_read, report_write)
        finally:
            os._exit(1)
    os.close(stop_read)
    os.close(report_write)
    return pid, stop_write, report_read


def stop_flood(pid: int, stop: int, report: int) -> str:
    os.close(stop)
    with os.fdopen(report, "rb") as pipe:
        counts = pipe.read().decode().split()
    os.waitpid(pid, 0)
    if len(counts) != 4:
        return "the flood's child failed"
    opened, refused, closed, failures = (int(n) for n in counts)
    return (
        f"{opened:,} connections opened, {closed:,} closed by the daemon "
        f"({refused:,} of them answered 503), {failures:,} connects refused by a full backlog"
    )


def log_figures(log: Path) -> tuple[int, int, int]:
    """The log's size in bytes, its lines, and its `out of system resource` lines."""
    data = log.read_bytes()
    return len(data), data.count(b"\n"), data.count(b"out of system resource")


def experiment(args: argparse.Namespace, root: Path) -> tuple[list[Phase], str, Path]:
    gladtui = command(args.source)
    config = write_config(root)
    log = root / "daemon.log"
    daemon = start_daemon(gladtui, config, log, args.nofile)
    phases: list[Phase] = []
    try:
        if not wait_healthy(gladtui, config, 180):
            raise SystemExit(f"the daemon did not start; see {log}")
        socket_path = root / "run" / "daemon.sock"
        (root / "run").chmod(0o711)  # nobody may reach the socket; allowed_users admits it
        socket_path.chmod(0o666)
        phases.append(Phase("before", run_tasks(gladtui, config), "-"))
        pid, stop, report = start_flood(socket_path, args.connections)
        started = time.monotonic()
        try:
            time.sleep(args.settle)
            phases.append(
                Phase("during", run_tasks(gladtui, config), drop_and_wait(root / "drop", "during"))
            )
            time.sleep(max(0.0, args.seconds - (time.monotonic() - started)))
        finally:
            flood_said = stop_flood(pid, stop, report)
        time.sleep(2)  # the daemon notices the closed connections
        phases.append(
            Phase("after", run_tasks(gladtui, config), drop_and_wait(root / "drop", "after"))
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
    return phases, flood_said, log


def parse_nofile(text: str) -> tuple[int, int]:
    soft, _, hard = text.partition(":")
    return int(soft), int(hard or soft)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1020)
    parser.add_argument(
        "--nofile",
        type=parse_nofile,
        default=(1024, 1024),
        metavar="SOFT:HARD",
        help="the daemon's open-file limit (HARD at most this shell's hard limit)",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the flood lasts")
    parser.add_argument("--settle", type=float, default=10.0, help="flood time before measuring")
    parser.add_argument("--source", type=Path, default=None, help="another checkout to run")
    parser.add_argument("--keep", action="store_true", help="keep the workspace")
    add_json_option(parser)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the flood runs as nobody")
    root = Path(tempfile.mkdtemp(prefix="gt-flood-", dir="/tmp"))
    root.chmod(0o755)  # nobody must reach the socket's folder
    try:
        phases, flood_said, log = experiment(args, root)
        size, lines, storm = log_figures(log)
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.copy(root / "daemon.log", LAST_LOG)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    soft, hard = args.nofile
    print(
        f"daemon: open files {soft}:{hard}; flood: {args.connections} idle connections as "
        f"nobody for {args.seconds:.0f} s; code: {args.source or ROOT}"
    )
    for phase in phases:
        print(f"  {phase.name:>6}: gladtui tasks {phase.tasks}; dropped file {phase.ingest}")
    print(f"  flood: {flood_said}")
    print(
        f"  daemon log: {size:,} bytes, {lines:,} lines, {storm:,} `out of system resource`"
        f" (kept in {LAST_LOG})"
    )
    rows: list[Row] = [
        row("connflood", f"gladtui tasks {p.name} flood", p.tasks, 0) for p in phases
    ]
    rows.append(row("connflood", "daemon log bytes", f"{size:,}", size))
    write_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
