"""Crash soak: a real `gladtui daemon` killed -9 at 200+ chosen moments, invariants checked.

Issue "Proof under faults". The daemon runs as a subprocess on the tiny model
and publishes to a FakeCloudinary in this process; it is killed during
ingest, generation, between an upload and its commit, and in the middle of
a burst of approvals (DuckDB writes), restarted, and checked after every
kill (tests/harness/soak.py). Expected: 0 invariant violations. Run:

    .venv/bin/python bench/soak.py [--kills 200] [--seed N] [--keep]

Prints the seed first (pass it back with --seed to replay the schedule) and
a tally at the end; exits 1 if any invariant broke, 2 if the run could not
go on (a harness problem: see the message and the kept folder's daemon.log).
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.apidaemon import short_dir  # noqa: E402
from tests.fakecloudinary import FakeCloudinary  # noqa: E402
from tests.harness.soak import Soak  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200, help="kill points (default 200)")
    parser.add_argument("--seed", type=int, help="replay this run's schedule")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder")
    args = parser.parse_args(argv)
    # Stopped with SIGTERM (or SIGINT while in the background): still kill the daemon.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, _frame: sys.exit(128 + number))
    seed = random.SystemRandom().randrange(10**6) if args.seed is None else args.seed
    root = short_dir("soak-")
    with FakeCloudinary() as cdn:
        soak = Soak(root, cdn, seed, say=lambda line: print(line, flush=True))
        try:
            soak.run(args.kills)
            aborted = None
        except (AssertionError, TimeoutError) as exc:  # a wait ran out: the run cannot go on
            aborted = str(exc) or type(exc).__name__
    print()
    print(soak.tally.table())
    if aborted:
        print(f"\nABORTED after {soak.tally.rounds} kills: {aborted}")
    if aborted or soak.tally.violations or args.keep:
        print(f"\nthe run's folder (daemon.log, store, drop folder) is kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    if soak.tally.violations:
        return 1
    return 2 if aborted else 0


if __name__ == "__main__":
    sys.exit(main())
