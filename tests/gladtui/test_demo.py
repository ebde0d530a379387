"""`gladtui demo` as a user runs it: a real daemon subprocess on the tiny model.

Each run gets a fresh TMPDIR, so what the demo leaves behind (nothing, unless
--keep) and which processes still mention it can be checked exactly.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gladtui.tui.test_tui_tmux import Tmux
from tests.paths import REPO
from tests.test_imports import loaded_after

GLADTUI = Path(sys.executable).parent / "gladtui"
SAMPLE_IDS = ("muffins-001", "muffins-002", "autumn-hike", "sourdough-basics")


def demo(tmpdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    tmpdir.mkdir(exist_ok=True)
    return subprocess.run(
        [str(GLADTUI), "demo", *args],
        env={**os.environ, "TMPDIR": str(tmpdir), "TRANSFORMERS_VERBOSITY": "error"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def processes_mentioning(text: str) -> list[str]:
    """The command lines of running processes that contain `text` (a daemon left behind)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:  # the process ended meanwhile
            continue
        if any(text in arg for arg in args):
            found.append(" ".join(args))
    return found


def summary_rows(stdout: str) -> dict[str, list[str]]:
    """The headless summary's rows by task id: [status, slug, title]."""
    rows = {}
    for line in stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) == 4 and cells[0] != "ID":
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.slow
def test_headless_reviews_the_samples_and_leaves_nothing_behind(tmp_path: Path) -> None:
    # A TMPDIR so long that a socket in the workspace would pass Unix's 107 bytes: the
    # demo puts it in a short folder of its own under /tmp, removed with the workspace.
    tmpdir = tmp_path / ("a-long-temporary-folder-" * 3)
    short_folders = set(Path("/tmp").glob("gladtui-demo-*"))
    result = demo(tmpdir, "--headless")
    assert result.returncode == 0, result.stderr

    rows = summary_rows(result.stdout)
    title = "Making Delicious Muffins"
    assert rows["muffins-001"] == ["published", "making-delicious-muffins", title], rows
    assert rows["muffins-002"] == ["review", "making-delicious-muffins-2", title], rows
    assert rows["autumn-hike"][0] == rows["sourdough-basics"][0] == "review", rows
    assert rows["typo"][0] == "invalid", rows
    refusal = next(line for line in result.stdout.splitlines() if "was refused" in line)
    assert refusal.startswith("typo was refused: typo.yaml:"), refusal
    assert "unknown field 'promt' (did you mean 'prompt'?)" in refusal, refusal

    assert list(tmpdir.iterdir()) == []
    assert processes_mentioning(f"{tmpdir}/gladtui-demo-") == []
    assert set(Path("/tmp").glob("gladtui-demo-*")) == short_folders


@pytest.mark.slow
def test_keep_leaves_a_reusable_workspace_with_the_previews(tmp_path: Path) -> None:
    tmpdir = tmp_path / "t"
    result = demo(tmpdir, "--headless", "--keep")
    assert result.returncode == 0, result.stderr
    kept = re.search(r"kept the workspace (\S+)", result.stdout)
    assert kept is not None, result.stdout
    workspace = Path(kept.group(1))
    try:
        assert workspace.parent == tmpdir and workspace.name.startswith("gladtui-demo-")
        assert f"gladtui --config {workspace / 'config.yaml'} daemon" in result.stdout
        previews = workspace / "previews"
        for task_id in SAMPLE_IDS:
            assert list(previews.glob(f"sdxl-{task_id}-variation-*.png")), task_id
        assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in previews.iterdir())
        error = (workspace / "drop" / "failed" / "typo.yaml.error.txt").read_text()
        assert "promt" in error
        # The daemon was stopped, not killed: it logged its own end.
        log = (workspace / "daemon.log").read_text()
        assert log.rstrip().endswith("daemon.service.process: stopped"), log[-2000:]
        assert processes_mentioning(f"{tmpdir}/gladtui-demo-") == []
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def test_without_a_terminal_it_refuses_and_creates_nothing(tmp_path: Path) -> None:
    tmpdir = tmp_path / "t"
    result = demo(tmpdir)  # stdout is a pipe
    assert result.returncode == 2
    assert "needs a terminal; try --headless" in result.stderr
    assert list(tmpdir.iterdir()) == []


