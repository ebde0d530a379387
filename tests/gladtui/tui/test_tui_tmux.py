"""The real TUI as a person sees it: `gladtui` in tmux at 80x24, keys in, screen out.

Each test runs the installed `gladtui` console script in a detached tmux
session on a private server (`tmux -S`), types with `send-keys` and reads
the screen with `capture-pane`, against a real daemon in this process
(tests/apidaemon.py). Nothing of Textual is imported or patched here: what
is checked is what reaches the terminal. CI installs tmux (.ci/run).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from daemon.generation.models import LoadedModel
from tests.apidaemon import ApiDaemon, short_dir, task_yaml, wait_until
from tests.stepgate import HeldClock, StepGate
from tests.storedpictures import add_review_task, coordinates

GLADTUI = Path(sys.executable).parent / "gladtui"
WIDTH, HEIGHT = 80, 24
TIMEOUT = 60.0  # s: bounds a hang; under a busy CI a screen took up to ~20 s
HALF_BLOCKS = "▀▄"
COLOUR = re.compile(r"\x1b\[[0-9;]*?[34]8;(?:5;\d+|2;\d+;\d+;\d+)")
# What the pane's process must not inherit from the test run: it would change
# the terminal size or the colours the TUI sees, or point it at another tmux.
NOT_INHERITED = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TMUX", "TMUX_PANE")


class Tmux:
    """One private tmux server with one session, `tui`, of WIDTH x HEIGHT.

    Its socket is in a folder of its own (`-S`), not in tmux's shared one
    (`-L` would leave the socket file behind there after `kill-server`).
    """

    def __init__(self) -> None:
        self.tmux = shutil.which("tmux")
        if self.tmux is None:
            pytest.fail(
                "tmux is not installed: these tests run the TUI in tmux (.ci/run installs it)"
            )
        self.folder = short_dir("gt-tmux-")
        self.socket = self.folder / "tmux.sock"
        self.target = "tui"

    def run(self, *args: str) -> str:
        result = subprocess.run(
            [str(self.tmux), "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=10,
            env=self._env(),
        )
        assert result.returncode == 0, f"tmux {' '.join(args)}: {result.stderr}"
        return result.stdout

    @staticmethod
    def _env() -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in NOT_INHERITED and not k.startswith("TEXTUAL")
        }
        env.setdefault("TERM", "xterm-256color")  # the client's; CI may have none
        return env

    def start(self, *command: str, size: tuple[int, int] = (WIDTH, HEIGHT)) -> None:
        """Run `command` in the session of `size` (columns, rows); the pane stays after it
        exits, to read its end."""
        self.run(
            "-f",
            "/dev/null",  # no user config: the same terminal everywhere
            "start-server",
            ";",
            "set-option",
            "-g",
            "default-terminal",
            "tmux-256color",  # the TERM the TUI sees, as in a usual tmux
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "new-session",
            "-d",
            "-s",
            self.target,
            "-x",
            str(size[0]),
            "-y",
            str(size[1]),
            shlex.join(command),
        )
        made = self.pane("#{pane_width}x#{pane_height}")
        assert made == f"{size[0]}x{size[1]}", made

    def pane(self, fmt: str) -> str:
        return self.run("display-message", "-p", "-t", self.target, fmt).strip()

    def screen(self, *, escapes: bool = False) -> str:
        return self.run("capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.target)

    def send(self, keys: str) -> None:
        self.run("send-keys", "-t", self.target, "-l", keys)

    def wait_for(
        self, what: str, predicate: Callable[[str], bool], timeout: float = TIMEOUT
    ) -> str:
        """The screen, captured every 0.1 s until `predicate` holds; else fail showing it."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                dead = self.pane("#{pane_dead} #{pane_dead_status}")
                raise AssertionError(
                    f"waited {timeout:g} s for {what}; pane dead/status: {dead!r};"
                    f" the screen:\n{screen}"
                )
            time.sleep(0.1)

    def kill(self) -> None:
        try:
            subprocess.run(
                [str(self.tmux), "-S", str(self.socket), "kill-server"],
                capture_output=True,
                timeout=10,
            )
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def open_tui(tmux: Tmux, config: Path, size: tuple[int, int] = (WIDTH, HEIGHT)) -> None:
    """`gladtui --config FILE` in the pane, under a shell that says how it ended.

    The shell, not tmux, reports the exit status, and then stays: tmux 3.3a
    loses what a pane's process writes just before it exits when it reaps it
    first, and can miss its SIGCHLD altogether (Debian builds it with
    libutempter, tmux issue 311), leaving `#{pane_dead_status}` empty.
    """
    report = '"$0" "$@"; echo "[gladtui exited with status $?]"; exec sleep 600'
    tmux.start("sh", "-c", report, str(GLADTUI), "--config", str(config), size=size)


