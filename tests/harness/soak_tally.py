"""What a crash soak counts and prints: kills by moment, what they hit, the work done."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from daemon.publishing.slugs import base_slug
from daemon.store import Store
from gladtui.config import Config
from tests.fakecloudinary import FakeCloudinary
from tests.harness.soak_checks import Report
from tests.harness.soak_work import Ledger


@dataclass
class Tally:
    seed: int
    kills: Counter[str] = field(default_factory=Counter)
    # a kill "landed" when the store it left shows the moment it aimed at (see Soak)
    landed: Counter[str] = field(default_factory=Counter)
    seen: Counter[str] = field(default_factory=Counter)  # states found after the kills
    violations: list[str] = field(default_factory=list)  # distinct, in order found
    work: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def rounds(self) -> int:
        return sum(self.kills.values())

    def add_kill(self, moment: str, landed: bool, report: Report) -> None:
        self.kills[moment] += 1
        self.landed[moment] += landed
        self.seen.update(report.seen)

    def finish(self, ledger: Ledger, config: Config, cdn: FakeCloudinary) -> None:
        """Count the work, from the ledger and the final store (the daemon is stopped)."""
        with Store.open(config.database_path) as store:
            statuses = Counter(str(t.status) for t in store.tasks.list())
            posts = store.posts.list()
        shas = [d.sha for d in ledger.drops]
        in_place = sum(d.how == "in place" for d in ledger.drops)
        suffixed = sum(p.slug != base_slug(p.title) for p in posts)
        self.work = {
            "files dropped": (
                f"{len(ledger.drops)} ({in_place} written in place, "
                f"{len(ledger.drops) - in_place} renamed in; "
                f"{len(shas) - len(set(shas))} byte-identical copies, "
                f"{sum(not d.valid for d in ledger.drops)} invalid)"
            ),
            "tasks by status": ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())),
            "approvals": (
                f"{len(ledger.approvals)} committed, {ledger.lost_answers} answers lost in a kill"
            ),
            "posts": f"{len(posts)} ({len({p.slug for p in posts})} slugs, {suffixed} suffixed)",
            "CDN": f"{len(cdn.assets)} assets, {cdn.upload_count} upload requests",
        }

    def table(self) -> str:
        lines = [
            f"crash soak, seed {self.seed}: {self.rounds} kill points in {self.rounds} rounds, "
            f"{len(self.violations)} invariant violations, {self.elapsed:.1f} s",
            "",
            f"{'moment':<12} {'kills':>6} {'landed':>7}",
        ]
        for moment in sorted(self.kills):
            lines.append(f"{moment:<12} {self.kills[moment]:>6} {self.landed[moment]:>7}")
        lines.append(f"{'total':<12} {self.rounds:>6} {sum(self.landed.values()):>7}")
        lines += ["", "states found right after the kills (summed over rounds):"]
        lines += [f"  {what}: {n}" for what, n in sorted(self.seen.items())]
        lines += ["", "work:"] + [f"  {what}: {text}" for what, text in self.work.items()]
        if self.violations:
            lines += ["", "violations:"] + [f"  {v}" for v in self.violations]
        return "\n".join(lines)
