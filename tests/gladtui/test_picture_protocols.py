"""Pictures drawn for real: the TUI under a pseudo-terminal, the protocol forced.

The bytes the TUI writes are captured as a terminal would receive them. A
sixel is decoded by libsixel's own `sixel2png` (Debian's libsixel-bin), the
kitty graphics and iTerm2 payloads by base64 and Pillow, and each is compared
with the variation the daemon serves: the size it was scaled to, and its
mean colour within a tolerance (sixel quantizes to 256 colours).
"""

from __future__ import annotations

import base64
import fcntl
import io
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from daemon.generation.models import LoadedModel
from tests.apidaemon import ApiDaemon, task_yaml
from tests.kittybytes import PLACEHOLDER, graphics, placeholder_cells, screen

GLADTUI = Path(sys.executable).parent / "gladtui"
ROWS, COLUMNS = 30, 100
CELL_WIDTH, CELL_HEIGHT = 10, 20  # pixels, told to the program through TIOCGWINSZ

SIXEL = re.compile(rb"\x1bP[0-9;]*q.*?\x1b\\", re.DOTALL)
KITTY = re.compile(rb"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\")
ITERM2 = re.compile(rb"\x1b\]1337;File=([^:\x07]*):([A-Za-z0-9+/=]*)\x07")


@pytest.fixture(scope="module")
def daemon(tiny: LoadedModel) -> Iterator[tuple[ApiDaemon, dict[str, Any]]]:
    d = ApiDaemon(tiny).start()
    task = d.wait_status(
        d.submit(task_yaml("Drawn", variations=1, width=128, height=128)), "review"
    )
    yield d, task
    d.cleanup()


def run_tui(d: ApiDaemon, protocol: str, tmp: Path, until: Callable[[bytes], object]) -> bytes:
    """Everything the TUI writes until `until(output)` holds (or 60 s), then it is stopped."""
    main, child = os.openpty()
    fcntl.ioctl(
        child,
        termios.TIOCSWINSZ,
        struct.pack("HHHH", ROWS, COLUMNS, COLUMNS * CELL_WIDTH, ROWS * CELL_HEIGHT),
    )
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
        "GLADTUI_PICTURES": protocol,
        "XDG_CACHE_HOME": str(tmp / "cache"),
    }
    env.pop("TMUX", None)
    process = subprocess.Popen(
        [str(GLADTUI), "--config", str(d.config_file), "tui"],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        start_new_session=True,
    )
    os.close(child)
    output = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not until(bytes(output)):
            ready, _, _ = select.select([main], [], [], 0.2)
            if ready:
                try:
                    output += os.read(main, 1 << 16)
                except OSError:  # the program ended: the pty is closed
                    break
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
        os.close(main)
    return bytes(output)


def served(d: ApiDaemon, task: dict[str, Any]) -> Image.Image:
    return Image.open(io.BytesIO(d.client.image(task["id"], 1))).convert("RGB")


def assert_same_picture(drawn: Image.Image, original: Image.Image) -> None:
    # Scaled to fit the gallery box, aspect kept: square, at most the box's pixels.
    assert drawn.width == drawn.height, drawn.size
    assert 4 * CELL_HEIGHT <= drawn.height <= ROWS * CELL_HEIGHT, drawn.size
    expected = original.resize(drawn.size, Image.Resampling.LANCZOS)
    got = ImageStat.Stat(drawn.convert("RGB")).mean
    want = ImageStat.Stat(expected).mean
    assert all(abs(g - w) < 10 for g, w in zip(got, want, strict=True)), (got, want)


@pytest.mark.skipif(shutil.which("sixel2png") is None, reason="needs libsixel-bin's sixel2png")
def test_sixel_is_the_variation_as_libsixel_decodes_it(
    daemon: tuple[ApiDaemon, dict[str, Any]], tmp_path: Path
) -> None:
    d, task = daemon
    output = run_tui(d, "sixel", tmp_path, SIXEL.search)
    sixels = SIXEL.findall(output)
    assert sixels, output[-2000:]
    (tmp_path / "drawn.six").write_bytes(max(sixels, key=len))
    subprocess.run(
        ["sixel2png", "-i", str(tmp_path / "drawn.six"), "-o", str(tmp_path / "drawn.png")],
        check=True,
    )
    assert_same_picture(Image.open(tmp_path / "drawn.png"), served(d, task))


def test_kitty_graphics_carry_the_variation(
    daemon: tuple[ApiDaemon, dict[str, Any]], tmp_path: Path
) -> None:
    d, task = daemon

    def on_screen(output: bytes) -> bool:
        """A placement, and the cells that show it: placeholders naming it (by 24-bit
        colours: COLORTERM says true colour), one for each cell of the placement."""
        placed = graphics(output).placements
        if output.count(PLACEHOLDER.encode()) < sum(c * r for c, r in placed.values()):
            return False  # not drawn yet: spare reading the screen
        cells = placeholder_cells(screen(output, COLUMNS, ROWS), true_colour=True)
        return any(cells.get(i) == _grid(c, r) for i, (c, r) in placed.items())

    output = run_tui(d, "kitty", tmp_path, on_screen)
    assert on_screen(output), output[-2000:]
    [image_id] = graphics(output).placements
    assert_same_picture(graphics(output).image(image_id), served(d, task))


def test_iterm2_inline_images_carry_the_variation(
    daemon: tuple[ApiDaemon, dict[str, Any]], tmp_path: Path
) -> None:
    d, task = daemon
    output = run_tui(d, "iterm2", tmp_path, ITERM2.search)
    found = ITERM2.findall(output)
    assert found, output[-2000:]
    args, payload = found[0]
    png = base64.b64decode(payload)
    drawn = Image.open(io.BytesIO(png))
    assert f"width={drawn.width}px;height={drawn.height}px".encode() in args
    assert_same_picture(drawn, served(d, task))


def test_half_blocks_draw_cells_and_no_graphics(
    daemon: tuple[ApiDaemon, dict[str, Any]], tmp_path: Path
) -> None:
    d, _ = daemon
    half = "▀".encode()
    # A 128x128 picture in a box of at least 8 rows: over a hundred half-block cells.
    output = run_tui(d, "halfblocks", tmp_path, lambda out: out.count(half) >= 120)
    assert output.count(half) >= 120
    assert not SIXEL.search(output) and not ITERM2.search(output)
    # textual-image's start-up query (a=q) aside, no kitty graphics command.
    assert [keys for keys, _ in KITTY.findall(output) if b"a=q" not in keys] == []


def _grid(columns: int, rows: int) -> set[tuple[int, int]]:
    return {(r, c) for r in range(rows) for c in range(columns)}
