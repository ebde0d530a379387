"""Real pixels through tmux: the TUI in a real tmux (Debian's 3.3a), whose own
terminal is a pty this test plays (tests/outerterminal.py), as kitty would.

With `allow-passthrough on`, what tmux writes to its terminal holds the
variation as a kitty image (decoded from the escapes) sized by the cell
size the terminal answered (not tmux's guess in the pane's window size), a
virtual placement, and the placeholder cells on screen that name it; on
quit, every image sent is deleted. The loupe (`z`) sends the crop the
screen names, pixel for pixel. With passthrough off: half blocks, no
graphics at all, and `gladtui status` says which line gives pixels.
"""

from __future__ import annotations

import io
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from daemon.generation.models import LoadedModel
from tests.apidaemon import ApiDaemon, task_yaml
from tests.gladtui.tui.test_tui_tmux import HEIGHT, WIDTH, Tmux, words
from tests.kittybytes import graphics, placeholder_cells
from tests.outerterminal import OuterTerminal
from tests.storedpictures import add_review_task, coordinates

GLADTUI = Path(sys.executable).parent / "gladtui"
CELL = (12, 24)  # the outer terminal's cell in pixels (tmux guesses 16x32 in the pane)
EXITED = "[gladtui exited"
PLACE = re.compile(r"100 % x (\d+)–(\d+), y (\d+)–(\d+) of 1024×1024")


@pytest.fixture(scope="module")
def daemon(tiny: LoadedModel) -> Iterator[tuple[ApiDaemon, list[Image.Image]]]:
    """A daemon with two tasks in review, one variation each: what it serves of them."""
    d = ApiDaemon(tiny).start()
    pictures = []
    for n, title in enumerate(["Through tmux", "And another"]):
        yaml = task_yaml(title, variations=1, width=128, height=128, seed=42 + n)
        task = d.wait_status(d.submit(yaml, f"task-{n}.yaml"), "review")
        data = d.client.image(task["id"], 1)
        pictures.append(Image.open(io.BytesIO(data)).convert("RGB"))
    yield d, pictures
    d.cleanup()


@pytest.fixture
def outer() -> Iterator[OuterTerminal]:
    terminal = OuterTerminal(WIDTH, HEIGHT, CELL)
    yield terminal
    terminal.close()


def attached(tmux: Tmux, outer: OuterTerminal, *, passthrough: bool, rgb: bool = False) -> None:
    """The session, then its terminal attached: the TUI starts later, in a shell, as
    a reviewer starts it. No status line, so attaching resizes nothing and the pane
    keeps the 16x32 pixel cells tmux guessed before any terminal was there. `rgb`:
    tmux knows its terminal takes 24-bit colours (else it writes them as 256)."""
    tmux.start("sleep", "600")
    tmux.run("set-option", "-g", "status", "off")
    if passthrough:
        tmux.run("set-option", "-g", "allow-passthrough", "on")
    if rgb:
        tmux.run("set-option", "-as", "terminal-features", ",xterm-256color:RGB")
    assert tmux.tmux is not None
    env = {**tmux._env(), "TERM": "xterm-256color", "LANG": "C.UTF-8"}
    outer.attach(tmux.tmux, tmux.socket, env)
    outer.wait_for(lambda _: tmux.pane("#{client_termtype}") == outer.name, "tmux to know kitty")


def every_image_deleted(outer: OuterTerminal) -> None:
    try:
        outer.wait_for(
            lambda out: set(graphics(out).deleted) >= set(graphics(out).transmissions),
            "every image deleted",
        )
    except AssertionError as error:
        order = graphics(bytes(outer.output)).order
        raise AssertionError(f"{error}\nsent (t), placed (p), deleted (d): {order}") from None


def run_in_pane(tmux: Tmux, *command: str, tmp: Path) -> None:
    environment = {"COLORTERM": "truecolor", "XDG_CACHE_HOME": str(tmp / "cache")}
    settings = " ".join(f"{k}={shlex.quote(v)}" for k, v in environment.items())
    line = f'env {settings} {shlex.join(command)}; echo "{EXITED} $?]"; exec sleep 600'
    tmux.run("respawn-pane", "-k", "-t", tmux.target, "sh", "-c", line)


def is_same_picture(drawn: Image.Image, original: Image.Image) -> bool:
    """The same picture, scaled: its mean colour within 10 of 255 and, since the tiny
    model's pictures all have about the same mean, its 16x16 thumbnails alike (about
    1 apart for the same picture, over 10 for another seed's, measured)."""
    drawn = drawn.convert("RGB")
    means = zip(ImageStat.Stat(drawn).mean, ImageStat.Stat(original).mean, strict=True)
    small = [p.resize((16, 16), Image.Resampling.BOX) for p in (drawn, original)]
    apart = ImageStat.Stat(ImageChops.difference(*small)).mean
    return all(abs(a - b) < 10 for a, b in means) and max(apart) < 4


