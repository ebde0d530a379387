"""Review TUI benchmark: first paint and cursor latency over 100,000 tasks.

Targets (issue "Review TUI"): with 100,000 tasks in review, the task list shows
its first rows at most 1 s after the app starts, and a cursor move (one Down)
is on screen within 50 ms.

The app runs headless under Textual's pilot, built as `gladtui tui` builds
it (`gladtui.tui.make_app`), against real daemons: one with 100,000 tasks and
a baseline with 100, both measured in this one run, so the ratio between them
holds on a noisy machine. Each daemon runs in a child process
(`tests.apidaemon.ApiDaemon`, model parked, queue filled through the store
with bench/api.py's `fill`), as it does in use: its work must not compete with
the TUI for this process's GIL.

"Painted" is the moment Textual hands a frame to the terminal: `App._display`
is wrapped to timestamp each frame and to encode it as escape codes (the work
a real terminal's frame costs; headless mode skips it). A key is timed from
its sending (as the terminal driver sends it) to the first frame that shows
its effect. Pilot's own idle waits are not in those figures; "pilot round
trip" shows them apart. Between measured presses the screen settles (the
detail pane has its task, then no frame for 0.08 s), so each press starts
from a quiet screen. "Held" and "skimming" send Down at a fixed rate without
waiting, and time each key until a frame shows it. Run:

    .venv/bin/python bench/tui.py [--tasks 100000] [--baseline 100] [--starts 3]
        [--moves 200] [--pilot 10] [--held 60] [--skim 15] [--pages 25] [--jumps 5]
        [--size 80x24] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import report  # noqa: E402

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

Predicate = Callable[[], bool]
TIMEOUT = 30.0  # s: a frame that has not come by then is a failure, not a figure
QUIET = 0.08  # s without a frame: the screen has settled
HELD_RATE = 30.0  # keys/s: a held key's auto-repeat
SKIM_RATE = 5.0  # keys/s: a reviewer skimming, each key amid the last one's detail fetch


# -- the daemons (child processes) ------------------------------------------------------


def serve(count: int) -> int:
    """Child process: a daemon with `count` tasks in review, until stdin closes."""
    from bench.api import fill
    from tests.apidaemon import ApiDaemon

    d = ApiDaemon(None).start()
    try:
        assert d.daemon is not None
        started = time.perf_counter()
        fill(d.daemon.store, count)
        filled = time.perf_counter() - started
        print(json.dumps({"config": str(d.config_file), "fill": filled}), flush=True)
        sys.stdin.read()  # the parent closes our stdin when it is done
    finally:
        d.cleanup()
    return 0


@dataclass
class Daemon:
    count: int
    process: subprocess.Popen[str]
    log: IO[str]
    config_file: Path = Path()
    fill_seconds: float = 0.0

    @classmethod
    def spawn(cls, count: int) -> Daemon:
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", str(count)]
        log = tempfile.TemporaryFile("w+")  # noqa: SIM115  (its stderr, kept while it runs)
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT
        )
        return cls(count, process, log)

    def ready(self) -> Daemon:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(30)
            self.log.seek(0)
            sys.stderr.write(self.log.read())
            raise RuntimeError(f"the daemon with {self.count:,} tasks did not start")
        answer = json.loads(line)
        self.config_file, self.fill_seconds = Path(answer["config"]), answer["fill"]
        return self

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@contextmanager
def daemons(counts: list[int]) -> Iterator[list[Daemon]]:
    started = [Daemon.spawn(count) for count in counts]  # filled side by side
    try:
        yield [d.ready() for d in started]
    finally:
        for d in started:
            d.stop()


# -- frames and pages -------------------------------------------------------------------


class Frames:
    """Timestamps the frames an app paints; resolves expectations on the first frame
    painted while they hold."""

    def __init__(self, app: Any) -> None:
        from textual._compositor import CompositorUpdate

        self.count = 0
        self.last = time.perf_counter()
        self.encode_seconds = 0.0
        self.encoded_bytes = 0  # the frames as escape codes, UTF-8
        self._pending: list[tuple[Predicate, asyncio.Future[float]]] = []
        self._watchers: list[Callable[[], None]] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None or app._batch_count:
                return
            if isinstance(renderable, CompositorUpdate):
                started = time.perf_counter()
                encoded = renderable.render_segments(app.console)  # what a terminal is sent
                self.encode_seconds += time.perf_counter() - started
                self.encoded_bytes += len(encoded.encode())
            now = self.last = time.perf_counter()
            self.count += 1
            for watcher in self._watchers:
                watcher()
            for pending in self._pending[:]:
                predicate, future = pending
                if future.done():
                    self._pending.remove(pending)
                elif holds(predicate):
                    future.set_result(now)
                    self._pending.remove(pending)

        app._display = display

    def expect(self, predicate: Predicate) -> asyncio.Future[float]:
        """The time of the first frame, from now on, painted while `predicate` holds."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pending.append((predicate, future))
        return future

    def watch(self, watcher: Callable[[], None]) -> None:
        self._watchers.append(watcher)


