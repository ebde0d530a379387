"""The store's schema versions (daemon/store/migrations.py): applied once, in order,
rolled back whole; a database from older code gains what later versions add.

No mocks: each test opens a real DuckDB file in tmp_path, with an injected clock
so timestamps are exact (tests/daemon/store/conftest.py).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from daemon.store import MIGRATIONS, Migration, Store, StoreError, latest_version
from tests.daemon.store.helpers import T0, FakeClock, new_task, schema_version

# Tests append to the real list, so they keep working as migrations are added.
LATEST = latest_version()


NEXT = LATEST + 1


EXTRA = Migration(NEXT, "test: an extra table", ("CREATE TABLE extra (a INTEGER)",))


def test_open_creates_the_schema_and_records_its_version(
    store: Store, db_path: Path, clock: FakeClock
) -> None:
    assert db_path.exists()
    assert schema_version(store) == latest_version() == MIGRATIONS[-1].version
    applied = [(m.version, m.applied_at) for m in store.migrations_applied()]
    assert applied == [(version, T0) for version in range(1, LATEST + 1)]
    assert store.tasks.list() == []
    assert store.variations.list("nothing") == []
    assert store.jobs.claim(["generate"]) is None
    assert store.posts.list() == []
    assert store.events.last_id() == 0


def test_reopening_keeps_data_and_applies_no_migration_twice(db_path: Path) -> None:
    with Store.open(db_path, clock=FakeClock()) as store:
        store.tasks.create(new_task())
        applied = store.migrations_applied()
    with Store.open(db_path, clock=FakeClock(T0 + timedelta(days=1))) as store:
        assert store.migrations_applied() == applied
        assert store.tasks.id_exists("muffins-001")


def test_an_appended_migration_is_applied_once(db_path: Path, clock: FakeClock) -> None:
    with Store.open(db_path, clock=clock):
        pass
    clock.advance(60)
    with Store.open(db_path, clock=clock, migrations=(*MIGRATIONS, EXTRA)) as store:
        assert [m.version for m in store.migrations_applied()] == [*range(1, LATEST + 1), NEXT]
        applied = store.migrations_applied()
    clock.advance(60)
    with Store.open(db_path, clock=clock, migrations=(*MIGRATIONS, EXTRA)) as store:
        assert store.migrations_applied() == applied
        assert applied[-1].applied_at == T0 + timedelta(seconds=60)


def test_a_database_from_newer_code_is_refused_and_left_untouched(db_path: Path) -> None:
    with Store.open(db_path, migrations=(*MIGRATIONS, EXTRA)):
        pass
    with pytest.raises(
        StoreError, match=rf"schema version {NEXT}.*only knows versions up to {LATEST}"
    ):
        Store.open(db_path)
    with Store.open(db_path, migrations=(*MIGRATIONS, EXTRA)) as store:
        assert schema_version(store) == NEXT


def test_a_failing_migration_rolls_back_entirely(db_path: Path) -> None:
    broken = Migration(NEXT, "broken", ("CREATE TABLE extra (a INTEGER)", "NOT SQL AT ALL"))
    with pytest.raises(StoreError, match=rf"migration {NEXT} \(broken\) failed"):
        Store.open(db_path, migrations=(*MIGRATIONS, broken))
    # Nothing of the broken migration stayed, so a fixed version creates the same table.
    with Store.open(db_path, migrations=(*MIGRATIONS, EXTRA)) as store:
        assert schema_version(store) == NEXT


def test_a_migration_list_with_a_gap_is_refused(db_path: Path) -> None:
    gap = Migration(NEXT + 1, "gap", ("SELECT 1",))
    with pytest.raises(StoreError, match="out of order"):
        Store.open(db_path, migrations=(*MIGRATIONS, gap))


def test_migration_3_keeps_every_post_as_local(db_path: Path) -> None:
    Store.open(db_path, migrations=MIGRATIONS[:2]).close()
    connection = duckdb.connect(str(db_path))
    connection.execute(
        "INSERT INTO posts (task_id, slug, title, content, featured_image_url, asset_id,"
        " created_at, updated_at) VALUES ('t', 'muffins', 'Muffins', 'body', 'https://cdn/t.png',"
        " 'glad/t', TIMESTAMP '2026-01-01 10:00:00', TIMESTAMP '2026-01-01 10:00:00')"
    )
    connection.close()
    with Store.open(db_path) as store:
        [post] = store.posts.list()
        assert (post.id, post.slug, post.asset_id) == (1, "muffins", "glad/t")
        assert (post.destination, post.location) == ("local", None)
        store.tasks.create(new_task("u"))
        assert store.posts.create("u", "muffins-2", "M", "", "https://cdn/u.png").id == 2


def test_tasks_and_variations_of_schema_2_gain_the_generation_settings(db_path: Path) -> None:
    """A database written before samplers and LoRAs existed opens with their defaults."""
    import duckdb

    with Store.open(db_path, migrations=MIGRATIONS[:2]):
        pass
    connection = duckdb.connect(str(db_path))
    connection.execute(
        "INSERT INTO tasks (id, title, prompt, variations, steps, guidance_scale, width, height,"
        " status, created_at, updated_at) VALUES ('old', 'Old', 'p', 1, 30, 7.0, 64, 64,"
        " 'review', ?, ?)",
        [T0, T0],
    )
    connection.execute(
        "INSERT INTO variations (task_id, idx, path, seed, prompt, width, height, steps,"
        " guidance_scale, model, created_at) VALUES ('old', 1, '/x.png', 42, 'p', 64, 64, 30,"
        " 7.0, 'm', ?)",
        [T0],
    )
    connection.close()
    with Store.open(db_path) as store:
        task = store.tasks.get("old")
        assert task is not None
        assert (task.scheduler, task.loras, task.file_loras, task.preset, task.warnings) == (
            None,
            {},
            {},
            None,
            [],
        )
        (variation,) = store.variations.list("old")
        assert (variation.scheduler, variation.sampler, variation.loras) == (None, None, {})
        assert (variation.preset, variation.from_variation) == (None, None)
        (summary,) = store.tasks.summaries()
        assert summary.loras == {} and summary.warnings == []
        updated = store.tasks.set_warnings("old", ["prompt: cut"])
        assert updated.warnings == ["prompt: cut"]


def test_tasks_of_schema_5_gain_alt_caption_and_focus(db_path: Path) -> None:
    """A database written before alt text existed opens with none (derived from the title)."""
    Store.open(db_path, migrations=MIGRATIONS[:5]).close()
    connection = duckdb.connect(str(db_path))
    connection.execute(
        "INSERT INTO tasks (id, title, prompt, variations, steps, guidance_scale, width, height,"
        " status, created_at, updated_at) VALUES ('old', 'Old', 'p', 1, 30, 7.0, 64, 64,"
        " 'review', ?, ?)",
        [T0, T0],
    )
    connection.close()
    with Store.open(db_path) as store:
        old = store.tasks.get("old")
        assert old is not None and (old.alt, old.caption, old.focus) == ("", "", None)
        store.tasks.create(new_task("new", alt="Three muffins", caption="Warm", focus=(0.25, 0.75)))
        new = store.tasks.get("new")
        assert new is not None and (new.alt, new.caption, new.focus) == (
            "Three muffins",
            "Warm",
            (0.25, 0.75),
        )
