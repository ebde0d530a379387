"""A reviewer's loop: decide, and the next task's thumbnails are on screen.

Targets (issue "Review you can trust at 80×24", then issue 28): over 200
tasks of 3 variations at 80x24, from the key that completes a decision to
the frame that shows the next task awaiting review with its three pictures,
p95 at most 50 ms; and the keys a decision takes: 1 with `tui.confirm_decisions:
false`, 2 with the dialog (`a`, then `y`).

Two daemons run in child processes (tests.apidaemon.ApiDaemon, model
parked), each with `--tasks` tasks in review whose thumbnails are real PNG
files, and a grace period long enough that no decision takes effect during
the run (what is measured is the TUI, not the publisher). The app is built as
`gladtui tui` builds it and runs headless under Textual's pilot; a frame is
timed as bench/tui.py times it (`Frames`). Each decision starts from a
settled screen, once the screen's fetches are done: the reviewer looks at a
task for longer than the next ones take to be fetched ahead (one decision a
second is fast), which is when the issue asks the loop to be quick.

Then the large view (bench/loupe.py, which runs alone too): a loupe pan and
the compare toggled, with kitty graphics forced on a 1024² variation, p95 at
most 100 ms each, and the bytes a pan sends. Run:

    .venv/bin/python bench/review.py [--tasks 200] [--size 80x24] [--pans 100]
        [--toggles 40] [--only loop|loupe] [--json PATH] [--against REF [--rounds 2]]

`--against REF` (e.g. `main`): the same figures for REF's code and this tree's,
alternately in one run, and their ratios (bench/against.py).
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import against, loupe, report  # noqa: E402
from bench.tui import QUIET, TIMEOUT, Frames, median, ms, p95, painted, send, until  # noqa: E402

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

TARGET_P95 = 0.050  # seconds, the review loop (the large view's: loupe.TARGET_P95)
THUMBNAIL = 160  # pixels, as the daemon makes them


def serve(count: int, confirm: bool) -> int:
    """Child process: a daemon with `count` tasks in review, until stdin closes."""
    from PIL import Image

    from daemon.store import NewTask, NewVariation
    from gladtui.shapes import TaskStatus
    from tests.apidaemon import ApiDaemon

    settings = {"publishing": {"grace_seconds": 3600}, "tui": {"confirm_decisions": confirm}}
    d = ApiDaemon(None, settings=settings).start()
    try:
        assert d.daemon is not None
        store, folder = d.daemon.store, d.root / "thumbs"
        folder.mkdir()
        tasks, variations = [], []
        for n in range(count):
            task_id = f"review-{n:04d}"
            tasks.append(NewTask(id=task_id, title=f"Post {n} about bread", prompt="bread",
                                 variations=3, steps=30, guidance_scale=7.0, width=1024,
                                 height=1024, seed=n))  # fmt: skip
            for idx in (1, 2, 3):
                path = folder / f"{task_id}-{idx}.png"
                colour = ((n * 37) % 256, (idx * 80) % 256, (n * 11 + idx * 50) % 256)
                Image.new("RGB", (THUMBNAIL, THUMBNAIL), colour).save(path)
                variations.append(
                    NewVariation(task_id=task_id, idx=idx, path=str(path), thumbnail=str(path),
                                 seed=n + idx - 1, prompt="bread", negative_prompt="",
                                 width=1024, height=1024, steps=30, guidance_scale=7.0,
                                 model="bench")
                )  # fmt: skip
        with store.transaction():
            store.tasks.create_many(tasks, status=TaskStatus.REVIEW)
            store.variations.add_many(variations)
        print(json.dumps({"config": str(d.config_file)}), flush=True)
        sys.stdin.read()
    finally:
        d.cleanup()
    return 0


def spawn(count: int, confirm: bool) -> tuple[subprocess.Popen[str], Path]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", str(count)]
    command += [] if confirm else ["--one-key"]
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


def next_for_review(app: Any) -> str | None:
    """The task the cursor should land on after a decision: the next one awaiting review."""
    tasks = app.review.tasks
    for position in range(tasks.cursor + 1, len(tasks.window)):
        row = tasks.window.get(position)
        if row is not None and row["status"] == "review":
            return str(row["id"])
    return None


def pictures_of(app: Any, task_id: str) -> bool:
    """The gallery shows `task_id` with its three pictures."""
    from textual_image.widget import Image

    gallery = app.review.gallery
    return (
        gallery.task_id == task_id
        and not gallery.has_class("-stale")
        and len(gallery.query(Image)) == 3
    )


FETCHES = {"ahead", "pictures", "detail", "pages"}  # the review screen's fetch workers


def fetching(app: Any) -> bool:
    """A fetch of the review screen is still running (the look-ahead, the cursor's task)."""
    return any(w.group in FETCHES and not w.is_finished for w in app.workers)


def state(app: Any) -> str:
    """What the screen shows instead, for a failure's message."""
    from textual_image.widget import Image

    gallery, current = app.review.gallery, app.review.tasks.current
    return (
        f"cursor on {current and current['id']}, gallery of {gallery.task_id}, "
        f"{'stale, ' if gallery.has_class('-stale') else ''}{len(gallery.query(Image))} pictures, "
        f"screen {type(app.screen).__name__}; notes: {[n.message for n in app._notifications]}"
    )


async def loop(config: Any, size: tuple[int, int], decisions: int) -> tuple[list[float], int]:
    """Decide `decisions` times; seconds from the last key of each to the next task's
    pictures on screen, and the keys sent in all."""
    from gladtui.tui import make_app
    from gladtui.tui.modals import ApproveScreen

    app = make_app(config)
    frames = Frames(app)
    times, keys = [], 0
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.connected and app.review.tasks.window.loaded, "the list")
        for _ in range(decisions):
            current = app.review.tasks.current
            following = next_for_review(app)
            if current is None or following is None:
                break
            await until(pilot, lambda c=current: pictures_of(app, c["id"]), "the cursor's task")
            # The reviewer looks at this task: meanwhile the next ones are fetched ahead.
            await until(pilot, lambda: not fetching(app), "the look-ahead's fetches")
            await _quiet(frames)
            if app.review.confirm:
                send(app, "a")
                keys += 1
                dialog = f"the dialog (before it: {state(app)})"
                await until(pilot, lambda: isinstance(app.screen, ApproveScreen), dialog)
                await _quiet(frames)  # the reviewer reads it: y comes to a settled dialog
                last = "y"
            else:
                last = "a"
            shown = frames.expect(lambda f=following: pictures_of(app, f))
            started = time.perf_counter()
            send(app, last)
            keys += 1
            [when] = await painted([shown], f"the pictures of {following} ({state(app)})")
            times.append(when - started)
    return times, keys