def on_screen(outer: OuterTerminal) -> str:
    return "\n".join(outer.screen.display)


def grid(columns: int, rows: int) -> set[tuple[int, int]]:
    return {(r, c) for r in range(rows) for c in range(columns)}


def shown(outer: OuterTerminal, *, true_colour: bool = False) -> dict[int, tuple[int, int]]:
    """The placed images whose every cell is on its screen: id -> (columns, rows)."""
    cells = placeholder_cells(outer.screen, true_colour=true_colour)
    placed = graphics(bytes(outer.output)).placements
    return {i: size for i, size in placed.items() if cells.get(i) == grid(*size)}


def test_kitty_pictures_pass_through_tmux_sized_by_the_terminal(
    daemon: tuple[ApiDaemon, list[Image.Image]], tmux: Tmux, outer: OuterTerminal, tmp_path: Path
) -> None:
    d, served = daemon
    attached(tmux, outer, passthrough=True)
    run_in_pane(tmux, str(GLADTUI), "--config", str(d.config_file), tmp=tmp_path)
    first_shown = outer.wait_for(lambda _: shown(outer), "a kitty picture, all its cells shown")
    [(image_id, (columns, rows))] = first_shown.items()
    output = bytes(outer.output)

    # The variation, at the terminal's cell size, far sharper than half blocks.
    picture = graphics(output).image(image_id)
    assert picture.size == (columns * CELL[0], rows * CELL[1])
    assert picture.width * picture.height >= 4 * columns * (2 * rows)
    [first] = [n for n, original in enumerate(served) if is_same_picture(picture, original)]

    # The help names the choice and the cell size; closing it sends nothing again.
    sent = graphics(output).transmissions
    tmux.send("?")
    tmux.wait_for("the help", lambda s: "gladtui: keys" in s)
    tmux.run("send-keys", "-t", tmux.target, "End")  # its last lines: the pictures
    help_screen = words(tmux.wait_for("the pictures in the help", lambda s: "cells:" in s))
    assert (
        "kitty graphics protocol (real pixels): inside tmux 3.3a with allow-passthrough on,"
        " your terminal (kitty(0.35.2)) answered the kitty graphics query" in help_screen
    ), help_screen
    assert "cells: 12x24 pixels (the terminal's answer to CSI 16 t)" in help_screen
    outer.wait_for(lambda _: "Pictures" in on_screen(outer), "the help on the terminal")
    assert image_id not in shown(outer)
    tmux.send("\x1b")
    outer.wait_for(lambda _: image_id in shown(outer), "the picture's cells back after the help")
    assert graphics(bytes(outer.output)).transmissions == sent

    # The next task: its picture takes the box under a new id; the old one is deleted.
    tmux.send("j")
    next_shown = outer.wait_for(
        lambda out: image_id in graphics(out).deleted and set(shown(outer)) - {image_id},
        "the next task's picture, the first deleted",
    )
    [other_id] = next_shown
    output = bytes(outer.output)
    assert is_same_picture(graphics(output).image(other_id), served[1 - first])

    # q: every image the terminal was sent is deleted, none left behind.
    tmux.send("q")
    tmux.wait_for("the TUI to exit", lambda s: f"{EXITED} 0]" in s)
    every_image_deleted(outer)
    final = graphics(bytes(outer.output))
    for image in final.transmissions:
        last = max(n for n, (kind, i) in enumerate(final.order) if (kind, i) == ("t", image))
        assert ("d", image) in final.order[last:], f"image {image} kept after it was sent"


def test_through_tmux_to_a_terminal_with_24_bit_colour_the_ids_are_24_bits(
    daemon: tuple[ApiDaemon, list[Image.Image]], tmux: Tmux, outer: OuterTerminal, tmp_path: Path
) -> None:
    """tmux writes the placeholders' colours on as RGB: the id sent is the 24-bit one."""
    d, served = daemon
    attached(tmux, outer, passthrough=True, rgb=True)
    assert "RGB" in tmux.pane("#{client_termfeatures}")
    run_in_pane(tmux, str(GLADTUI), "--config", str(d.config_file), tmp=tmp_path)
    placed = outer.wait_for(
        lambda _: shown(outer, true_colour=True), "a picture named by 24-bit colours"
    )
    [image_id] = placed
    picture = graphics(bytes(outer.output)).image(image_id)
    assert any(is_same_picture(picture, original) for original in served)
    assert b"\x1b[38;2;" in bytes(outer.output)  # as 24 bits indeed


