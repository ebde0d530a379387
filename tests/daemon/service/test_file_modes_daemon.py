"""The real daemon, started as a shell starts it, makes nothing another user can read.

Issue 29: `gladtui daemon` run from a shell with umask 022 wrote preview PNGs
0644 in 0755 folders, and the processed task files, the Markdown posts and
`gladtui.duckdb` 0644; another user copied the database. Here the installed
`gladtui daemon` runs as a subprocess under umask 022 and 000, takes a task
through generation, approval (a local CDN copy and a Markdown post), a rejection
with a new prompt, a refusal and a thumbnail request, and then every file and
folder it made is walked, while it runs (DuckDB's .wal exists then) and after
it stopped: files 0600, folders 0700, except the CDN's copies, which a web
server serves (0644 in 0755 folders). Another user (nobody) reads none of it.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon.generation.models import LoadedModel
from daemon.generation.tinymodel import tiny_model_dir
from gladtui.client import Client, ClientError
from tests.apidaemon import short_dir, task_yaml, wait_until
from tests.privileges import run_unprivileged

GLADTUI = Path(sys.executable).parent / "gladtui"
TIMEOUT = 240.0  # each wait; the model loads in 2 to 30 s on a shared machine
# Made by the test, not the daemon: their modes are the test's.
THE_TESTS = {"config.yaml", "posts"}
# Served by a web server of another user (daemon/publishing/publishers/local.py), on purpose.
PUBLIC = {"cdn": 0o755}


@pytest.fixture
def root() -> Iterator[Path]:
    path = short_dir("gt-modes-")  # 0755: only the modes inside keep another user out
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def write_config(root: Path, model: Path) -> None:
    (root / "posts").mkdir()
    (root / "config.yaml").write_text(
        "drop_dir: drop\nstate_dir: state\npreview_dir: previews\ncache_dir: cache\n"
        f"socket: run/d.sock\ngeneration:\n  model: {model}\n  device: cpu\n"
        "publishing:\n  grace_seconds: 0\n  local: {dir: cdn}\n"
        "  posts: {to: markdown, markdown: {dir: posts}}\n"
    )


def status_of(client: Client, task_id: str) -> str | None:
    try:
        return client.task(task_id)["status"]
    except ClientError:  # not ingested yet
        return None


def drop(root: Path, name: str, data: bytes, umask: int) -> None:
    """As a program under the same umask would drop it."""
    path = root / "drop" / name
    path.write_bytes(data)
    path.chmod(0o666 & ~umask)


def modes(root: Path) -> dict[str, int]:
    """Every path under `root` but the test's own, relative, with its mode."""
    found = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if relative not in THE_TESTS:
                found[relative] = stat.S_IMODE(path.lstat().st_mode)
    return found


def expected(relative: str, path: Path) -> int:
    top = relative.split("/")[0]
    if top in PUBLIC:
        return PUBLIC[top] if path.is_dir() else 0o644
    return 0o700 if path.is_dir() else 0o600


def wrong_modes(root: Path, made_by_the_test: set[str]) -> dict[str, str]:
    return {
        relative: f"{mode:04o}, expected {expected(relative, root / relative):04o}"
        for relative, mode in modes(root).items()
        if relative not in made_by_the_test and mode != expected(relative, root / relative)
    }


def unreadable_by_others(paths: list[Path]) -> Callable[[], list[str]]:
    def check() -> list[str]:
        read = []
        for path in paths:
            try:
                path.read_bytes()
            except PermissionError:
                continue
            read.append(str(path))
        return read

    return check


def run_a_day(root: Path, client: Client, umask: int) -> None:
    """A task approved and published, one rejected with a new prompt, one refused."""
    drop(root, "good.yaml", task_yaml("Good Muffins", variations=2, steps=1), umask)
    drop(root, "again.yaml", task_yaml("Again", variations=1, steps=1), umask)
    drop(root, "bad.yaml", b"title: Bad\nstepz: 3\n", umask)
    wait_until(lambda: status_of(client, "good") == "review", timeout=TIMEOUT)
    wait_until(lambda: status_of(client, "again") == "review", timeout=TIMEOUT)
    wait_until(lambda: status_of(client, "bad") == "invalid", timeout=TIMEOUT)
    client.thumbnail("good", 2, 32)  # the API's narrower copy, in the cache
    client.approve("good", 1)
    client.reject("again", prompt="pears on a plate")
    wait_until(lambda: status_of(client, "good") == "published", timeout=TIMEOUT)
    wait_until(lambda: status_of(client, "again") == "review" and made_2(client), timeout=TIMEOUT)


def made_2(client: Client) -> bool:
    """The new prompt's variation, numbered after the rejected one."""
    return [v["index"] for v in client.task("again")["variations"]] == [1, 2]


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("umask", "state_made_open"), [(0o022, True), (0o000, False)], ids=["022", "000"]
)
def test_everything_the_daemon_makes_is_its_users_alone(
    tiny: LoadedModel, tiny_cache: Path, root: Path, tmp_path: Path, umask: int,
    state_made_open: bool,
) -> None:  # fmt: skip
    write_config(root, tiny_model_dir(tiny_cache))
    made_by_the_test = set()
    if state_made_open:  # as a user's `mkdir` left it: the daemon names it, and the fix
        (root / "state").mkdir(mode=0o755)
        made_by_the_test.add("state")
    log = tmp_path / "daemon.log"
    with log.open("wb") as stderr:
        daemon = subprocess.Popen(
            [str(GLADTUI), "--config", str(root / "config.yaml"), "daemon"],
            stderr=stderr,
            umask=umask,
        )
    try:
        client = Client(root / "run" / "d.sock", timeout=10)
        wait_until(lambda: (root / "run" / "d.sock").exists(), timeout=TIMEOUT)
        run_a_day(root, client, umask)
        while_running = wrong_modes(root, made_by_the_test)
        wal = (root / "state" / "gladtui.duckdb.wal").exists()  # folded in at the stop
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    said = log.read_text(errors="replace")
    assert daemon.returncode == 0, said
    assert while_running == {}, said
    assert wal, "DuckDB's log was not there to check"
    assert wrong_modes(root, made_by_the_test) == {}

    made = modes(root)
    private = [
        root / "state" / "gladtui.duckdb",
        *(root / "previews").iterdir(),
        *(root / "posts").iterdir(),
        *(root / "drop" / "processed").iterdir(),
        *(root / "drop" / "failed").iterdir(),
    ]
    # the database, good's 2 previews and again's second (its first went with the
    # rejection), good's post, good.yaml and again.yaml, bad.yaml and its reason
    assert len(private) == 1 + 3 + 1 + 2 + 2, made
    assert run_unprivileged(unreadable_by_others(private)) == []
    [copy] = (root / "cdn").iterdir()
    assert run_unprivileged(unreadable_by_others([copy])) == [str(copy)]  # served to all

    warning = f"state_dir {root / 'state'} is open to other users (mode 0755)"
    assert (warning in said) == state_made_open, said
    if state_made_open:
        assert f"`chmod 700 {root / 'state'}`" in said