def quit_tui(tmux: Tmux) -> None:
    """q quits: the process ends with status 0 and leaves nothing on the terminal."""
    tmux.send("q")
    after = tmux.wait_for("the TUI to exit", lambda s: "[gladtui exited with status" in s)
    assert "[gladtui exited with status 0]" in after, after
    assert "Traceback" not in after and "Error" not in after, after


def words(screen: str) -> str:
    """The screen's text as one line: wrapped sentences whole again, frames left out."""
    return " ".join(re.sub(r"[█▀▄▌▐│┃]", " ", screen).split())


def half_block_lines(screen: str) -> list[int]:
    return [n for n, line in enumerate(screen.splitlines()) if any(c in line for c in HALF_BLOCKS)]


@pytest.fixture
def live(tiny: LoadedModel) -> Iterator[ApiDaemon]:
    running = ApiDaemon(tiny).start()
    yield running
    running.cleanup()


def test_review_and_approve_in_a_terminal(live: ApiDaemon, tmux: Tmux) -> None:
    task_id = live.submit(task_yaml("Blueberry Muffins Galore", variations=3), "muffins.yaml")
    task = live.wait_status(task_id, "review")
    assert task["slug"] == "blueberry-muffins-galore"
    open_tui(tmux, live.config_file)

    # The task under the cursor: its detail and its three thumbnails.
    screen = tmux.wait_for(
        "the task, its detail and three thumbnails",
        lambda s: (
            "Blueberry Muffins Galore" in s
            and " Review 1 " in s
            and f"slug: {task['slug']}" in s
            and re.search(r"\s1\s.*\s2\s.*\s3\s", s) is not None
            # all three drawn, not just the first (they arrive one by one)
            and sum(s.count(c) for c in HALF_BLOCKS) >= 100
        ),
    )
    picture = half_block_lines(screen)
    assert len(picture) >= 3, screen
    # Half blocks are pictures only in colour: each picture line is painted.
    painted = tmux.screen(escapes=True).splitlines()
    colours: set[str] = set()
    for n in picture:
        found = COLOUR.findall(painted[n])
        assert found, f"no colour on picture line {n}:\n{painted[n]!r}"
        colours.update(found)
    assert len(colours) >= 8, f"thumbnails in {len(colours)} colours only: {sorted(colours)}"

    # 2 selects the second variation; a asks before approving it.
    tmux.send("2")
    tmux.send("a")
    screen = tmux.wait_for(
        "the approve dialog", lambda s: "Approve variation 2?" in s and "y / Enter" in s
    )
    assert f"slug: {task['slug']}" in screen, screen
    # Where the image and the post go, as the daemon describes them.
    publishing = live.client.status()["publishing"]
    for label, said in [
        ("image:", publishing["images_to"]),
        ("post:", publishing["posts_destination"]),
    ]:
        first_words = " ".join(said.split()[:3])  # the rest may wrap
        assert re.search(rf"{label}\s+{re.escape(first_words)}", screen), screen

    tmux.send("y")
    published = live.wait_status(task_id, "published", timeout=TIMEOUT)
    assert published["selected_variation"] == 2
    assert [v["selected"] for v in published["variations"]] == [False, True, False]

    # The event stream updates the row in place: published. The list keeps the task
    # under the cursor (no other awaits review) until the cursor leaves it.
    tmux.wait_for(
        "the row and the detail to say published",
        lambda s: "✓    Blueberry Muffin" in s and " Review 0 " in s and " Published 1 " in s,
    )
    tmux.send("fF")  # another filter and back: now the Review list is empty
    screen = tmux.wait_for("the task to leave the Review list", lambda s: "Blueberry" not in s)
    assert "no tasks in Review" in screen, screen
    # f: the next filter, All, has it, with the approved variation marked.
    tmux.send("f")
    tmux.wait_for(
        "the task under All, variation 2 approved",
        lambda s: "Blueberry Muffins Galore" in s and "2 · 43 ✓" in s,
    )

    quit_tui(tmux)


def test_no_daemon_then_reconnects_by_itself(tmux: Tmux) -> None:
    later = ApiDaemon(None, root=short_dir())  # its config and socket path, not started
    try:
        assert not later.socket.exists()
        open_tui(tmux, later.config_file)
        screen = tmux.wait_for("the no-daemon screen", lambda s: "No daemon" in s)
        flat = words(screen)
        assert f"{later.socket} does not exist" in flat, screen
        assert "gladtui daemon" in flat, screen
        assert "Reconnecting by itself" in flat, screen

        later.start()  # the TUI retries with backoff, at most 3 s apart
        tmux.wait_for(
            "the review screen after the daemon started",
            lambda s: "No daemon" not in s and " Review 0 " in s and "no tasks yet" in s,
        )
        # A new instance: where task files go, and the command that submits one.
        screen = tmux.wait_for("how tasks come in", lambda s: "gladtui submit" in s)
        assert str(later.config.drop_dir) in words(screen).replace(" ", ""), screen
        quit_tui(tmux)
    finally:
        later.cleanup()


