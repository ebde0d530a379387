"""Pictures through the API: a 1024² variation fetched as a 320 px thumbnail.

Figures, all taken in one run against one daemon (a child process, model
parked) whose variations are 1024x1024 PNGs of photo-like noise:

- first fetch: the daemon hashes the file, decodes it, scales it to 320 px
  and keeps the copy in its cache folder;
- cached: the same request again (the daemon's copy is read);
- revalidated: the same request with `If-None-Match` (304, no body);
- the full image, as the TUI's large view fetches it;
- the reviewer's disk cache: what the TUI does when the picture was fetched
  before (read from `~/.cache/gladtui/pictures` and decode);
- the TUI, from start to the first task's three thumbnails in its gallery, talking
  to the daemon directly and through `gladtui --ssh` (a real sshd on
  127.0.0.1; the SSH login is timed apart), each with an empty picture cache.

Each is the median over `--count` variations; the ratios compare them. Run:

    .venv/bin/python bench/pictures.py [--count 10] [--starts 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import report  # noqa: E402

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

SIZE = 1024
WIDTH = 320


def serve(count: int) -> int:
    """Child process: a daemon with `count` tasks of one 1024² variation, until stdin closes."""
    from PIL import Image, ImageFilter

    from daemon.store import NewTask, NewVariation
    from gladtui.shapes import TaskStatus
    from tests.apidaemon import ApiDaemon

    d = ApiDaemon(None).start()
    try:
        assert d.daemon is not None
        store, folder = d.daemon.store, d.config.preview_dir
        folder.mkdir(parents=True, exist_ok=True)
        tasks, variations = [], []
        for n in range(count):
            task_id = f"pictures-{n:03d}"
            tasks.append(NewTask(id=task_id, title=f"Post {n}", prompt="bread", variations=3,
                                 steps=30, guidance_scale=7.0, width=SIZE, height=SIZE,
                                 seed=n))  # fmt: skip
            for idx in (1, 2, 3):
                path = folder / f"{task_id}-{idx}.png"
                # Noise, blurred: compresses about as badly as a photograph does.
                noise = Image.effect_noise((SIZE, SIZE), 40 + n + 10 * idx).convert("RGB")
                noise.filter(ImageFilter.GaussianBlur(2)).save(path)
                variations.append(NewVariation(task_id=task_id, idx=idx, path=str(path),
                                               thumbnail=None, seed=n, prompt="bread",
                                               negative_prompt="", width=SIZE, height=SIZE,
                                               steps=30, guidance_scale=7.0,
                                               model="bench"))  # fmt: skip
        with store.transaction():
            store.tasks.create_many(tasks, status=TaskStatus.REVIEW)
            store.variations.add_many(variations)
        print(json.dumps({"socket": str(d.socket), "config": str(d.config_file)}), flush=True)
        sys.stdin.read()
    finally:
        d.cleanup()
    return 0


def spawn(count: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", str(count)]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("the benchmark's daemon did not start")
    found: dict[str, str] = json.loads(line)
    return process, found


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(socket: Path, count: int) -> dict[str, float]:
    from PIL import Image

    from gladtui.client import Client, UnixHTTPConnection
    from gladtui.picturecache import DiskCache

    client = Client(socket)
    ids = [f"pictures-{n:03d}" for n in range(count)]
    url = "/api/tasks/{}/variations/1/thumbnail?width=" + str(WIDTH)

    def revalidate(task_id: str) -> None:
        connection = UnixHTTPConnection(socket, 30)
        etag = f'"{etags[task_id]}-w{WIDTH}"'
        connection.request("GET", url.format(task_id), headers={"If-None-Match": etag})
        response = connection.getresponse()
        response.read()
        assert response.status == 304, response.status
        connection.close()

    def decoded(data: bytes) -> None:
        Image.open(io.BytesIO(data)).convert("RGB")

    first = [timed(lambda t=t: client.thumbnail(t, 1, WIDTH)) for t in ids]
    cached = [timed(lambda t=t: client.thumbnail(t, 1, WIDTH)) for t in ids]
    etags = {t: _sha256(Path(client.task(t)["variations"][0]["path"])) for t in ids}
    revalidated = [timed(lambda t=t: revalidate(t)) for t in ids]
    full = [timed(lambda t=t: client.image(t, 1)) for t in ids]
    with tempfile.TemporaryDirectory() as folder:
        disk = DiskCache(Path(folder))
        for t in ids:
            disk.put(t, client.thumbnail(t, 1, WIDTH))
        local = [timed(lambda t=t: decoded(disk.get(t) or b"")) for t in ids]
    return {
        "first": statistics.median(first),
        "cached": statistics.median(cached),
        "revalidated": statistics.median(revalidated),
        "full": statistics.median(full),
        "disk": statistics.median(local),
    }


def tui_starts(config_file: Path, socket: Path, starts: int) -> dict[str, float]:
    """Start -> first thumbnails shown, direct and through a real sshd's forward."""
    import asyncio

    import gladtui.tui  # noqa: F401  (textual-image first, as `gladtui tui` does)
    from gladtui.config import load_config
    from gladtui.sshforward import SshForward, parse_target
    from tests.sshd import Sshd, why_sshd_cannot_run

    if why := why_sshd_cannot_run():
        raise SystemExit(f"bench/pictures.py: {why}")
    config = load_config(config_file, env={})
    sshd = Sshd().start()
    direct, through, logins = [], [], []
    try:
        env = {**os.environ, "GLADTUI_SSH_COMMAND": sshd.ssh_command}
        for _ in range(starts):
            direct.append(asyncio.run(_first_thumbnails(config, socket)))
            started = time.perf_counter()
            forward = SshForward(parse_target(sshd.target), str(socket), env=env)
            local = forward.open()
            logins.append(time.perf_counter() - started)
            try:
                through.append(asyncio.run(_first_thumbnails(config, local)))
            finally:
                forward.close()
    finally:
        sshd.cleanup()
    return {
        "tui_direct": statistics.median(direct),
        "tui_ssh": statistics.median(through),
        "ssh_login": statistics.median(logins),
    }