class Pages:
    """Counts and times the task list's page requests (made on its worker threads)."""

    def __init__(self, app: Any) -> None:
        self.asked = 0
        self.fetched: list[tuple[int, float]] = []  # (offset, seconds), once answered
        screen = app.review
        load = screen._load_page  # the TaskList is given this when the screen composes

        def timed(query: Any, limit: int, offset: int) -> Any:
            self.asked += 1
            started = time.perf_counter()
            try:
                return load(query, limit, offset)
            finally:
                self.fetched.append((offset, time.perf_counter() - started))

        screen._load_page = timed


def holds(predicate: Predicate) -> bool:
    try:
        return bool(predicate())
    except Exception:  # the screen is not composed yet
        return False


async def painted(futures: list[asyncio.Future[float]], what: str) -> list[float]:
    try:
        return list(await asyncio.wait_for(asyncio.gather(*futures), TIMEOUT))
    except TimeoutError:
        raise RuntimeError(f"no frame showed {what} within {TIMEOUT:.0f} s") from None


async def until(pilot: Any, predicate: Predicate, what: str) -> None:
    deadline = time.perf_counter() + TIMEOUT
    while not holds(predicate):
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what}: not reached within {TIMEOUT:.0f} s")
        await pilot.pause(0.005)


# -- what the screen shows --------------------------------------------------------------


def task_list(app: Any) -> Any:
    from gladtui.tui.tasklist import TaskList

    return app.review.query_one(TaskList)


def filled(tasks: Any) -> bool:
    """Every row on screen is loaded (none is a placeholder)."""
    window = tasks.window
    if not window.loaded:
        return False
    top = tasks.scroll_offset.y
    bottom = min(top + tasks.scrollable_content_region.height, len(window))
    return all(window.get(p) is not None for p in range(top, bottom))


def at(tasks: Any, position: int) -> Predicate:
    return lambda: tasks.cursor == position


def at_filled(tasks: Any, position: int) -> Predicate:
    return lambda: tasks.cursor == position and filled(tasks)


def reached(tasks: Any, position: int) -> Predicate:
    return lambda: tasks.cursor >= position


def detail_shown(app: Any, tasks: Any, position: int) -> Predicate:
    """The detail pane holds the full task (fetched) of the row at `position`."""

    def shown() -> bool:
        full, current = app.review.full, tasks.current
        return (
            tasks.cursor == position
            and current is not None
            and full is not None
            and full["id"] == current["id"]
        )

    return shown


def settled(app: Any, tasks: Any) -> Predicate:
    return lambda: app.connected and filled(tasks) and detail_shown(app, tasks, tasks.cursor)()


def send(app: Any, key: str) -> None:
    """A key press, posted as the terminal driver posts one."""
    from textual import events

    event = events.Key(key, None)
    event.set_sender(app)
    app.post_message(event)


# -- starts -----------------------------------------------------------------------------


@dataclass
class Start:
    first_rows: float  # app created -> a frame with the first screen of rows
    live_rows: float  # app created -> a frame with rows after the stream's reload
    ready: float  # app created -> run_test hands over the pilot
    pages: int  # page requests made before the first rows were painted
    blank_frames: int  # frames without rows between those two (a reload's flash)


async def start_once(config: Any, size: tuple[int, int]) -> Start:
    from gladtui.tui import make_app

    started = time.perf_counter()
    app = make_app(config)
    frames, pages = Frames(app), Pages(app)
    first = frames.expect(lambda: filled(task_list(app)))
    live = frames.expect(lambda: app.connected and filled(task_list(app)))
    blank, asked = 0, 0

    def watch() -> None:
        nonlocal blank, asked
        if not first.done():
            asked = pages.asked
        elif not live.done() and not holds(lambda: filled(task_list(app))):
            blank += 1

    frames.watch(watch)
    async with app.run_test(size=size) as pilot:
        ready = time.perf_counter()
        first_at, live_at = await painted([first, live], "the first rows")
        await pilot.pause()
    return Start(first_at - started, live_at - started, ready - started, asked, blank)


