"""The checks, in the order they run on one boot; each names what the README promises.

A check raises (CheckFailed with what it saw) or returns a short note for the
report. Later checks build on earlier ones (the install, the tasks made), so
the order is part of the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from gladtui import __version__
from tests.system.rootfs import VENV, WHEELS_INSIDE
from tests.system.service import (
    CONFIG,
    PREVIEWS,
    SERVICE_USER,
    STATE,
    UNIT,
    CheckFailed,
    Service,
)

SOURCE = "/usr/local/src/gladtui"  # where the runner copies the checkout
SOCKET = "/run/gladtui/daemon.sock"
REVIEWERS_GROUP = "gladtui-reviewers"
REVIEWER = "reviewer"
ELSEWHERE = "/srv/gladtui-elsewhere"  # a folder the unit does not open
WATCHDOG_DROP_IN = "/etc/systemd/system/gladtui.service.d/system-test-watchdog.conf"
CONFIG_TEXT = f"""\
# The system test's config: the tiny model, small images, one image at a time
# (so a stop can fall between two variations of a task).
state_dir: {STATE}
cache_dir: /var/cache/gladtui
drop_dir: {STATE}/drop
preview_dir: {PREVIEWS}
socket: {SOCKET}
api:
  group: {REVIEWERS_GROUP}
generation:
  model: builtin:tiny-sdxl
  width: 64
  height: 64
  steps: 2
  variations: 2
  batch_size: 1
"""
# Enough steps that a stop or a kill reliably lands while variation 2 is made.
SLOW_TASK = "title: {title}\nprompt: a lighthouse at dawn\nvariations: 2\nsteps: 12\n"

Check = Callable[[Service], str]


def install(s: Service) -> str:
    """The checkout into /opt/gladtui, then `gladtui service install --system`."""
    m = s.machine
    pip = [f"{VENV}/bin/pip", "install", "--quiet", "--no-index", "--find-links", WHEELS_INSIDE]
    m.run(*pip, SOURCE, timeout=600)
    version = m.run(f"{VENV}/bin/gladtui", "--version").stdout.strip()
    expect(version == f"gladtui {__version__}", f"installed {version!r}, not {__version__}")
    m.run("install", "-d", "-m", "0755", str(Path(CONFIG).parent))
    m.run("sh", "-c", 'cat > "$1"', "sh", CONFIG, input=CONFIG_TEXT)
    said = m.run(f"{VENV}/bin/gladtui", "service", "install", "--system").stdout
    expect("installed /etc/systemd/system/gladtui.service" in said, f"install said: {said}")
    state = s.show("UnitFileState", "ActiveState", "User")
    expect(state == {"UnitFileState": "enabled", "ActiveState": "active", "User": SERVICE_USER},
           f"after install: {state}")  # fmt: skip
    return version


def start_waits_for_ready(s: Service) -> str:
    """`systemctl start` returns only once the model is loaded (READY=1)."""
    s.systemctl("stop", UNIT)
    expect(s.show("ActiveState")["ActiveState"] == "inactive", "stop left it running")
    s.systemctl("start", UNIT)
    # Asked the moment start returned: a start that did not wait would find no
    # socket yet, or the model still loading.
    model = s.cli_json("status")["model"]
    expect(model["state"] == "idle", f"start returned with the model {model}")
    state = s.show("ActiveState", "SubState", "Type")
    expect(state["SubState"] == "running" and state["Type"] == "notify", f"unit: {state}")
    return f"model loaded in {model['load_seconds']:.1f} s, before start returned"


def open_files_leave_room_beyond_connections(s: Service) -> str:
    """LimitNOFILE= reaches the daemon (or the closest the host allows), and the daemon
    says how many API connections it takes of it."""
    pid = s.show("MainPID")["MainPID"]
    limits = s.machine.run("cat", f"/proc/{pid}/limits").stdout
    [line] = [ln for ln in limits.splitlines() if ln.startswith("Max open files")]
    soft, hard = (int(n) for n in line.split()[3:5])
    expect(soft == hard > 1024, f"the daemon's open files: {line}")
    said = [m for m in s.messages() if "the API takes at most" in m]
    expect(bool(said) and f"the daemon may open {soft:,} files" in said[-1], f"journal: {said}")
    return said[-1].split(": ", 1)[-1]


def dropped_task_reaches_review(s: Service) -> str:
    """A task file dropped into the drop folder becomes a task with its images."""
    s.drop("first-light.yaml", "title: First Light\nprompt: a lighthouse at dawn\n")
    s.drop("broken.yaml", "title: no prompt here\n")  # refused: a warning for the journal
    task = s.wait_task("first-light", "review")
    files = s.task_files("first-light")
    expect(len(task["variations"]) == 2 and len(files) == 2, f"variations {task['variations']}")
    expect(s.machine.path(f"{STATE}/drop/processed/first-light.yaml").exists(), "not processed")
    s.wait_for("broken.yaml in failed/", lambda: refused(s, "broken.yaml"), 0.1)
    return f"{sorted(files)}"


def refused(s: Service, name: str) -> bool | None:
    return s.machine.path(f"{STATE}/drop/failed/{name}.error.txt").exists() or None


def status_line_is_live(s: Service) -> str:
    """`systemctl status` shows the daemon's STATUS line, and it follows the queue."""

    def shows_the_review() -> str | None:
        out = s.systemctl("status", UNIT).stdout
        line = next((ln.strip() for ln in out.splitlines() if "Status:" in ln), "")
        return (
            line
            if "1 to review" in line and "model builtin:tiny-sdxl idle on cpu" in line
            else None
        )

    return s.wait_for("the status line to show the task to review", shows_the_review)