async def _first_thumbnails(config: Any, socket: Path) -> float:
    """Seconds from the app starting to three pictures in its gallery, no cache on disk."""
    from gladtui.client import Client
    from gladtui.picturecache import DiskCache
    from gladtui.tui.app import ReviewApp
    from gladtui.tui.pictures import Pictures

    with tempfile.TemporaryDirectory() as folder:
        client = Client(socket)
        pictures = Pictures(client, DiskCache(Path(folder)))
        app = ReviewApp(client, stream_timeout=5.0, pictures=pictures)
        started = time.perf_counter()
        async with app.run_test(size=(120, 40)) as pilot:
            gallery = app.review.gallery
            while len([p for p in gallery.pictures.values() if p is not None]) < 3:
                if time.perf_counter() - started > 60:
                    raise RuntimeError("the thumbnails did not arrive in 60 s")
                await pilot.pause(0.005)
            return time.perf_counter() - started


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--starts", type=int, default=3, help="TUI starts, direct and over SSH")
    parser.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    report.add_json_option(parser)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve)
    process, daemon = spawn(args.count)
    try:
        figures = measure(Path(daemon["socket"]), args.count)
        figures |= tui_starts(Path(daemon["config"]), Path(daemon["socket"]), args.starts)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(60)
    ms = {name: f"{value * 1000:.1f} ms" for name, value in figures.items()}
    print(f"a {SIZE}² variation as a {WIDTH} px thumbnail over the socket, median of {args.count}")
    print(f"  first fetch (hash, decode, scale, keep): {ms['first']}")
    print(f"  again (the daemon's cached copy):        {ms['cached']}")
    print(f"  revalidated with If-None-Match (304):    {ms['revalidated']}")
    print(f"  the full image ({SIZE}², for the large view): {ms['full']}")
    print(f"  the reviewer's disk cache, read + decode: {ms['disk']}")
    first_over_cached = figures["first"] / figures["cached"]
    print(f"  first / cached: {first_over_cached:.1f}x")
    ssh_over_direct = figures["tui_ssh"] / figures["tui_direct"]
    print(f"the TUI, start -> the first task's 3 thumbnails shown, median of {args.starts}:")
    print(
        f"  direct: {ms['tui_direct']}; through --ssh: {ms['tui_ssh']} "
        f"({ssh_over_direct:.2f}x); the SSH login and forward before it: {ms['ssh_login']}"
    )
    rows: list[dict[str, Any]] = [
        report.row("pictures", f"{WIDTH} px thumbnail of a {SIZE}², first fetch", ms["first"],
                   figures["first"] * 1000),
        report.row("pictures", f"{WIDTH} px thumbnail, the daemon's cached copy", ms["cached"],
                   figures["cached"] * 1000),
        report.row("pictures", "first / cached", f"{first_over_cached:.1f}x", first_over_cached),
        report.row("pictures", "revalidated (304)", ms["revalidated"],
                   figures["revalidated"] * 1000),
        report.row("pictures", "reviewer's disk cache, read + decode", ms["disk"],
                   figures["disk"] * 1000),
        report.row("pictures", "TUI start → first 3 thumbnails in the gallery: direct / --ssh",
                   f"{ms['tui_direct']} / {ms['tui_ssh']} ({ssh_over_direct:.2f}x)",
                   ssh_over_direct),
        report.row("pictures", "--ssh login and forward, before the TUI starts", ms["ssh_login"],
                   figures["ssh_login"] * 1000),
    ]  # fmt: skip
    report.write_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