# -- a session of key presses -----------------------------------------------------------


@dataclass
class Session:
    down_paint: list[float] = field(default_factory=list)
    down_rows: list[float] = field(default_factory=list)
    down_detail: list[float] = field(default_factory=list)
    down_fetching: int = 0  # presses that made a page request (prefetch)
    pilot: list[float] = field(default_factory=list)
    held: list[float] = field(default_factory=list)
    skim: list[float] = field(default_factory=list)
    page_paint: list[float] = field(default_factory=list)
    page_rows: list[float] = field(default_factory=list)
    end_paint: list[float] = field(default_factory=list)
    end_rows: list[float] = field(default_factory=list)
    home_rows: list[float] = field(default_factory=list)
    fetches: list[tuple[int, float]] = field(default_factory=list)  # start to PageDown
    end_fetches: list[float] = field(default_factory=list)  # pages at the end, for End
    frames: int = 0
    encode: float = 0.0


class Keys:
    """Presses keys on one running app and times the frames that show their effect."""

    def __init__(self, app: Any, pilot: Any, frames: Frames, pages: Pages) -> None:
        self.app, self.pilot, self.frames, self.pages = app, pilot, frames, pages
        self.tasks = task_list(app)

    async def press(self, key: str, predicates: list[Predicate], what: str) -> list[float]:
        """Seconds from sending `key` to the first frame painted while each predicate
        held; then waits for the screen to settle."""
        futures = [self.frames.expect(p) for p in predicates]
        started = time.perf_counter()
        send(self.app, key)
        times = await painted(futures, what)
        await self.settle(what)
        return [t - started for t in times]

    async def settle(self, what: str) -> None:
        """The detail pane has the cursor's task and no frame came for QUIET seconds."""
        await until(self.pilot, settled(self.app, self.tasks), f"settle after {what}")
        deadline = time.perf_counter() + TIMEOUT
        while time.perf_counter() - self.frames.last < QUIET:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"settle after {what}: frames for {TIMEOUT:.0f} s")
            await asyncio.sleep(0.01)

    async def room(self, rows: int) -> None:
        """Back to the top (untimed) when fewer than `rows` rows are below the cursor:
        the small list starts over, so it gets as many presses as the large one."""
        if self.tasks.cursor + rows >= len(self.tasks.window):
            send(self.app, "home")
            await until(self.pilot, at_filled(self.tasks, 0), "Home")
            await self.settle("Home")

    async def paced(self, count: int, rate: float) -> list[float]:
        """Down `count` times at `rate` keys/s: seconds from each key to its frame."""
        await self.room(count)
        start, sent, futures = self.tasks.cursor, [], []
        began = time.perf_counter()
        for n in range(count):
            futures.append(self.frames.expect(reached(self.tasks, start + n + 1)))
            sent.append(time.perf_counter())
            send(self.app, "down")
            await asyncio.sleep(max(began + (n + 1) / rate - time.perf_counter(), 0))
        shown = await painted(futures, f"Down at {rate:g} keys/s") if count else []
        await self.settle("paced Down")
        return [s - k for s, k in zip(shown, sent, strict=True)]


async def session(config: Any, size: tuple[int, int], args: argparse.Namespace) -> Session:
    from gladtui.tui import make_app

    result = Session()
    app = make_app(config)
    frames, pages = Frames(app), Pages(app)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: task_list(app) is not None, "the review screen")
        keys = Keys(app, pilot, frames, pages)
        tasks = keys.tasks
        await keys.settle("start")

        # Down, one press at a time, each from a settled screen.
        for _ in range(args.moves):
            await keys.room(1)
            target, before = tasks.cursor + 1, pages.asked
            paint, rows, detail = await keys.press(
                "down",
                [at(tasks, target), at_filled(tasks, target), detail_shown(app, tasks, target)],
                f"Down to row {target}",
            )
            result.down_paint.append(paint)
            result.down_rows.append(rows)
            result.down_detail.append(detail)
            result.down_fetching += pages.asked > before

        # The pilot's view of the same: press + pause, its idle waits included.
        for _ in range(args.pilot):
            await keys.room(1)
            started = time.perf_counter()
            await pilot.press("down")
            await pilot.pause()
            result.pilot.append(time.perf_counter() - started)
            await keys.settle("pilot Down")

        result.held = await keys.paced(args.held, HELD_RATE)
        result.skim = await keys.paced(args.skim, SKIM_RATE)

        # PageDown: a screen at a time, into rows not fetched yet every few presses.
        for _ in range(args.pages):
            step = max(tasks.scrollable_content_region.height - 1, 1)  # as action_page
            await keys.room(step)
            target = tasks.cursor + step
            paint, rows = await keys.press(
                "pagedown",
                [at(tasks, target), at_filled(tasks, target)],
                f"PageDown to row {target}",
            )
            result.page_paint.append(paint)
            result.page_rows.append(rows)

        # End from a fresh list (as after a reconnection): the last page is fetched.
        fetched_before_ends = len(pages.fetched)
        for _ in range(args.jumps):
            tasks.reload()
            await keys.settle("reload")
            last = len(tasks.window) - 1
            paint, rows = await keys.press("end", [at(tasks, last), at_filled(tasks, last)], "End")
            result.end_paint.append(paint)
            result.end_rows.append(rows)
            (rows,) = await keys.press("home", [at_filled(tasks, 0)], "Home (cached)")
            result.home_rows.append(rows)
        result.fetches = pages.fetched[:fetched_before_ends]
        ends = pages.fetched[fetched_before_ends:]
        result.end_fetches = [seconds for offset, seconds in ends if offset > 0]
    result.frames, result.encode = frames.count, frames.encode_seconds
    return result


