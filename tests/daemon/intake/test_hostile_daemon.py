"""Hostile inputs against a running `gladtui daemon` process: its drop folder and its API.

One real daemon subprocess for the module (a process, so its memory can be
read from /proc), the tiny model, real files, raw HTTP on the Unix socket; no
mocks. The hostile corpus and the words each refusal must contain come from
tests/gladtui/test_taskfile.py; what cannot be committed (a symlink, a FIFO, a folder
named x.yaml, an oversized file, names that are not UTF-8) is made here.

tests/daemon/api/test_api.py already covers, in-process: malformed JSON, a list body, an
unknown field and wrong types on approve, 413 on POST /api/tasks, 404 for an
unknown task or endpoint, 405 (status only), approving a missing variation or
a queued task, bad list filters. This file covers the rest, end to end.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.intake.dropfolder import DropFolder
from tests.apidaemon import http_json, short_dir, task_yaml
from tests.gladtui.test_taskfile import HOSTILE, HOSTILE_DIR

GLADTUI = Path(sys.executable).parent / "gladtui"
ROUNDS = 5  # each: the 74 corpus files, 6 odd ones, a good file after every GOOD_EVERY
GOOD_EVERY = 8
MAX_REQUEST = 128 << 10  # api.max_request_bytes: small, so a 413 is cheap to provoke
CONFIG = f"""\
drop_dir: drop
state_dir: state
preview_dir: previews
cache_dir: cache
socket: run/d.sock
generation: {{model: "builtin:tiny-sdxl", device: cpu}}
api: {{max_request_bytes: {MAX_REQUEST}}}
"""


class Daemon:
    """`gladtui daemon` as a service runs it; its log (at debug: tracebacks in full) in a file."""

    def __init__(self, root: Path) -> None:
        self.root, self.drop, self.socket = root, root / "drop", root / "run" / "d.sock"
        self.log = root / "daemon.log"
        (root / "config.yaml").write_text(CONFIG)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(GLADTUI), "--config", str(root / "config.yaml"), "daemon",
                 "--log-level", "debug"],
                stdout=subprocess.DEVNULL, stderr=log,
                # One torch thread: 64x64 images gain nothing from more, and a thread pool
                # per core made each one take seconds on a busy machine.
                env={**os.environ, "TRANSFORMERS_VERBOSITY": "error", "OMP_NUM_THREADS": "1"},
            )  # fmt: skip

    def wait(self, condition: Callable[[], object], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process.poll() is None, f"the daemon exited: {self.log.read_text()}"
            assert time.monotonic() < deadline, "condition not met in time"
            time.sleep(0.02)

    def raw(self, method: str, url: str, body: bytes | dict[str, Any] | None = None) -> Any:
        return http_json(self.socket, method, url, body)

    def task(self, task_id: str) -> dict[str, Any] | None:
        status, body = self.raw("GET", f"/api/tasks/{task_id}")
        return body if status == 200 else None

    def wait_status(self, task_id: str, *statuses: str) -> dict[str, Any]:
        self.wait(lambda: (self.task(task_id) or {}).get("status") in statuses)
        return self.task(task_id) or {}

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kb = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(kb) / 1024


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    running = Daemon(short_dir("gth-"))
    try:
        running.wait(lambda: model_settled(running), timeout=120)
        yield running
        assert running.process.poll() is None, "the daemon exited under hostile input"
        running.process.terminate()
        assert running.process.wait(timeout=60) == 0
    finally:
        if running.process.poll() is None:
            running.process.kill()
        shutil.rmtree(running.root, ignore_errors=True)


def model_settled(d: Daemon) -> bool:
    try:
        return bool(d.raw("GET", "/api/status")[1]["model"]["state"] == "idle")
    except OSError:  # not listening yet
        return False


def put(folder: Path, name: str, data: bytes) -> None:
    """Drop a file the way careful programs do (write, age the mtime, rename): taken at once."""
    temporary = folder / f".{name}.tmp"
    temporary.write_bytes(data)
    os.utime(temporary, (time.time() - 5, time.time() - 5))
    temporary.rename(folder / name)


def not_utf8(name: str) -> str:
    """`name` with its é as the one Latin-1 byte 0xE9 (spelt as os.listdir would: escaped)."""
    return name.replace("é", "\udce9")


# -- the drop folder ------------------------------------------------------------------------


def drop_round(d: Daemon, n: int) -> tuple[dict[str, str], dict[str, bytes], list[str]]:
    """Round n of the corpus, good files interleaved: (name -> words, name -> bytes, good ids)."""
    prefix = f"r{n}-"
    # Fresh bytes each round (a comment at the end, which changes no refusal), or
    # rounds 2.. would only be duplicates of round 1 and nothing would be parsed.
    marker = b"" if n == 1 else f"\n# round {n}\n".encode()
    words: dict[str, str] = {}
    kept: dict[str, bytes] = {}
    goods: list[str] = []
    for i, name in enumerate(sorted(HOSTILE)):
        kept[prefix + name] = (HOSTILE_DIR / name).read_bytes() + marker
        words[prefix + name] = HOSTILE[name]
        put(d.drop, prefix + name, kept[prefix + name])
        if i % GOOD_EVERY == GOOD_EVERY - 1:
            goods.append(f"{prefix}good-{i}")
            put(d.drop, f"{goods[-1]}.yaml", task_yaml(f"R{n} good {i}", variations=1, steps=1))
            # Ingested before the next files come: the daemon keeps up throughout.
            d.wait(lambda: d.task(goods[-1]) is not None)
    # A name that is not UTF-8 once made its whole batch fail, at every rescan.
    put(d.drop, not_utf8(f"{prefix}café.yaml"), task_yaml(f"R{n} latin-1 name", variations=1))
    goods.append(f"{prefix}caf-e9")  # renamed to r1-caf%E9.yaml first
    bad_name = kept[f"{prefix}bad%E9.yaml"] = b"title: [\n" + marker
    put(d.drop, not_utf8(f"{prefix}badé.yaml"), bad_name)
    words[f"{prefix}bad%E9.yaml"] = "expected the node content"
    words.update(make_specials(d, prefix, kept))
    return words, kept, goods


def make_specials(d: Daemon, prefix: str, kept: dict[str, bytes]) -> dict[str, str]:
    """The kinds that cannot be committed; name -> the words of the refusal."""
    outside = d.root / "outside.yaml"
    outside.write_bytes(task_yaml("A valid task, behind a link"))  # refused all the same
    (d.drop / f"{prefix}link.yaml").symlink_to(outside)
    os.mkfifo(d.drop / f"{prefix}fifo.yaml")  # opening it would block a careless reader
    (d.drop / f"{prefix}folder.yaml").mkdir()
    kept[f"{prefix}big.yaml"] = b"title: big\nprompt: " + b"x" * (1 << 20) + b"\n"
    put(d.drop, f"{prefix}big.yaml", kept[f"{prefix}big.yaml"])
    return {
        f"{prefix}link.yaml": "is a symbolic link; drop the file itself",
        f"{prefix}fifo.yaml": "is a named pipe (FIFO), not a regular file",
        f"{prefix}folder.yaml": "is a directory, not a task file",
        f"{prefix}big.yaml": "bytes; the limit is 65,536",
    }


def check_refusals(d: Daemon, prefix: str, words: dict[str, str], kept: dict[str, bytes]) -> None:
    """Each file an `invalid` task with the words, kept in failed/ with its reason beside it."""
    page = d.raw("GET", "/api/tasks?status=invalid&limit=100000")[1]
    invalid = {t["source_file"]: t for t in page["tasks"] if t["source_file"].startswith(prefix)}
    assert sorted(invalid) == sorted(words)
    failed = d.drop / "failed"
    for name, expected in words.items():
        error = invalid[name]["error"]
        assert error.startswith(f"{name}: ") and expected in error, error
        assert (failed / f"{name}.error.txt").read_text() == error + "\n"
        if name in kept:
            assert (failed / name).read_bytes() == kept[name], name
    assert (failed / f"{prefix}link.yaml").readlink() == d.root / "outside.yaml"
    assert stat.S_ISFIFO((failed / f"{prefix}fifo.yaml").lstat().st_mode)
    assert (failed / f"{prefix}folder.yaml").is_dir()


@pytest.mark.slow
def test_hostile_corpus_streams_into_a_running_daemon(daemon: Daemon) -> None:
    log_start = daemon.log.stat().st_size
    rss = []
    for n in range(1, ROUNDS + 1):
        words, kept, goods = drop_round(daemon, n)
        daemon.wait(lambda: {p.name for p in daemon.drop.iterdir()} == {"processed", "failed"})
        for good in goods:
            assert daemon.wait_status(good, "review")["variation_count"] >= 1
        assert (daemon.drop / "processed" / f"r{n}-caf%E9.yaml").is_file()
        check_refusals(daemon, f"r{n}-", words, kept)
        rss.append(round(daemon.rss_mb(), 1))

    log = daemon.log.read_bytes()[log_start:].decode(errors="replace")
    refusals = re.findall(r"WARNING daemon\.intake\.ingest: refused r\d-", log)
    assert len(refusals) == ROUNDS * (len(HOSTILE) + 5)  # + the bad name, + 4 odd files
    assert "Traceback" not in log and " ERROR " not in log and " CRITICAL " not in log
    # The daemon is ~520 MB (torch and the model). Round 1 pays for warming up (first
    # generations, DuckDB's buffers, allocator arenas); after it, doing the same work
    # again must not cost more. 50 MB over four more rounds (~320 files, ~45 images)
    # is generous, as allocator steps of a few MB come and go, yet it catches anything
    # kept per file or task of ~150 KB or more: a thread, a watch or a connection per
    # file, an image per task, a backlog that never drains. (It cannot see a leak of
    # the files' bytes: the whole corpus is 16 KB.)
    print(f"daemon RSS after each round (MB): {rss}")
    assert max(rss[1:]) - rss[0] < 50, rss


def test_a_name_that_is_not_utf8_is_renamed_never_over_another(tmp_path: Path) -> None:
    # DropFolder.scan alone: the new name may be taken, by a file that stays as it is.
    (tmp_path / "caf%E9.yaml").write_bytes(b"already here")
    (tmp_path / not_utf8("café.yaml")).write_bytes(b"dropped")
    assert sorted(p.name for p in DropFolder(tmp_path).scan()) == ["caf%E9-2.yaml", "caf%E9.yaml"]
    assert (tmp_path / "caf%E9-2.yaml").read_bytes() == b"dropped"
    assert (tmp_path / "caf%E9.yaml").read_bytes() == b"already here"


# -- the API --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def review(daemon: Daemon) -> str:
    """A task with three variations, waiting for review: what the bad requests aim at."""
    status, body = daemon.raw("POST", "/api/tasks?name=target.yaml", task_yaml("Target", steps=1))
    assert status == 201, body
    daemon.wait_status(body["task"]["id"], "review")
    return str(body["task"]["id"])


@pytest.fixture(scope="module")
def invalid(daemon: Daemon) -> str:
    put(daemon.drop, "refused.yaml", b"title: only a title\n")
    return str(daemon.wait_status("refused", "invalid")["id"])


def unchanged(d: Daemon, task_id: str) -> Callable[[], None]:
    """A check that the task is where it was, and the daemon still serves."""
    before = d.task(task_id)

    def check() -> None:
        assert d.raw("GET", "/api/health")[0] == 200
        assert d.task(task_id) == before

    return check


NO_SUCH = "no task 'nope'"
BAD_REQUESTS = [
    # action routes on a task that does not exist
    ("POST", "/api/tasks/nope/approve", {"variation": 1}, 404, "not_found", NO_SUCH),
    ("POST", "/api/tasks/nope/reject", {}, 404, "not_found", NO_SUCH),
    ("POST", "/api/tasks/nope/generate", {"count": 1}, 404, "not_found", NO_SUCH),
    ("POST", "/api/tasks/nope/cancel", None, 404, "not_found", NO_SUCH),
    # approve: bodies test_api.py does not send
    ("POST", "{review}/approve", b"", 422, "invalid", "variation: required"),
    ("POST", "{review}/approve", {"variation": 0}, 422, "invalid", "between 1 and 1000000, got 0"),
    ("POST", "{review}/approve", {"variation": 10**30}, 422, "invalid", "number too large to"),
    ("POST", "{review}/approve", b'{"variation": NaN}', 422, "invalid", "got nan"),
    ("POST", "{review}/approve", b'{"variation": 1e400}', 422, "invalid", "got inf"),
    ("POST", "{review}/approve", b'"2"', 422, "invalid", "must be a JSON object, got text"),
    ("POST", "{review}/approve", b"variation=2", 422, "invalid", "not valid JSON"),  # a form
    ("POST", "{review}/approve", b"\xff\xfe{}", 422, "invalid", "not valid JSON"),
    # once a 500 and a traceback (json recursion), and a text/plain 500 (orjson and a surrogate)
    ("POST", "{review}/approve", b"[" * 50_000, 422, "invalid", "nested too deeply"),
    ("POST", "{review}/approve", b'{"\\ud800": 1}', 422, "invalid", "\\ud800: unknown field"),
    ("POST", "{review}/approve", b" " * (MAX_REQUEST + 1), 413, "too_large", "limit is 131,072"),
    # reject, generate, cancel, media: bad values, every problem at once
    ("POST", "{review}/reject", {"keep_file": True}, 422, "invalid", "did you mean 'keep_files'"),
    ("POST", "{review}/reject", {"keep_files": "yes"}, 422, "invalid", "expected true or false"),
    ("POST", "{review}/reject", {"prompt": " "}, 422, "invalid", "prompt: must not be blank"),
    ("POST", "{review}/reject", {"prompt": "\u200b"}, 422, "invalid", "prompt: must not be blank"),
    ("POST", "/api/tasks", b'title: "\\u200b\\u200b"\nprompt: p\n', 422, "invalid",
     "title: must not be blank: it holds only invisible characters"),
    ("POST", "{review}/reject", {"prompt": "p" * 2001}, 422, "invalid", "at most 2,000 characters"),
    ("POST", "{review}/generate", {"count": 0, "steps": 151, "prompt": ["a"]}, 422, "invalid",
     "count: must be between 1 and 16, got 0; prompt: expected text, got a list; "
     "steps: must be between 1 and 150, got 151"),
    ("POST", "{review}/generate", {"count": True}, 422, "invalid", "count: expected a whole"),
    ("POST", "{review}/generate", {"count": 2.5}, 422, "invalid", "got 2.5"),
    ("POST", "{review}/cancel", {"force": True}, 422, "invalid", "force: unknown field; known fi"),
    ("POST", "/api/media/generate-image-variations", {}, 422, "invalid", "task_id: required"),
    # wrong methods
    ("GET", "{review}/approve", None, 405, "method_not_allowed", "GET is not allowed on /api/"),
    ("DELETE", "{review}", None, 405, "method_not_allowed", "use GET"),
    ("PUT", "/api/health", b"{}", 405, "method_not_allowed", "PUT is not allowed"),
    # query strings
    ("GET", "/api/tasks?limit=99999999999999999999", None, 422, "invalid", "between 1 and 100000"),
    ("GET", "/api/posts?offset=-1", None, 422, "invalid", "offset: must be between 0"),
    ("GET", "/api/events?since=soon", None, 422, "invalid", "since: expected a whole number"),
    ("GET", "/api/tasks/..%2F..%2Fetc", None, 404, "not_found", "no task '../../etc'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "code", "words"),
    BAD_REQUESTS,
    ids=[f"{case[0]} {case[1]} {case[5][:30]}" for case in BAD_REQUESTS],
)
def test_bad_request_gets_a_json_error_and_changes_nothing(
    daemon: Daemon, review: str, method: str, url: str, body: Any, status: int, code: str,
    words: str,
) -> None:  # fmt: skip
    check = unchanged(daemon, review)
    got, answer = daemon.raw(method, url.replace("{review}", f"/api/tasks/{review}"), body)
    assert (got, answer["error"]["status"], answer["error"]["code"]) == (status, status, code)
    assert words in answer["error"]["message"], answer
    check()


def test_conflicts_say_why(daemon: Daemon, invalid: str) -> None:
    check = unchanged(daemon, invalid)
    for action, body in [("approve", {"variation": 1}), ("generate", {}), ("cancel", None)]:
        status, answer = daemon.raw("POST", f"/api/tasks/{invalid}/{action}", body)
        assert status == 409, answer
        assert answer["error"]["message"] == (
            f"cannot {'generate more variations for' if action == 'generate' else action} "
            f"task {invalid} (status: invalid); fix the task file and submit it again"
        )
    check()


def test_approve_while_generating_is_refused_with_the_reason(daemon: Daemon) -> None:
    slow = task_yaml("Slow", variations=16, steps=150, width=256, height=256)
    task_id = daemon.raw("POST", "/api/tasks?name=slow.yaml", slow)[1]["task"]["id"]
    daemon.wait(lambda: (daemon.task(task_id) or {}).get("progress") is not None)
    for action, body in [("approve", {"variation": 1}), ("reject", {}), ("generate", {})]:
        status, answer = daemon.raw("POST", f"/api/tasks/{task_id}/{action}", body)
        assert status == 409, answer
        message = answer["error"]["message"]
        assert f"task {task_id} (status: generating); wait for its variations or cancel" in message
        assert (daemon.task(task_id) or {})["status"] == "generating"  # still at work
    assert daemon.raw("POST", f"/api/tasks/{task_id}/cancel")[0] == 200
    settled = daemon.wait_status(task_id, "review", "failed")
    assert settled["selected_variation"] is None and len(settled["variations"]) < 16


def test_the_hostile_corpus_over_the_api_is_refused_and_nothing_stored(daemon: Daemon) -> None:
    total = daemon.raw("GET", "/api/tasks")[1]["total"]
    for name, words in sorted(HOSTILE.items()):
        data = (HOSTILE_DIR / name).read_bytes() + b"\n# sent over the API\n"
        status, answer = daemon.raw("POST", f"/api/tasks?name=api-{name}", data)
        assert status == 422 and answer["error"]["code"] == "invalid", (name, answer)
        assert answer["error"]["message"].startswith(f"api-{name}: "), answer
        assert words in answer["error"]["message"], answer
    assert daemon.raw("GET", "/api/tasks")[1]["total"] == total


def test_bytes_refused_in_the_drop_folder_are_refused_over_the_api_too(
    daemon: Daemon, invalid: str
) -> None:
    status, answer = daemon.raw("POST", "/api/tasks?name=again.yaml", b"title: only a title\n")
    assert status == 422 and "prompt: required" in answer["error"]["message"], answer


def exchange(d: Daemon, request: bytes, *, hang_up: bool = False) -> bytes:
    """Raw bytes on the socket, what comes back until the daemon closes (or 3 s pass)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(d.socket))
        sock.settimeout(3)
        sock.sendall(request)
        if hang_up:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(TimeoutError):
            while chunk := sock.recv(1 << 16):
                chunks.append(chunk)
    return b"".join(chunks)


