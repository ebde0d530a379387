"""`gladtui web`: serve the review page on 127.0.0.1 until Ctrl-C.

The socket it passes through to is the local daemon's, or with `--ssh` the
one ssh forwards (gladtui/cli/exits.py `daemon_socket`, closed on the way out
however the command ends). The address printed is the only place the token is
written; the log names methods, paths and statuses only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gladtui.cli.exits import EXIT_OK, EXIT_USAGE, daemon_socket

if TYPE_CHECKING:  # aiohttp is imported when the command runs: `gladtui --help` stays quick
    from gladtui.web.guard import Guard


def add_web_command(commands: Any, common: argparse.ArgumentParser) -> None:
    web_cmd = commands.add_parser(
        "web",
        parents=[common],
        help="review in a browser tab: a page served on 127.0.0.1, until Ctrl-C",
        description="Serve the review page on 127.0.0.1 (the daemon's API passed through to "
        "its socket), print its address and open the browser. Ctrl-C stops it.",
    )
    web_cmd.add_argument(
        "--port", type=int, default=0, metavar="N", help="listen on port N (default: a free one)"
    )
    web_cmd.add_argument(
        "--no-browser", action="store_true", help="print the address, do not open a browser"
    )
    web_cmd.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="what to log on stderr (info: each request's method, path and status)",
    )
    web_cmd.set_defaults(handler=run_web, over_ssh=True)


def listening_socket(port: int) -> socket.socket:
    """127.0.0.1 only: nothing reaches it from another machine."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


def run_web(args: argparse.Namespace) -> int:
    from gladtui.config import load_config
    from gladtui.web.guard import Guard

    logging.basicConfig(
        level=args.log_level.upper(), format="gladtui web: %(message)s", stream=sys.stderr
    )
    config = load_config(args.config) if args.ssh is None else None
    try:
        sock = listening_socket(args.port)
    except OSError as exc:
        print(f"gladtui web: {exc}; choose another with --port, or leave it out", file=sys.stderr)
        return EXIT_USAGE
    with contextlib.closing(sock), daemon_socket(args) as forwarded:
        path = forwarded[0] if forwarded else config.socket_path()  # type: ignore[union-attr]
        guard = Guard(host=f"127.0.0.1:{sock.getsockname()[1]}")
        asyncio.run(_serve(path, guard, sock, open_browser=not args.no_browser))
    return EXIT_OK


async def _serve(path: Path, guard: Guard, sock: socket.socket, *, open_browser: bool) -> None:
    from aiohttp import web

    from gladtui.web.server import build_app

    runner = web.AppRunner(build_app(path, guard), access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.SockSite(runner, sock).start()
        print(f"Review in your browser: {guard.address}", flush=True)
        print("Ctrl-C stops the server.", flush=True)
        if open_browser:
            await asyncio.to_thread(webbrowser.open, guard.address)
        await stop.wait()
    finally:
        await runner.cleanup()