def test_without_the_examples_it_says_where_they_were_looked_for(tmp_path: Path) -> None:
    # The package alone, as an install without the repository has it.
    shutil.copytree(REPO / "gladtui", tmp_path / "gladtui")
    probe = (
        "from gladtui.cli.demo import run_demo; "
        "raise SystemExit(run_demo(keep=False, headless=True))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert f"no sample tasks in {tmp_path / 'examples'}" in result.stderr
    assert not list(tmp_path.glob("gladtui-demo-*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "status"),
    [(signal.SIGINT, 130), (signal.SIGHUP, 128 + signal.SIGHUP)],
    ids=["ctrl-c", "terminal-closed"],
)
def test_interrupted_it_still_stops_the_daemon_and_cleans_up(
    tmp_path: Path, signum: int, status: int
) -> None:
    tmpdir = tmp_path / "t"
    tmpdir.mkdir()
    env = {**os.environ, "TMPDIR": str(tmpdir), "TRANSFORMERS_VERBOSITY": "error"}
    # Its own session: the signal goes to its process group, as a terminal's does.
    running = subprocess.Popen(
        [str(GLADTUI), "demo", "--headless"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert running.stderr is not None
        said = ""  # until the samples are in and the first one is being generated
        while "submitted" not in said and (line := running.stderr.readline()):
            said += line
        assert "submitted" in said, said
        assert processes_mentioning(f"{tmpdir}/gladtui-demo-")  # the daemon runs
        os.killpg(running.pid, signum)
        _, stderr = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == status, stderr
    assert "Traceback" not in stderr, stderr
    assert list(tmpdir.iterdir()) == []
    assert processes_mentioning(f"{tmpdir}/gladtui-demo-") == []


def test_importing_the_demo_loads_neither_textual_nor_torch() -> None:
    loaded = loaded_after("import gladtui.cli.demo")
    assert not any(loaded.values()), loaded


@pytest.mark.slow
def test_in_a_terminal_the_tui_shows_the_samples_and_q_ends_everything(tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed: this test runs the demo in tmux")
    tmpdir = tmp_path / "t"
    tmpdir.mkdir()
    tmux = Tmux()
    try:
        report = '"$0" "$@"; echo "[gladtui exited with status $?]"; exec sleep 600'
        tmux.start("sh", "-c", report, "env", f"TMPDIR={tmpdir}", str(GLADTUI), "demo")
        tmux.wait_for(
            "the samples in the TUI",
            lambda s: (
                " Review 3 " in s
                and " Published 1 " in s
                and " Failed 1" in s  # the line's end: tmux trims the spaces after it
                and "Sourdough Basics" in s
                and "A Weekend Hike" in s
                and "Making Delicious" in s
            ),
            timeout=90,
        )
        tmux.send("/Muffins")  # one burst: the text after "/" goes into the search
        tmux.wait_for(
            "the search to leave the second muffins task, with its -2 slug",
            lambda s: (
                "Sourdough" not in s
                and "A Weekend Hike" not in s
                and "muffins-002" in s
                and "slug: making-delicious-muffins-2" in s
            ),
        )
        # Enter and q in one burst: Enter returns the keys to the list at once,
        # so q quits instead of being typed into the search box.
        tmux.run("send-keys", "-t", tmux.target, "Enter", "q")
        after = tmux.wait_for("the demo to end", lambda s: "[gladtui exited with status" in s)
        assert "[gladtui exited with status 0]" in after, after
        assert "Traceback" not in after, after
        assert list(tmpdir.iterdir()) == []
        assert processes_mentioning(f"{tmpdir}/gladtui-demo-") == []
    finally:
        tmux.kill()