def test_broken_http_is_answered_and_the_daemon_carries_on(daemon: Daemon, review: str) -> None:
    check = unchanged(daemon, review)
    approve = f"POST /api/tasks/{review}/approve HTTP/1.1\r\nHost: x\r\n".encode()
    # A Content-Length that lies about a body that never comes: the daemon drops it quietly
    # (this used to log "the API failed" with a traceback).
    assert exchange(daemon, approve + b'Content-Length: 100\r\n\r\n{"vari', hang_up=True) == b""
    daemon.wait(lambda: "a client hung up during POST" in daemon.log.read_text())
    # A body longer than its Content-Length, a bad Content-Length, no HTTP at all: aiohttp
    # refuses these before the API sees them, so the 400 is its own plain text.
    for request in [
        approve + b"Content-Length: 5\r\nConnection: close\r\n\r\n" + b'{"variation": 1}',
        approve + b"Content-Length: many\r\n\r\n{}",
        b"HELLO\r\n\r\n",
    ]:
        assert exchange(daemon, request).startswith(b"HTTP/1.0 400 Bad Request\r\n"), request
    # A body announced too large is refused from its header, without waiting for it.
    answer = exchange(daemon, approve + b"Content-Length: 10000000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 ") and b"the limit is 131,072" in answer
    # A chunked body has no Content-Length to check first: still cut off at the limit.
    chunks = b"".join(b"10000\r\n" + b" " * 0x10000 + b"\r\n" for _ in range(3)) + b"0\r\n\r\n"
    chunked = b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    answer = exchange(daemon, approve + chunked + chunks)
    assert answer.startswith(b"HTTP/1.1 413 ") and b'"code":"too_large"' in answer
    check()
    assert "the API failed" not in daemon.log.read_text()