def test_without_passthrough_half_blocks_and_status_says_how(
    daemon: tuple[ApiDaemon, list[Image.Image]], tmux: Tmux, outer: OuterTerminal, tmp_path: Path
) -> None:
    d, _ = daemon
    attached(tmux, outer, passthrough=False)
    run_in_pane(tmux, str(GLADTUI), "--config", str(d.config_file), "status", tmp=tmp_path)
    tmux.wait_for("the status", lambda s: EXITED in s)
    status = " ".join(tmux.run("capture-pane", "-p", "-J", "-t", tmux.target).split())
    assert f"{EXITED} 0]" in status, status
    assert (
        "pictures: coloured half blocks (two pixels per cell): inside tmux 3.3a with"
        " allow-passthrough off: no graphics reach your terminal (kitty(0.35.2)); for real"
        " pixels add `set -g allow-passthrough on` to ~/.tmux.conf" in status
    ), status
    assert "cells: 12x24 pixels (tmux's client_cell_width and client_cell_height)" in status

    run_in_pane(tmux, str(GLADTUI), "--config", str(d.config_file), tmp=tmp_path)
    half = "▀".encode()
    outer.wait_for(lambda out: out.count(half) >= 60, "the picture in half blocks")
    assert b"\x1b_G" not in bytes(outer.output)  # no kitty graphics reached the terminal
    tmux.send("q")
    tmux.wait_for("the TUI to exit", lambda s: f"{EXITED} 0]" in s)


@pytest.fixture
def large() -> Iterator[tuple[ApiDaemon, list[Image.Image]]]:
    """A daemon with a task of two 1024x1024 variations whose pixels name their place."""
    d = ApiDaemon(None).start()
    add_review_task(d, "loupe", (1024, 1024), 2, paint=coordinates)
    pictures = [Image.open(io.BytesIO(d.client.image("loupe", n))).convert("RGB") for n in (1, 2)]
    yield d, pictures
    d.cleanup()


def loupe_on_screen(outer: OuterTerminal) -> tuple[tuple[int, int, int, int], Image.Image] | None:
    """The place the screen names and the kitty image whose cells are all on screen,
    when that image has the place's size at the terminal's cell size."""
    found = PLACE.search(on_screen(outer))
    if found is None:
        return None
    left, right, top, bottom = (int(n) for n in found.groups())
    for image_id, (columns, rows) in shown(outer).items():
        if (columns * CELL[0], rows * CELL[1]) == (right - left, bottom - top):
            picture = graphics(bytes(outer.output)).image(image_id).convert("RGB")
            return (left, top, right, bottom), picture
    return None


def test_the_loupe_through_tmux_sends_the_served_crop_at_the_place_named(
    large: tuple[ApiDaemon, list[Image.Image]], tmux: Tmux, outer: OuterTerminal, tmp_path: Path
) -> None:
    d, served = large
    attached(tmux, outer, passthrough=True)
    run_in_pane(tmux, str(GLADTUI), "--config", str(d.config_file), tmp=tmp_path)
    outer.wait_for(lambda _: shown(outer), "the gallery's pictures")

    def loupe_of(
        index: int, what: str, moved_from: tuple[int, int, int, int] | None = None
    ) -> tuple[int, int, int, int]:
        """Wait until the loupe shows variation `index` at the place it names (another
        than `moved_from`): the kitty image is exactly the served picture's crop there,
        one pixel per pixel."""

        def matches(_: bytes) -> tuple[int, int, int, int] | None:
            seen = loupe_on_screen(outer)
            if seen is None or seen[0] == moved_from:
                return None
            box, picture = seen
            original = served[index - 1].crop(box)
            same = ImageChops.difference(picture, original).getbbox() is None
            return box if same else None

        return outer.wait_for(matches, what)

    tmux.send("z")
    box = loupe_of(1, "variation 1 at 100 %, centred")
    width, height = box[2] - box[0], box[3] - box[1]
    assert (width, height) == ((WIDTH - 1) * CELL[0], (HEIGHT - 3) * CELL[1])
    assert ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2) == (512, 512)

    tmux.send("j")  # down a quarter of the view
    moved = loupe_of(1, "the loupe panned down", moved_from=box)
    assert moved == (box[0], box[1] + height // 4, box[2], box[3] + height // 4)
    tmux.send("l")  # right: less than a quarter is left, it stops at the edge
    moved = loupe_of(1, "the loupe panned right", moved_from=moved)
    assert moved[2] == 1024 and moved[2] - moved[0] == width
    tmux.send("\x1b[C")  # → : the other variation, at the same place
    assert loupe_of(2, "variation 2 where the loupe was") == moved

    tmux.send("q")  # back to the list; q there quits
    tmux.wait_for("the list", lambda s: "100 % x" not in s and "loupe" in s)
    tmux.send("q")
    tmux.wait_for("the TUI to exit", lambda s: f"{EXITED} 0]" in s)
    every_image_deleted(outer)
