"""Mutants of the job store's SQL conditions (claim, undo), which mutmut cannot make.

mutmut mutates Python; the conditions that decide when a job may be claimed
or undone are SQL text in daemon/store/jobs.py, where mutmut only garbles a
whole string (a syntax error any test kills). Each mutant here is one
realistic slip in one condition. It is written into a copy of the project in
a temporary folder, the focused tests run there (`python -m pytest` puts that
folder first on sys.path, ahead of the editable install), and the mutant is
killed when they fail. Prints one line per mutant and exits 1 if any survived.

    .venv/bin/python scripts/sql_mutants.py [-k WORD]   (scripts/mutants runs it)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOBS = Path("daemon/store/jobs.py")
TESTS = [
    "tests/daemon/review/test_undo_window.py",
    "tests/daemon/store/test_store.py",
    "tests/daemon/store/test_migrations.py",
    "tests/daemon/store/test_tasks.py",
    "tests/daemon/store/test_variations.py",
    "tests/daemon/store/test_jobs.py",
    "tests/daemon/store/test_posts.py",
    "tests/daemon/store/test_intents.py",
    "tests/daemon/store/test_events.py",
]
COPIED = ["daemon", "gladtui", "tests", "pyproject.toml"]

_CLAIM_WHERE = " WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_after <= ?\""
_CLAIM_ORDER = '"  AND list_contains(?::VARCHAR[], kind) ORDER BY id LIMIT 1)"'
_DUE = "\"SELECT 1 FROM jobs WHERE status = 'pending' AND run_after <= ?\""
_UNCLAIMED = "WHERE task_id = ? AND status = 'pending' AND attempts = 0\""
_UNCLAIMED_TIME = '" AND run_after > ? AND list_contains(?::VARCHAR[], kind)"'
_CANCEL = "\" WHERE id = ? AND status = 'pending' AND attempts = 0 AND run_after > ?\""

# (name, text in jobs.py (exactly once), its replacement)
MUTANTS: list[tuple[str, str, str]] = [
    ("claim: a running job claimable", _CLAIM_WHERE,
     _CLAIM_WHERE.replace("status = 'pending'", "status IN ('pending', 'running')")),
    ("claim: due only after run_after", _CLAIM_WHERE, _CLAIM_WHERE.replace("<=", "<")),
    ("claim: run_after ignored", _CLAIM_WHERE,
     _CLAIM_WHERE.replace("run_after <= ?", "(run_after <= ? OR true)")),
    ("claim: newest first", _CLAIM_ORDER, _CLAIM_ORDER.replace("BY id", "BY id DESC")),
    ("claim: kinds ignored", _CLAIM_ORDER,
     _CLAIM_ORDER.replace("list_contains(?::VARCHAR[], kind)",
                          "(list_contains(?::VARCHAR[], kind) OR true)")),
    ("claim: attempt not counted", "attempts = attempts + 1", "attempts = attempts"),
    ("claim's look: due only after run_after", _DUE, _DUE.replace("<=", "<")),
    ("claim's look: any status", _DUE,
     _DUE.replace("status = 'pending'", "status IN ('pending', 'done', 'cancelled')")),
    ("unclaimed: any task", _UNCLAIMED,
     _UNCLAIMED.replace("task_id = ?", "(task_id = ? OR true)")),
    ("unclaimed: a running job too", _UNCLAIMED,
     _UNCLAIMED.replace("status = 'pending'", "status IN ('pending', 'running')")),
    ("unclaimed: claimed once is fine", _UNCLAIMED,
     _UNCLAIMED.replace("attempts = 0", "attempts <= 1")),
    ("unclaimed: at run_after too", _UNCLAIMED_TIME, _UNCLAIMED_TIME.replace(">", ">=")),
    ("unclaimed: run_after ignored", _UNCLAIMED_TIME,
     _UNCLAIMED_TIME.replace("run_after > ?", "(run_after > ? OR true)")),
    ("unclaimed: kinds ignored", _UNCLAIMED_TIME,
     _UNCLAIMED_TIME.replace("list_contains(?::VARCHAR[], kind)",
                             "(list_contains(?::VARCHAR[], kind) OR true)")),
    ("unclaimed: oldest first", "\" ORDER BY id DESC LIMIT 1\"", "\" ORDER BY id LIMIT 1\""),
    ("cancel_unclaimed: a running job too", _CANCEL,
     _CANCEL.replace("status = 'pending'", "status IN ('pending', 'running')")),
    ("cancel_unclaimed: claimed once is fine", _CANCEL,
     _CANCEL.replace("attempts = 0", "attempts <= 1")),
    ("cancel_unclaimed: at run_after too", _CANCEL, _CANCEL.replace(">", ">=")),
    ("cancel_unclaimed: run_after ignored", _CANCEL,
     _CANCEL.replace("run_after > ?", "(run_after > ? OR true)")),
]  # fmt: skip


def run_tests(folder: Path) -> bool:
    """Do the focused tests pass against the copy in `folder`?"""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    return done.returncode == 0


def copy_project(folder: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, folder / name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="only the mutants whose name contains this")
    wanted = parser.parse_args().k
    original = (ROOT / JOBS).read_text()
    survived = 0
    with tempfile.TemporaryDirectory(prefix="gt-sqlmut-") as temp:
        folder = Path(temp)
        copy_project(folder)
        imported = subprocess.run(
            [sys.executable, "-c", "import daemon.store.jobs as j; print(j.__file__)"],
            cwd=folder, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        if not imported.startswith(temp):
            raise SystemExit(f"the copy is not what gets imported ({imported}); nothing tested")
        if not run_tests(folder):
            raise SystemExit(f"the tests fail on the unmutated code: fix that first ({TESTS})")
        for name, old, new in MUTANTS:
            if wanted not in name:
                continue
            if original.count(old) != 1 or old == new:
                raise SystemExit(f"mutant {name!r}: its text is not once in {JOBS}: {old}")
            (folder / JOBS).write_text(original.replace(old, new))
            killed = not run_tests(folder)
            survived += not killed
            print(f"{'killed  ' if killed else 'SURVIVED'}  {name}", flush=True)
        (folder / JOBS).write_text(original)
    print(f"{survived} survived")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
