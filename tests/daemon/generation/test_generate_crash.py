"""`gladtui daemon` killed with SIGKILL mid-generation, then restarted: the task completes
with exactly the variations it asked for, and no temporary or orphan files."""

from __future__ import annotations

import signal
from pathlib import Path

from daemon.store import Store
from gladtui.atomicfiles import is_temp_name
from gladtui.client import DaemonUnreachable, client_for
from gladtui.config import load_config
from gladtui.shapes import TaskStatus
from tests.apidaemon import start_daemon, wait_until

VARIATIONS = 6


def pngs(previews: Path) -> list[Path]:
    return sorted(previews.glob("sdxl-slow-variation-*.png")) if previews.exists() else []


def test_kill_9_mid_job_then_restart_completes_exactly_the_requested_variations(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "drop_dir: drop\nstate_dir: state\npreview_dir: previews\ncache_dir: cache\n"
        "socket: d.sock\ngeneration:\n  model: builtin:tiny-sdxl\n  batch_size: 1\n"
    )
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "slow.yaml").write_text(
        f"title: Slow\nprompt: a slow task\nvariations: {VARIATIONS}\n"
        "steps: 12\nwidth: 128\nheight: 128\nseed: 7\n"
    )
    previews = tmp_path / "previews"

    first = start_daemon(config, "--log-level", "debug")
    try:
        wait_until(lambda: len(pngs(previews)) >= 2, timeout=120)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert len(pngs(previews)) < VARIATIONS, "the kill came too late to test anything"

    second = start_daemon(config, "--log-level", "debug")
    try:
        # Done when the daemon says so: the last row is committed with the status.
        client = client_for(load_config(config, env={}))

        def reviewed() -> bool:
            try:
                seen.append(client.task("slow")["status"])
            except DaemonUnreachable:  # still starting
                return False
            return seen[-1] == "review"

        seen: list[str] = []

        wait_until(reviewed, timeout=240, explain=lambda: f"statuses seen: {seen[-3:]}")
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0

    with Store.open(tmp_path / "state" / "gladtui.duckdb") as store:
        task = store.tasks.get("slow")
        assert task is not None and task.status is TaskStatus.REVIEW
        rows = store.variations.list("slow")
        assert [v.idx for v in rows] == list(range(1, VARIATIONS + 1))
        assert [v.seed for v in rows] == [7 + i for i in range(VARIATIONS)]
        assert sorted(Path(v.path) for v in rows) == pngs(previews)  # no orphan, no gap
    assert not [p for p in previews.iterdir() if is_temp_name(p.name)]