def reviewer(s: Service) -> str:
    """A user of their own, added to the reviewers' group the installer made, as the README says."""
    m = s.machine
    if m.run("id", REVIEWER, check=False).returncode != 0:
        m.run("useradd", "--create-home", REVIEWER)
        m.run("usermod", "-aG", REVIEWERS_GROUP, REVIEWER)
    return REVIEWER


def socket_belongs_to_the_reviewers(s: Service) -> str:
    """/run/gladtui is 0750 and the socket 0660, both with the reviewers' group."""
    m = s.machine
    said = m.run("stat", "-c", "%n %a %U:%G", "/run/gladtui", SOCKET).stdout.split("\n")
    want = [f"/run/gladtui 750 {SERVICE_USER}:{REVIEWERS_GROUP}",
            f"{SOCKET} 660 {SERVICE_USER}:{REVIEWERS_GROUP}"]  # fmt: skip
    expect(said[:2] == want, f"stat says {said}")
    outsider = "outsider"
    if m.run("id", outsider, check=False).returncode != 0:
        m.run("useradd", "--create-home", outsider)
    refused = s.cli("status", user=outsider, check=False)
    expect(refused.returncode != 0 and "permission denied" in refused.stderr,
           f"a user outside the group: exit {refused.returncode}, {refused.stderr}")  # fmt: skip
    return "; ".join(said[:2])


EVENT_BY = """
import json, sys
from pathlib import Path
from gladtui.client import client_for
from gladtui.config import load_config
config, since, task = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with client_for(load_config(config)).events(since=since, timeout=60) as stream:
    for event in stream:
        if event.data.get("task_id") == task and event.data.get("actor"):
            print(json.dumps(event.data))
            break
"""


def reviewer_approves_through_the_socket(s: Service) -> str:
    """A reviewer lists and approves over the socket; the event names that reviewer."""
    who = reviewer(s)
    ids = [task["id"] for task in s.cli_json("tasks", user=who)["tasks"]]
    expect("first-light" in ids, f"{who} listed {ids}")
    since = s.cli_json("status", user=who)["last_event_id"]
    s.cli("approve", "first-light", "--variation", "1", user=who)
    args = [f"{VENV}/bin/python", "-c", EVENT_BY, CONFIG, str(since), "first-light"]
    event = json.loads(s.machine.run(*args, user=who).stdout)
    expect(event["actor"] == who, f"the event names {event['actor']}, not {who}")
    post = s.wait_task("first-light", "published")["post"]
    change = f"{event['kind']} to {event['to_status']} by {event['actor']}"
    return f"as {who}: {change}, post {post['slug']}"


