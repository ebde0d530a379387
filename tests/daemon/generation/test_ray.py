"""generation.backend: ray, on a real local Ray with 2 replicas of the tiny model.

One Ray for the whole run (conftest's `ray_address`); one daemon with two
replicas for the tests that share it. Loading a replica imports torch and
diffusers in a new process, the bulk of the time here.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.store import Store
from gladtui.client import Client
from gladtui.shapes import TaskStatus
from tests.apidaemon import ApiDaemon, answers, start_daemon, task_yaml, wait_until

# Ray's start (a head, workers, a replica loading the model) took over 180 s on this
# 2-core machine with both cores busy: the deadlines below bound a wait, nothing more.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def cluster_daemon(ray_address: str, tiny_cache: Path, tiny: Any) -> Iterator[ApiDaemon]:
    """A daemon in this process whose 2 replicas run on the session's Ray."""
    settings = {
        "cache_dir": str(tiny_cache),  # `tiny` built the model there: replicas load it
        "generation": {"backend": "ray", "ray": {"address": ray_address, "replicas": 2}},
    }
    daemon = ApiDaemon(None, settings=settings).start()
    assert daemon.daemon is not None
    wait_until(daemon.daemon.generator.model_settled.is_set, timeout=600)
    yield daemon
    daemon.cleanup()


def replicas(daemon: ApiDaemon) -> list[dict[str, Any]]:
    return list(daemon.client.status()["model"]["replicas"])


def test_six_tasks_reach_review_with_their_seeds_and_files_on_two_replicas(
    cluster_daemon: ApiDaemon,
) -> None:
    assert [r["state"] for r in replicas(cluster_daemon)] == ["idle", "idle"]
    ids = [
        cluster_daemon.submit(task_yaml(f"Ray {n}", variations=2, seed=100 * n), f"ray{n}.yaml")
        for n in range(1, 7)
    ]
    for n, task_id in enumerate(ids, start=1):
        task = cluster_daemon.wait_status(task_id, "review", "failed", timeout=600)
        assert task["status"] == "review", task["error"]
        assert [v["seed"] for v in task["variations"]] == [100 * n, 100 * n + 1]
        for variation in task["variations"]:
            assert Path(variation["path"]).is_file() and Path(variation["thumbnail"]).is_file()
    made = [r["images_generated"] for r in replicas(cluster_daemon)]
    assert sum(made) >= 12 and all(count > 0 for count in made)  # both replicas worked


def test_cancel_interrupts_the_remote_step_loop(cluster_daemon: ApiDaemon) -> None:
    slow = cluster_daemon.submit(task_yaml("Ray slow", steps=150, width=256, height=256))
    wait_until(lambda: cluster_daemon.client.task(slow).get("progress") is not None, 600)
    cluster_daemon.client.cancel(slow)
    task = cluster_daemon.wait_status(slow, "failed", "review", timeout=600)
    assert task["status"] == "failed" and "cancelled" in task["error"]
    assert task["variations"] == []
    wait_until(lambda: all(r["state"] == "idle" for r in replicas(cluster_daemon)), 600)


def test_a_killed_replica_fails_its_job_for_a_retry_that_completes(
    cluster_daemon: ApiDaemon,
) -> None:
    assert cluster_daemon.daemon is not None
    task_id = cluster_daemon.submit(task_yaml("Ray victim", steps=60, width=256, height=256))
    states = cluster_daemon.daemon.generator.state.replicas
    wait_until(lambda: any(r.task_id == task_id and r.pid for r in states), 600)
    victim = next(r for r in states if r.task_id == task_id)
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    task = cluster_daemon.wait_status(task_id, "review", "failed", timeout=600)
    assert task["status"] == "review", task["error"]
    assert [v["index"] for v in task["variations"]] == [1, 2, 3]
    events = cluster_daemon.client.task(task_id)
    assert events["status"] == "review"


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def niceness(pid: int) -> int | None:
    """The process's nice value (field 19 of /proc/PID/stat); None once it is gone."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    except (OSError, IndexError):
        return None


def test_kill_9_then_restart_makes_exactly_the_missing_variations_and_leaves_no_ray(
    tmp_path: Path, tiny_cache: Path, tiny: Any
) -> None:
    """The daemon starts its own Ray (address: local); after SIGKILL and after a clean stop
    no process of it is left."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"drop_dir: drop\nstate_dir: state\npreview_dir: previews\ncache_dir: {tiny_cache}\n"
        "socket: d.sock\ngeneration:\n  model: builtin:tiny-sdxl\n  batch_size: 1\n"
        "  backend: ray\n  ray: {address: local, replicas: 1}\n"
    )
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "slow.yaml").write_text(
        "title: Slow\nprompt: a slow task\nvariations: 6\nsteps: 12\nwidth: 128\n"
        "height: 128\nseed: 7\n"
    )
    previews = tmp_path / "previews"

    def made() -> int:
        return len(list(previews.glob("sdxl-slow-variation-*.png"))) if previews.exists() else 0

    first = start_daemon(config)
    try:
        wait_until(lambda: made() >= 2, timeout=600)
        ray_processes = descendants(first.pid)
        # Its Ray's processes, the replica generating included, run as nice as it does.
        nice = {niceness(pid) for pid in ray_processes} - {None}
        assert nice == {niceness(first.pid)}, nice
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert made() < 6, "the kill came too late to test anything"

    second = start_daemon(config)
    try:
        # What the killed daemon's Ray left running ends when the next daemon starts.
        wait_until(lambda: not alive(ray_processes), timeout=60)
        client = Client(tmp_path / "d.sock", timeout=30)
        wait_until(lambda: answers(client) and client.task("slow")["status"] == "review", 600)
        ray_processes = descendants(second.pid)
        assert ray_processes, "the daemon started no Ray"
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=90) == 0
    wait_until(lambda: not alive(ray_processes), timeout=30)

    with Store.open(tmp_path / "state" / "gladtui.duckdb") as store:
        task = store.tasks.get("slow")
        assert task is not None and task.status is TaskStatus.REVIEW
        rows = store.variations.list("slow")
        assert [v.idx for v in rows] == list(range(1, 7))
        assert [v.seed for v in rows] == [7 + i for i in range(6)]
        assert sorted(Path(v.path) for v in rows) == sorted(previews.glob("sdxl-slow-*.png"))