# -- report -----------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def p95(values: list[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(len(ordered) * 0.95) - 1, 0)]


def largest(values: list[float]) -> float:
    return max(values) if values else math.nan


def row(label: str, small: float, big: float) -> str:
    ratio = big / small if small and not math.isnan(small) else math.nan
    return f"  {label:<42} {ms(small):>8} {ms(big):>8}  {ratio:>6.2f}"


def stats(label: str, small: list[float], big: list[float]) -> list[str]:
    return [
        row(f"{label}, median", median(small), median(big)),
        row(f"{label}, p95", p95(small), p95(big)),
        row(f"{label}, max", largest(small), largest(big)),
    ]


async def measure(args: argparse.Namespace, configs: dict[int, Any]) -> None:
    width, height = (int(n) for n in args.size.split("x"))
    size = (width, height)
    small, big = args.baseline, args.tasks

    cold = await start_once(configs[small], size)  # pays the process's one-time costs
    print(f"cold start (first app in this process, not counted): {ms(cold.first_rows)} ms")
    starts: dict[int, list[Start]] = {small: [], big: []}
    for _ in range(args.starts):  # interleaved, so the machine's noise hits both alike
        for count in (small, big):
            starts[count].append(await start_once(configs[count], size))
    sessions = {count: await session(configs[count], size, args) for count in (small, big)}
    s, b = sessions[small], sessions[big]

    def start_median(count: int, name: str) -> float:
        return median([getattr(x, name) for x in starts[count]])

    asked = {c: [x.pages for x in starts[c]] for c in starts}
    blank = {c: sum(x.blank_frames for x in starts[c]) for c in starts}

    lines = [
        f"  {'ms':<42} {f'{small:,}':>8} {f'{big:,}':>8}  {'ratio':>6}",
        f" first paint ({args.starts} starts each, medians; terminal {args.size}):",
        row("app created -> first rows painted", *(start_median(c, "first_rows") for c in starts)),
        row("app created -> pilot ready", *(start_median(c, "ready") for c in starts)),
        row(
            "app created -> rows after stream reload",
            *(start_median(c, "live_rows") for c in starts),
        ),
        f"    page requests before the first rows: {asked[small]} / {asked[big]}; "
        f"blank frames between the two paints: {blank[small]} / {blank[big]}",
        f" Down, {len(s.down_paint)} presses, each from a settled screen:",
        *stats("key -> repaint", s.down_paint, b.down_paint),
        row("key -> screen of rows loaded, p95", p95(s.down_rows), p95(b.down_rows)),
        row(
            "key -> detail pane (0.06 s delay), median",
            median(s.down_detail),
            median(b.down_detail),
        ),
        f"    presses that made a page request: {s.down_fetching} / {b.down_fetching}",
        f" Down through the pilot (press + pause, its idle waits included), {len(s.pilot)}:",
        row("round trip, median", median(s.pilot), median(b.pilot)),
        f" Down held ({len(s.held)} keys at {HELD_RATE:g}/s), key -> its frame:",
        *stats("held", s.held, b.held),
        f" Down skimming ({len(s.skim)} keys at {SKIM_RATE:g}/s), key -> its frame:",
        *stats("skimming", s.skim, b.skim),
        f" PageDown, {len(s.page_paint)} presses:",
        row("key -> repaint, median", median(s.page_paint), median(b.page_paint)),
        *stats("key -> screen of rows loaded", s.page_rows, b.page_rows),
        f" jump to end: End on a reloaded list, {len(s.end_paint)} times:",
        row("key -> cursor painted, median", median(s.end_paint), median(b.end_paint)),
        *stats("key -> last rows loaded", s.end_rows, b.end_rows),
        row("page fetch at the end (worker), median", median(s.end_fetches), median(b.end_fetches)),
        row("Home after End (cached), median", median(s.home_rows), median(b.home_rows)),
        f" page fetches from the start to the last PageDown: {len(s.fetches)} / {len(b.fetches)}",
        row("fetch (worker thread), median", *(median([t for _, t in x.fetches]) for x in (s, b))),
        f" frames painted in the sessions: {s.frames} / {b.frames}; encoding them as "
        f"escape codes took {ms(s.encode)} / {ms(b.encode)} ms in all",
    ]
    print()
    print("\n".join(lines))
    print()
    paint, move = start_median(big, "first_rows"), p95(b.down_paint)
    print(
        f"first paint with {big:,} tasks: {ms(paint)} ms "
        f"(target <= 1000 ms: {'met' if paint <= 1.0 else 'MISSED'})"
    )
    print(
        f"cursor move (Down) with {big:,} tasks: median {ms(median(b.down_paint))} ms, "
        f"p95 {ms(move)} ms (target <= 50 ms at p95: {'met' if move <= 0.05 else 'MISSED'})"
    )
    first_paint = {c: start_median(c, "first_rows") for c in starts}
    report.write_rows(args.json, rows(args, first_paint, s, b))