def stop_hands_the_job_back(s: Service) -> str:
    """`systemctl stop` mid-generation hands the job back; the next start makes only the rest."""
    s.drop("handback.yaml", SLOW_TASK.format(title="Handed Back"))
    before = s.wait_for("variation 1 of handback", lambda: s.task_files("handback") or None, 0.1)
    cursor = s.cursor()
    s.systemctl("stop", UNIT)
    kept = s.task_files("handback")
    expect(len(kept) == 1, f"the stop came after variation 2 was made: {sorted(kept)}")
    said = "\n".join(s.messages(*cursor))
    expect("task handback: stopping mid-generation; queued again" in said, f"journal: {said}")
    s.systemctl("start", UNIT)
    task = s.wait_task("handback", "review")
    after = s.task_files("handback")
    expect([v["index"] for v in task["variations"]] == [1, 2], f"{task['variations']}")
    expect(len(after) == 2 and before.items() <= after.items(), f"{before} -> {after}")
    return "variation 1 kept as it was; only variation 2 made after the start"


def killed_daemon_is_restarted(s: Service) -> str:
    """SIGKILL: Restart=on-failure brings it back, and the work resumes."""
    s.drop("resumed.yaml", SLOW_TASK.format(title="Resumed"))
    before = s.wait_for("variation 1 of resumed", lambda: s.task_files("resumed") or None, 0.1)
    state = s.show("NRestarts", "MainPID")
    s.systemctl("kill", "--signal=SIGKILL", UNIT)
    now = s.wait_restarted(int(state["NRestarts"]), state["MainPID"])
    task = s.wait_task("resumed", "review")
    after = s.task_files("resumed")
    expect(len(after) == 2 and before.items() <= after.items(), f"{before} -> {after}")
    expect(len(task["variations"]) == 2, f"{task['variations']}")
    return f"pid {state['MainPID']} killed, {now['MainPID']} finished the task"


def watchdog_restarts_a_frozen_daemon(s: Service) -> str:
    """A daemon frozen with SIGSTOP misses its pings; the watchdog kills and restarts it."""
    s.machine.run("install", "-d", str(Path(WATCHDOG_DROP_IN).parent))
    s.machine.run(
        "sh", "-c", 'cat > "$1"', "sh", WATCHDOG_DROP_IN, input="[Service]\nWatchdogSec=3\n"
    )
    try:
        s.systemctl("daemon-reload")
        expect(s.restart().returncode == 0, "no restart with the short watchdog")
        state = s.show("NRestarts", "MainPID", "WatchdogUSec")
        expect(state["WatchdogUSec"] == "3s", f"drop-in not applied: {state}")
        cursor = s.cursor()
        s.systemctl("kill", "--signal=SIGSTOP", UNIT)
        now = s.wait_restarted(int(state["NRestarts"]), state["MainPID"])
        said = [m for m in s.messages(*cursor) if "atchdog" in m]
        expect(any("Watchdog timeout" in m for m in said), f"journal: {said}")
    finally:  # the next check restarts it with the unit's own watchdog
        s.machine.run("rm", "-f", WATCHDOG_DROP_IN)
        s.systemctl("daemon-reload")
    return f"{said[0]}; pid {state['MainPID']} -> {now['MainPID']}"


def hardening_holds(s: Service) -> str:
    """A preview_dir outside ReadWritePaths: the start fails naming it, nothing is written there."""
    m = s.machine
    m.run("install", "-d", "-o", SERVICE_USER, "-g", SERVICE_USER, ELSEWHERE)
    m.run("sed", "-i", f"s|^preview_dir: .*|preview_dir: {ELSEWHERE}|", CONFIG)
    try:
        cursor = s.cursor()
        expect(s.restart().returncode != 0, "the daemon started with a read-only preview folder")
        said = [m for m in s.messages(*cursor) if ELSEWHERE in m]
        expect(any("cannot start" in line for line in said), f"journal: {said}")
        expect(not any(m.path(ELSEWHERE).iterdir()), f"written in {ELSEWHERE}")
    finally:
        m.run("sed", "-i", f"s|^preview_dir: .*|preview_dir: {PREVIEWS}|", CONFIG)
    m.run("rmdir", ELSEWHERE)  # fails unless still empty
    expect(s.restart().returncode == 0, "no start after the config was put back")
    return said[0]


LEVELS = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


