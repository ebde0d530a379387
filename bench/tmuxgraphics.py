"""What this machine's tmux does with graphics: the facts gladtui's picture choice rests on.

    .venv/bin/python bench/tmuxgraphics.py

A private tmux server; its client attached in a pseudo-terminal this script
plays as kitty would (tests/outerterminal.py: 12x24-pixel cells, XTVERSION
`kitty(0.35.2)`, OK to the kitty graphics query); a probe in the pane asks
what a program inside tmux can ask, plainly and wrapped for the passthrough,
with `allow-passthrough` off and on. Prints what came back, and what reached
the terminal outside. Measured here with Debian's tmux 3.3a (docs/review.md, "Seeing
real pixels"); nothing is asserted: it reports.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.outerterminal import OuterTerminal

COLUMNS, ROWS = 80, 24
PROBE = r"""
import json, os, select, sys, termios, time, tty, fcntl, struct
def wrap(s): return "\x1bPtmux;" + s.replace("\x1b", "\x1b\x1b") + "\x1b\\"
queries = {
    "DA1": "\x1b[c", "DSR": "\x1b[5n", "CSI 16 t": "\x1b[16t", "XTVERSION": "\x1b[>q",
    "kitty query": "\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\",
}
tty.setcbreak(0)
found = {"window size": list(struct.unpack("HHHH", fcntl.ioctl(1, termios.TIOCGWINSZ, b"\0" * 8)))}
for how, form in (("plain", lambda s: s), ("wrapped", wrap)):
    for name, query in queries.items():
        os.write(1, form(query).encode())
        got, end = b"", time.monotonic() + 1.5
        while time.monotonic() < end:
            if select.select([0], [], [], 0.1)[0]:
                got += os.read(0, 4096)
        found[f"{how} {name}"] = got.decode("ascii", "backslashreplace")
os.write(1, b"\x1b[10;20H" + wrap("\x1b]1337;File=inline=1:TUFSSw==\x07").encode())
os.write(1, b"\x1b[12;1H\x1b[38;2;255;0;0mRGB\x1b[0m")
json.dump(found, open(sys.argv[1], "w"))
"""


def tmux(socket: Path, *args: str) -> str:
    command = ["tmux", "-S", str(socket), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip()


def measure(passthrough: bool, folder: Path) -> None:
    socket, results = folder / f"tmux-{passthrough}.sock", folder / f"probe-{passthrough}.json"
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env.update(TERM="xterm-256color", LANG="C.UTF-8")
    size = ("-x", str(COLUMNS), "-y", str(ROWS))
    subprocess.run(
        ["tmux", "-S", str(socket), "-f", "/dev/null", "new-session", "-d", *size, "sleep 600"],
        env=env,
        check=True,
    )
    tmux(socket, "set-option", "-g", "status", "off")
    tmux(socket, "set-option", "-g", "allow-passthrough", "on" if passthrough else "off")
    outer = OuterTerminal(COLUMNS, ROWS)
    outer.attach("tmux", socket, env)
    try:
        outer.wait_for(lambda _: tmux(socket, "display", "-p", "#{client_termtype}"), "XTVERSION")
        script = folder / "probe.py"
        script.write_text(PROBE)
        probe = f"{shlex.join([sys.executable, str(script), str(results)])}; sleep 600"
        tmux(socket, "respawn-pane", "-k", "-t", "0", probe)
        outer.wait_for(lambda _: results.exists() and results.stat().st_size, "the probe")
        time.sleep(1)  # the last bytes of the probe on their way to the terminal
        report(passthrough, json.loads(results.read_text()), outer, socket)
    finally:
        outer.close()
        tmux(socket, "kill-server")


def report(passthrough: bool, found: dict[str, object], outer: OuterTerminal, socket: Path) -> None:
    print(f"\n== allow-passthrough {'on' if passthrough else 'off'}")
    rows, columns, width, height = found.pop("window size")  # type: ignore[misc]
    cell = f"{width // columns}x{height // rows}"
    pixels = f"{width}x{height} pixels ({cell} a cell)"
    print(f"  first pane's window size: {columns}x{rows} cells, {pixels}")
    for key, value in found.items():
        print(f"  {key:>22}: {value!r}" if value else f"  {key:>22}: (no answer)")
    fmt = "#{client_termtype} | #{client_termfeatures} | #{client_cell_width}x#{client_cell_height}"
    print(f"  termtype | features | cell: {tmux(socket, 'display', '-p', fmt)}")
    title = tmux(socket, "display", "-p", "#{pane_title}")
    print(f"  the pane's title after a plain kitty query: {title!r}")
    output = bytes(outer.output)
    image = output.find(b"\x1b]1337;File=inline=1:TUFSSw==")
    if image < 0:
        print("  a wrapped OSC 1337 did not reach the terminal")
    else:
        before = OuterTerminal(COLUMNS, ROWS)  # the terminal as the image reached it
        before.output += output[:image]
        at = (before.screen.cursor.y + 1, before.screen.cursor.x + 1)
        print(f"  a wrapped OSC 1337 written at the pane's (10, 20) reached the terminal at {at}")
    colour = re.search(rb"\x1b\[38;[25];[0-9;]+mRGB", output)
    print(f"  38;2;255;0;0 in the pane reached the terminal as: {colour and colour.group(0)!r}")


def main() -> int:
    if shutil.which("tmux") is None:
        print("tmux is not installed", file=sys.stderr)
        return 1
    print(subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip())
    default = subprocess.run(
        [
            "tmux",
            "-f",
            "/dev/null",
            "-L",
            f"gt-{os.getpid()}",
            "start-server",
            ";",
            "show",
            "-gv",
            "allow-passthrough",
            ";",
            "kill-server",
        ],
        capture_output=True,
        text=True,
    )
    print(f"allow-passthrough by default: {default.stdout.strip() or default.stderr.strip()}")
    with tempfile.TemporaryDirectory(prefix="gt-tg-", dir="/tmp") as folder:
        for passthrough in (False, True):
            measure(passthrough, Path(folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