SELECTED_LABEL = re.compile(r"┃\s*(\d+)\b[^┃]*┃")  # the label inside the heavy (selected) box


def test_what_is_outlined_is_what_a_approves(live: ApiDaemon, tmux: Tmux) -> None:
    """Approve the 12th of 12; the next task's outlined variation is the one `a` offers."""
    live.in_review("Four", name="four.yaml", variations=4)
    twelve = live.submit(task_yaml("Twelve", variations=12), "twelve.yaml")
    live.wait_status(twelve, "review")
    open_tui(tmux, live.config_file)
    tmux.wait_for("the twelve thumbnails", lambda s: "Twelve" in s and SELECTED_LABEL.search(s))
    tmux.send("\x1b[D")  # ←: from 1 round to 12
    tmux.wait_for("12 outlined", lambda s: SELECTED_LABEL.findall(s) == ["12"])
    tmux.send("a")
    tmux.wait_for("the approve dialog", lambda s: "Approve variation 12?" in s)
    tmux.send("y")
    live.wait_status(twelve, "approved", "publishing", "published", timeout=TIMEOUT)
    screen = tmux.wait_for(
        "the next task with a variation outlined",
        lambda s: "Approve" not in s.split("\n")[0] and " Four" in s and "review  four" in s,
    )
    screen = tmux.wait_for("an outlined variation", lambda s: SELECTED_LABEL.search(s) is not None)
    [number] = SELECTED_LABEL.findall(screen)
    tmux.send("a")
    dialog = tmux.wait_for("the approve dialog", lambda s: "Approve variation" in s)
    assert f"Approve variation {number}?" in dialog and number == "1", dialog
    tmux.send("n")
    quit_tui(tmux)


def test_80x24_shows_size_and_seeds_and_nothing_beside_dialogs(live: ApiDaemon, tmux: Tmux) -> None:
    task_id = live.submit(task_yaml("Sized", variations=3, prompt="long words " * 20), "s.yaml")
    live.wait_status(task_id, "review")
    open_tui(tmux, live.config_file)
    screen = tmux.wait_for("the full detail", lambda s: "seeds: 1:42, 2:43, 3:44" in s)
    assert "size: 64x64, 2 steps" in screen, screen
    tmux.send("a")
    screen = tmux.wait_for("the approve dialog", lambda s: "Approve variation 1?" in s)
    lines = screen.splitlines()
    rows = [n for n, line in enumerate(lines) if "█" in line]
    top, bottom = rows[0], rows[-1]
    left = min(line.index("█") for line in lines[top : bottom + 1] if "█" in line)
    right = max(line.rindex("█") for line in lines[top : bottom + 1] if "█" in line)
    for line in lines[:top] + lines[bottom + 1 :]:  # above and below the dialog: blank
        assert not line.strip(), screen
    for line in lines[top : bottom + 1]:  # beside it: blank
        assert not line[:left].strip() and not line[right + 1 :].strip(), screen
    tmux.send("n")
    quit_tui(tmux)


STEPS_SHOWN = 20
FORMING = re.compile(r"1 · (\d+)/(20|150)")  # a preview's caption: variation 1 at that step


@dataclass
class Held:
    """A daemon whose generations stop at the steps a test names, its previews paced by it."""

    live: ApiDaemon
    gate: StepGate
    clock: HeldClock


@pytest.fixture
def held(tiny: LoadedModel) -> Iterator[Held]:
    clock = HeldClock()
    running = ApiDaemon(tiny, preview_clock=clock).start()
    gate = StepGate(running.progress)
    yield Held(running, gate, clock)
    gate.close()
    running.cleanup()