def rows(
    args: argparse.Namespace, first: dict[int, float], s: Session, b: Session
) -> list[report.Row]:
    """The headline figures with 100,000 tasks; the baseline's in brackets."""
    small, big = args.baseline, args.tasks
    paint, move = first[big], p95(b.down_paint)
    end = median(b.end_rows)
    return [
        report.row("tui", f"first paint: app start → first rows on screen, {big:,} tasks, "
            f"median of {args.starts}", f"{ms(paint)} ms ({small:,} tasks: {ms(first[small])} ms)",
            paint * 1000, "≤ 1000 ms", paint <= 1.0),
        report.row("tui", f"Down, key → repainted, median / p95 of {len(b.down_paint)}, "
            f"{big:,} tasks",
            f"{ms(median(b.down_paint))} / {ms(move)} ms ({small:,} tasks: "
            f"{ms(median(s.down_paint))} / {ms(p95(s.down_paint))} ms)",
            move * 1000, "p95 ≤ 50 ms", move <= 0.05),
        report.row("tui", f"End: key → the last rows loaded and painted, median, {big:,} tasks",
            f"{ms(end)} ms ({small:,} tasks: {ms(median(s.end_rows))} ms)", end * 1000),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=100, help="tasks in the small queue")
    parser.add_argument("--starts", type=int, default=3, help="app starts per queue")
    parser.add_argument("--moves", type=int, default=200, help="Down presses, one at a time")
    parser.add_argument("--pilot", type=int, default=10, help="Down presses via the pilot")
    parser.add_argument("--held", type=int, default=60, help=f"Down keys at {HELD_RATE:g}/s")
    parser.add_argument("--skim", type=int, default=15, help=f"Down keys at {SKIM_RATE:g}/s")
    parser.add_argument("--pages", type=int, default=25, help="PageDown presses")
    parser.add_argument("--jumps", type=int, default=5, help="End presses (each fetches)")
    parser.add_argument("--size", default="80x24", help="terminal size, WxH")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    report.add_json_option(parser)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve)

    started = time.perf_counter()
    import gladtui.tui  # noqa: F401  (textual-image first, as `gladtui review` does)

    imported = time.perf_counter() - started
    from gladtui.config import load_config

    started = time.perf_counter()
    with daemons([args.baseline, args.tasks]) as (small, big):
        print(
            f"setup: daemons up and filled in {time.perf_counter() - started:.1f} s "
            f"({big.count:,} tasks in review, 3 variations each: {big.fill_seconds:.1f} s; "
            f"{small.count:,}: {small.fill_seconds:.2f} s); import gladtui.tui {ms(imported)} ms"
        )
        configs = {d.count: load_config(d.config_file, env={}) for d in (small, big)}
        measured = time.perf_counter()
        asyncio.run(measure(args, configs))
        print(f"measuring took {time.perf_counter() - measured:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
