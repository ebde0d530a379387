"""The large view with kitty graphics forced: a loupe pan, and the compare toggled.

Targets (issue 28): on a 1024x1024 variation, with kitty graphics, from the
key to the frame that shows its effect, p95 at most 100 ms, for a pan of the
loupe (`l` `h` `j` `k`) and for `p` (the compare on, and off again); and the
bytes a pan sends the terminal.

A daemon in a child process (tests.apidaemon.ApiDaemon, model parked) holds one
task of three 1024² variations of blurred noise (which compresses about as
badly as a photograph). The app is built as `gladtui tui` builds it and runs
headless under Textual's pilot, with kitty graphics forced at a cell of 10x20
pixels (at 80x24 the loupe then shows 790x420 image pixels); a frame is timed
as bench/tui.py times it (`Frames`, which also encodes each frame as a
terminal would be sent it). The kitty escapes (the crop as PNG, base64, its
placement, the old picture's deletion) are counted where the widget hands them
to Textual's writer. The three full images are fetched before the first key,
so what is measured is the crop, its PNG and the frame, not the socket. Each
key starts from a settled screen. Run alone:

    .venv/bin/python bench/loupe.py [--pans 100] [--toggles 40] [--size 80x24]

(bench/review.py runs it too, after the review loop.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.tui import QUIET, TIMEOUT, Frames, median, ms, p95, painted, send, until  # noqa: E402

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

SIZE = 1024
TARGET_P95 = 0.100  # seconds
CELL = (10, 20)  # pixels, a common kitty cell
PAN_KEYS = ["l", "j", "h", "k", "j", "l", "k", "h"]  # round about the middle


def serve() -> int:
    """Child process: a daemon with one task of three 1024² variations, until stdin closes."""
    from PIL import Image, ImageFilter

    from tests.apidaemon import ApiDaemon
    from tests.storedpictures import add_review_task

    def blurred_noise(size: tuple[int, int], idx: int) -> Image.Image:
        noise = Image.effect_noise(size, 40 + 10 * idx).convert("RGB")
        return noise.filter(ImageFilter.GaussianBlur(2))

    d = ApiDaemon(None).start()
    try:
        add_review_task(d, "loupe", (SIZE, SIZE), 3, paint=blurred_noise)
        print(json.dumps({"config": str(d.config_file)}), flush=True)
        sys.stdin.read()
    finally:
        d.cleanup()
    return 0


def spawn() -> tuple[subprocess.Popen[str], Path]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve"]
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        log.seek(0)
        sys.stderr.write(log.read())
        raise RuntimeError("the benchmark's daemon did not start")
    return process, Path(json.loads(line)["config"])


def force_kitty() -> None:
    """Kitty graphics, as `gladtui tui` chooses them for a kitty terminal outside tmux."""
    from gladtui.pictureprotocol import Choice
    from gladtui.terminalfacts import CellPixels, TerminalFacts
    from gladtui.tui import picturewidget

    cell = CellPixels(*CELL, "the benchmark")
    facts = TerminalFacts(True, None, False, "kitty(0.35.2)", True, False, cell)
    picturewidget.use(Choice("kitty", "forced by the benchmark", facts))


@dataclass
class Sent:
    """The bytes the app writes to its terminal besides frames: the kitty escapes (headless,
    Textual writes frames nowhere; bench/tui.py's `Frames` encodes and counts them)."""

    kitty: int = 0

    def install(self, app: Any) -> None:
        driver = app._driver
        original = driver.write

        def write(data: str) -> None:
            self.kitty += len(data.encode())
            original(data)

        driver.write = write


@dataclass
class Results:
    pans: list[float] = field(default_factory=list)
    pan_kitty_bytes: list[int] = field(default_factory=list)
    pan_frame_bytes: list[int] = field(default_factory=list)
    crop: tuple[int, int] = (0, 0)
    toggles: list[float] = field(default_factory=list)


def drawn(screen: Any, crops: int) -> bool:
    """The large view's `crops` panels each show their loupe crop, sent to the terminal."""
    from gladtui.tui.kittypicture import KittyPicture
    from gladtui.tui.largeview import LargeView

    if not isinstance(screen, LargeView) or not screen.zoomed:
        return False
    # A tree measured by --against from before hidden panels has `panels` only.
    shown = getattr(screen, "shown_panels", screen.panels)
    if len(shown) != crops:
        return False
    for panel in shown:
        widget = panel.picture
        if not isinstance(widget, KittyPicture) or panel.cropped is None:
            return False
        if widget._shown is None or widget._shown.picture is not panel.cropped[2]:
            return False
        if panel.cropped[1] != next_box(screen, panel):
            return False
    return True


def next_box(screen: Any, panel: Any) -> tuple[int, int, int, int] | None:
    crop = screen.sights[screen.panels.index(panel)]
    return None if crop is None else crop.box


async def measure(config: Any, size: tuple[int, int], pans: int, toggles: int) -> Results:
    from gladtui.tui import make_app
    from gladtui.tui.loupe import pan

    force_kitty()
    sent = Sent()
    app = make_app(config)
    frames = Frames(app)
    results = Results()
    async with app.run_test(size=size) as pilot:
        sent.install(app)
        review = app.review
        await until(pilot, lambda: review.gallery.current is not None, "the gallery")
        variations = review.gallery.variations
        task_id = review.gallery.task_id
        send(app, "z")
        await until(pilot, lambda: drawn(app.screen, 1), "the loupe")
        full = lambda: all(review.pictures.get_full(task_id, v) for v in variations)  # noqa: E731
        await until(pilot, full, "the three full images")
        screen = app.screen
        results.crop = (screen.sights[0].width, screen.sights[0].height)
        keys = iter(PAN_KEYS * (pans // len(PAN_KEYS) + 2))
        moves = {"l": (1, 0), "h": (-1, 0), "j": (0, 1), "k": (0, -1)}
        while len(results.pans) < pans:
            key = next(keys)
            crop = screen.sights[-1]
            if pan(crop, *moves[key]) == crop.centre:
                continue  # at the edge: nothing would move
            await _quiet(frames)
            before_kitty, before_frames = sent.kitty, frames.encoded_bytes
            shown = frames.expect(lambda c=crop: screen.sights[-1] != c and drawn(screen, 1))
            started = time.perf_counter()
            send(app, key)
            [when] = await painted([shown], f"the loupe panned ({key})")
            results.pans.append(when - started)
            await _quiet(frames)  # the old picture's deletion comes after the next refresh
            results.pan_kitty_bytes.append(sent.kitty - before_kitty)
            results.pan_frame_bytes.append(frames.encoded_bytes - before_frames)
        for n in range(toggles):
            await _quiet(frames)
            crops = 2 if n % 2 == 0 else 1  # p pins: two panels; p again: one
            shown = frames.expect(lambda c=crops: drawn(screen, c))
            started = time.perf_counter()
            send(app, "p")
            [when] = await painted([shown], f"the compare toggled ({crops} panels)")
            results.toggles.append(when - started)
    return results


async def _quiet(frames: Frames) -> None:
    deadline = time.perf_counter() + TIMEOUT
    while time.perf_counter() - frames.last < QUIET and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)


def run(size: tuple[int, int], pans: int, toggles: int) -> Results:
    """The whole measurement: its own daemon, then the app."""
    import gladtui.tui  # noqa: F401  (textual-image first, as `gladtui tui` does)
    from gladtui.config import load_config

    process, config_file = spawn()
    try:
        return asyncio.run(measure(load_config(config_file, env={}), size, pans, toggles))
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(60)


def lines(results: Results, size: str) -> list[tuple[str, str, float, bool]]:
    """(figure, measured, p95 in ms, met) for each timed figure, printed and reported."""
    width, height = results.crop
    kitty = median([float(b) for b in results.pan_kitty_bytes])
    frame = median([float(b) for b in results.pan_frame_bytes])
    out = []
    for what, times in (
        (f"loupe pan, key → repainted ({width}x{height} px crop)", results.pans),
        ("compare toggled with p (on, off), key → repainted, in the loupe", results.toggles),
    ):
        shown = f"{ms(median(times))} / {ms(p95(times))} ms"
        if times is results.pans:
            shown += f"; sent per pan: {kitty / 1024:.0f} KB kitty + {frame / 1024:.1f} KB frame"
        out.append((f"{what}, kitty, p50 / p95 of {len(times)}, {size}", shown,
                    p95(times) * 1000, p95(times) <= TARGET_P95))  # fmt: skip
    return out


def printed(results: Results, size: str) -> list[tuple[str, str, float, bool]]:
    """`lines`, printed with their targets."""
    cell = f"{CELL[0]}x{CELL[1]}"
    print(f"the large view, kitty graphics forced (cell {cell} px), {SIZE}² variations")
    out = lines(results, size)
    for figure, shown, _p95, ok in out:
        verdict = "met" if ok else "MISSED"
        print(f"  {figure}: {shown} (target p95 <= {ms(TARGET_P95)} ms: {verdict})")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pans", type=int, default=100)
    parser.add_argument("--toggles", type=int, default=40)
    parser.add_argument("--size", default="80x24", help="terminal size, WxH")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve()
    width, height = (int(n) for n in args.size.split("x"))
    out = printed(run((width, height), args.pans, args.toggles), args.size)
    return 0 if all(ok for *_, ok in out) else 1


if __name__ == "__main__":
    sys.exit(main())