def test_a_preview_forms_in_the_gallery_then_the_thumbnail_and_c_cancels(
    held: Held, tmux: Tmux
) -> None:
    """Each screen is waited for while the generation is held at a step: a task over in
    a blink, or slowed by a busy machine, shows the same screens."""
    live, gate, clock = held.live, held.gate, held.clock
    open_tui(tmux, live.config_file)
    tmux.wait_for("the review list", lambda s: " Review 0 " in s)
    tmux.send("f")  # All: the task shows while it generates
    gate.hold_at(5)
    slow = task_yaml("Slowly Forming", variations=1, steps=STEPS_SHOWN)
    task_id = live.submit(slow, "forming.yaml")

    # Held at step 5: the preview in the pending variation's box, captioned with its
    # step (the first step's: the clock has not moved since, so no later one is due).
    gate.wait_held()
    screen = tmux.wait_for(
        "a live preview with its step",
        lambda s: FORMING.search(s) is not None and len(half_block_lines(s)) >= 3,
    )
    assert "Slowly Forming" in screen, screen
    first = FORMING.search(screen)
    assert first is not None
    # A minute passes for the previews; step 5 gets one, shown while held at step 10.
    clock.advance(60)
    gate.move_on(hold_at=10)
    gate.wait_held()
    tmux.wait_for(
        "a later preview",
        lambda s: any(int(n) > int(first.group(1)) for n, _ in FORMING.findall(s)),
    )
    # Then the variation is final: its thumbnail, captioned with its seed.
    gate.move_on()
    tmux.wait_for(
        "the final thumbnail in the preview's place",
        lambda s: "1 · 42" in s and FORMING.search(s) is None,
        timeout=120,
    )
    assert live.wait_status(task_id, "review")["variations"][0]["index"] == 1

    # c cancels a generation from the gallery, while its preview forms.
    gate.hold_at(3)
    other = live.submit(task_yaml("Never Finished", variations=1, steps=150), "never.yaml")
    tmux.wait_for("the new task on top", lambda s: "Never Finished" in s)
    tmux.send("k")  # the cursor up, onto it
    gate.wait_held()
    tmux.wait_for(
        "the new task's preview",
        lambda s: "Never Finished" in s and FORMING.search(s) is not None,
    )
    tmux.send("c")
    wait_until(lambda: live.progress.cancel_requested(other), TIMEOUT)
    gate.move_on()  # the next step sees the cancel
    assert live.wait_status(other, "failed", timeout=TIMEOUT)["variations"] == []
    tmux.wait_for("the preview to go", lambda s: FORMING.search(s) is None)
    quit_tui(tmux)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_loupe_and_the_compare_in_half_blocks(tmux: Tmux, size: tuple[int, int]) -> None:
    """z: the middle of a 1024² variation at one pixel per half cell, the place named;
    l pans it a quarter; → keeps it; p: two side by side, labelled, at the same place."""
    large = ApiDaemon(None).start()
    try:
        add_review_task(large, "loupe", (1024, 1024), 3, paint=coordinates)
        open_tui(tmux, large.config_file, size=size)
        tmux.wait_for("the task", lambda s: "loupe" in s and "1 · 1" in s)
        columns, rows = size[0] - 1, size[1] - 3  # the last column stays empty (tmux)
        left, top = 512 - columns // 2, 512 - rows

        def loupe(left: int, width: int, labels: list[str], *, what: str = "the loupe") -> str:
            """The place named, the labels, and `rows` lines of half blocks `width` wide
            (in each panel)."""
            place = f"100 % x {left}–{left + width}, y {top}–{top + 2 * rows} of 1024×1024"

            def shown(s: str) -> bool:
                lines = half_block_lines(s)
                painted = [s.splitlines()[n] for n in lines]
                per_panel = len(labels) * width
                return (
                    place in s
                    and all(label in s for label in labels)
                    and len(lines) == rows
                    and all(line.count("▀") == per_panel for line in painted)
                )

            return tmux.wait_for(f"{what}: {place}, {labels}", shown)

        tmux.send("z")
        loupe(left, columns, ["1 · seed 1"])
        tmux.send("l")
        left += columns // 4
        loupe(left, columns, ["1 · seed 1"], what="panned right a quarter")
        tmux.send("\x1b[C")  # →
        loupe(left, columns, ["2 · seed 2"], what="the next variation, same place")

        tmux.send("p")  # 2 pinned, 3 beside it: both at 100 %, at the same place
        width = (columns - 1) // 2
        centre = left + columns // 2
        pinned, selected = "2 · seed 2 · pinned (p: unpin)", "3 · seed 3 · selected: ← → a"
        loupe(centre - width // 2, width, [pinned, selected], what="the compare")
        tmux.send("z")  # z goes back where it came from: the list, the pin marked there
        tmux.wait_for("the list", lambda s: "100 % x" not in s and "2 · 2 pin" in s)
        tmux.send("\r")  # Enter: the compare, fitted: both whole, side by side
        tmux.wait_for("the compare fitted", lambda s: "fitted (z: 100 %)" in s and pinned in s)
        tmux.send("q")
        tmux.wait_for("the list", lambda s: "fitted" not in s and "2 · 2 pin" in s)
        quit_tui(tmux)
    finally:
        large.cleanup()
