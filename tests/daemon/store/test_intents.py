"""Post intents (daemon/store/intents.py): what a post is about to be, before it is made.

No mocks: each test opens a real DuckDB file in tmp_path, with an injected clock
so timestamps are exact (tests/daemon/store/conftest.py).
"""

from __future__ import annotations

from daemon.store import Store
from tests.daemon.store.helpers import FakeClock


def test_post_intents_are_recorded_replaced_and_cleared(store: Store, clock: FakeClock) -> None:
    intents = store.post_intents
    assert intents.get("a") is None
    intents.record("a", "postgres", "pie", action="create", outcome="new", image_url="u1")
    later = clock.advance(3)
    intents.record("a", "postgres", "pie-2", action="create", outcome="suffixed", image_url="u1")
    found = intents.get("a")
    assert found is not None and (found.slug, found.outcome, found.started_at) == (
        "pie-2",
        "suffixed",
        later,
    )
    assert intents.count() == 1
    with store.transaction():
        intents.clear("a")
    assert intents.get("a") is None and intents.count() == 0
