"""Old code against new in one run: the same benchmark, alternately on each.

On a machine whose load comes and goes (CI under stress, other people), two runs
an hour apart compare the load as much as the code. `bench/review.py --against
REF` checks REF out in a temporary git worktree and runs the benchmark there
and here in turns, `--rounds` times each, every run a child process of its own
(the code is chosen by putting its tree first on `sys.path`; the daemon and
the measuring code are this tree's in both). The figures of each side are
pooled, and the ratio new/old is printed beside them: the ratio is what holds
from one machine to another, the milliseconds are this machine's at this load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.tui import median, p95

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def checked_out(ref: str) -> Iterator[Path]:
    """REF's tree in a temporary worktree, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="gladtui-against-"))
    tree = folder / "tree"
    git = ["git", "-C", str(ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", str(tree), ref], check=True, capture_output=True)
    try:
        yield tree
    finally:
        subprocess.run([*git, "remove", "--force", str(tree)], check=False, capture_output=True)
        folder.rmdir()


def run_once(script: Path, code: Path, args: list[str]) -> dict[str, list[float]]:
    """One child run of `script` on the code in `code`: its raw figures, by name."""
    with tempfile.NamedTemporaryFile(suffix=".json") as times:
        command = [sys.executable, str(script), *args, "--code", str(code), "--times", times.name]
        # its exit status says whether the targets were met: the figures are what counts
        subprocess.run(command, check=False, cwd=ROOT, stdout=subprocess.DEVNULL)
        written = Path(times.name).read_text()
        if not written:
            raise RuntimeError(f"the run on {code} wrote no figures (its errors are above)")
        figures: dict[str, list[float]] = json.loads(written)
        return figures


def compare(script: Path, ref: str, rounds: int, args: list[str]) -> dict[str, dict[str, float]]:
    """Run `script args` on REF and on this tree in turns; print and return the figures."""
    pooled: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    with checked_out(ref) as tree:
        for n in range(rounds):
            for side, code in (("old", tree), ("new", ROOT)):
                print(f"  round {n + 1}/{rounds}: {side} ({ref if side == 'old' else 'this tree'})")
                for name, values in run_once(script, code, args).items():
                    pooled[side].setdefault(name, []).extend(values)
    return printed(pooled, ref)


def printed(pooled: dict[str, dict[str, list[float]]], ref: str) -> dict[str, dict[str, float]]:
    out = {}
    print(f"old ({ref}) against new (this tree), pooled over the rounds; ratio = new / old")
    for name, old in pooled["old"].items():
        new = pooled["new"].get(name)
        if not new or not old:
            continue
        figures = {
            "old p50": median(old),
            "old p95": p95(old),
            "new p50": median(new),
            "new p95": p95(new),
        }
        figures["ratio p50"] = figures["new p50"] / figures["old p50"]
        figures["ratio p95"] = figures["new p95"] / figures["old p95"]
        out[name] = figures
        unit, scale = ("KB", 1 / 1024) if "bytes" in name else ("ms", 1000)
        print(
            f"  {name}: old p50/p95 {figures['old p50'] * scale:.1f} / "
            f"{figures['old p95'] * scale:.1f} {unit}, new {figures['new p50'] * scale:.1f} / "
            f"{figures['new p95'] * scale:.1f} {unit}; new/old {figures['ratio p50']:.2f} (p50), "
            f"{figures['ratio p95']:.2f} (p95); {len(old)} old, {len(new)} new"
        )
    return out