async def _quiet(frames: Frames) -> None:
    deadline = time.perf_counter() + TIMEOUT
    while time.perf_counter() - frames.last < QUIET and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--size", default="80x24", help="terminal size, WxH")
    parser.add_argument("--pans", type=int, default=100, help="loupe pans timed")
    parser.add_argument("--toggles", type=int, default=40, help="compare toggles timed")
    parser.add_argument("--only", choices=["loop", "loupe"], default=None)
    parser.add_argument("--against", metavar="REF", help="also measure REF's code, in turns")
    parser.add_argument("--rounds", type=int, default=2, help="turns each, with --against")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--one-key", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)  # whose gladtui is measured
    parser.add_argument("--times", type=Path, help=argparse.SUPPRESS)  # raw figures, for --against
    report.add_json_option(parser)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve, confirm=not args.one_key)
    if args.against:
        names = ("tasks", "size", "pans", "toggles")
        forwarded = [f"--{name}={getattr(args, name)}" for name in names]
        forwarded += [f"--only={args.only}"] if args.only else []
        against.compare(Path(__file__).resolve(), args.against, args.rounds, forwarded)
        return 0
    if args.code is not None:
        sys.path.insert(0, str(args.code.resolve()))  # before gladtui is first imported

    import gladtui.tui  # noqa: F401  (textual-image first, as `gladtui tui` does)

    width, height = (int(n) for n in args.size.split("x"))
    rows: list[dict[str, Any]] = []
    times: dict[str, list[float]] = {}
    met = True
    if args.only != "loupe":
        met &= review_loop(args.tasks, (width, height), args.size, rows, times)
    if args.only != "loop":
        met &= large_view((width, height), args.size, args.pans, args.toggles, rows, times)
    report.write_rows(args.json, rows)
    if args.times is not None:
        args.times.write_text(json.dumps(times))
    return 0 if met else 1


def review_loop(
    tasks: int, size: tuple[int, int], shown: str, rows: list[Any], raw: dict[str, list[float]]
) -> bool:
    from gladtui.config import load_config

    started = [spawn(tasks, confirm) for confirm in (True, False)]
    results: dict[str, tuple[list[float], int]] = {}
    try:
        for (_process, config_file), mode in zip(started, ("dialog", "one key"), strict=True):
            config = load_config(config_file, env={})
            results[mode] = asyncio.run(loop(config, size, tasks - 1))
    finally:
        for process, _config in started:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(60)
    met = True
    print(f"a reviewer's loop over {tasks} tasks of 3 variations at {shown}")
    for mode, (times, keys) in results.items():
        raw[f"decision key -> next task's pictures, {mode}"] = times
        per = keys / max(len(times), 1)
        ok = p95(times) <= TARGET_P95
        met &= ok
        print(
            f"  {mode:>8}: {len(times)} decisions, {per:g} key(s) each; decision key -> next "
            f"task's pictures painted: p50 {ms(median(times))} ms, p95 {ms(p95(times))} ms "
            f"(target p95 <= {ms(TARGET_P95)} ms: {'met' if ok else 'MISSED'})"
        )
        rows.append(report.row("review", f"decision key → next task's pictures, {mode}, "
                               f"p50 / p95 of {len(times)}, {shown}",
                               f"{ms(median(times))} / {ms(p95(times))} ms, {per:g} key(s)",
                               p95(times) * 1000, "p95 ≤ 50 ms", ok))  # fmt: skip
    return met


def large_view(
    size: tuple[int, int],
    shown: str,
    pans: int,
    toggles: int,
    rows: list[Any],
    raw: dict[str, list[float]],
) -> bool:
    met = True
    results = loupe.run(size, pans, toggles)
    raw["loupe pan"], raw["compare toggle"] = results.pans, results.toggles
    raw["kitty bytes per pan"] = [float(b) for b in results.pan_kitty_bytes]
    for figure, measured, p95_ms, ok in loupe.printed(results, shown):
        met &= ok
        rows.append(report.row("review", figure, measured, p95_ms, "p95 ≤ 100 ms", ok))
    return met


if __name__ == "__main__":
    sys.exit(main())