def journal_priorities(s: Service) -> str:
    """`journalctl -u gladtui -p warning` shows the daemon's warnings and errors, and only those."""
    daemon_lines = [e for e in s.journal() if e.get("SYSLOG_IDENTIFIER") == "gladtui"]
    for entry in daemon_lines:  # each line's priority is the level it names
        level = str(entry["MESSAGE"]).split(" ", 1)[0]
        expect(LEVELS.get(level) == int(entry["PRIORITY"]), f"priority {entry['PRIORITY']}: "
               f"{entry['MESSAGE']}")  # fmt: skip
    problems = [str(e["MESSAGE"]) for e in s.journal("-p", "warning")
                if e.get("SYSLOG_IDENTIFIER") == "gladtui"]  # fmt: skip
    levels = {line.split(" ", 1)[0] for line in problems}
    expect(levels <= {"WARNING", "ERROR", "CRITICAL"}, f"-p warning showed {levels}")
    expect(any("refused broken.yaml" in line for line in problems), f"no refusal in {problems}")
    expect(any(ELSEWHERE in line for line in problems), f"no start failure in {problems}")
    infos = sum(1 for e in daemon_lines if e["PRIORITY"] == "6")
    return f"{len(problems)} of the daemon's {len(daemon_lines)} lines ({infos} info lines hidden)"


def nothing_written_outside(s: Service) -> str:
    """Every file the service user owns is in a folder the unit lets it write."""
    m = s.machine
    opened = s.show("ReadWritePaths", "StateDirectory", "CacheDirectory", "RuntimeDirectory")
    allowed = opened["ReadWritePaths"].split()
    allowed += [f"/var/lib/{opened['StateDirectory']}", f"/var/cache/{opened['CacheDirectory']}"]
    allowed += [
        f"/run/{opened['RuntimeDirectory']}",
        "/tmp/systemd-private-",
        "/var/tmp/systemd-private-",
    ]
    uid = int(m.run("id", "-u", SERVICE_USER).stdout)
    # Every write to the root file system is in the overlay's upper folder; /run
    # and /dev/shm are memory file systems of the machine.
    owned = [f"/{p.relative_to(m.upper)}" for p in m.upper.rglob("*") if p.lstat().st_uid == uid]
    found = m.run("find", "/run", "/dev/shm", "-xdev", "-user", SERVICE_USER).stdout.split()
    outside = [p for p in owned + found if not any(p.startswith(a) for a in allowed)]
    expect(not outside, f"written outside {allowed}: {outside}")
    return f"{len(owned) + len(found)} paths, all under {', '.join(allowed[:4])}"


def uninstall_keeps_data_and_config(s: Service) -> str:
    """`gladtui service uninstall --system` removes the unit and keeps the work and the config."""
    m = s.machine
    m.run(f"{VENV}/bin/gladtui", "service", "uninstall", "--system")
    expect(
        not m.path("/etc/systemd/system/gladtui.service").exists(), "the unit file is still there"
    )
    state = s.show("LoadState", "ActiveState")
    expect(state == {"LoadState": "not-found", "ActiveState": "inactive"}, f"after: {state}")
    kept = [CONFIG, f"{STATE}/gladtui.duckdb", f"{PREVIEWS}/"]
    missing = [path for path in kept if not m.path(path).exists()]
    expect(not missing, f"uninstall removed {missing}")
    images = len(list(m.path(PREVIEWS).glob("*.png")))
    expect(images >= 6, f"only {images} images left in {PREVIEWS}")
    expect(m.run("id", SERVICE_USER, check=False).returncode == 0, "the user is gone")
    return f"kept {CONFIG}, the database and {images} images"


CHECKS: list[tuple[str, Check]] = [
    ("install", install),
    ("start waits for READY", start_waits_for_ready),
    ("open files: LimitNOFILE, connection caps", open_files_leave_room_beyond_connections),
    ("dropped task reaches review", dropped_task_reaches_review),
    ("status line is live", status_line_is_live),
    ("the socket belongs to the reviewers' group", socket_belongs_to_the_reviewers),
    ("reviewer approves through the socket", reviewer_approves_through_the_socket),
    ("stop hands the job back", stop_hands_the_job_back),
    ("SIGKILL: restarted, work resumes", killed_daemon_is_restarted),
    ("SIGSTOP: the watchdog restarts it", watchdog_restarts_a_frozen_daemon),
    ("hardening: preview_dir outside ReadWritePaths", hardening_holds),
    ("journalctl -p warning", journal_priorities),
    ("nothing written outside ReadWritePaths", nothing_written_outside),
    ("uninstall keeps data and config", uninstall_keeps_data_and_config),
]


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)
