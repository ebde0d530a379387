"""The posts repository (daemon/store/posts.py): posts, slugs per destination, uniqueness.

No mocks: each test opens a real DuckDB file in tmp_path, with an injected clock
so timestamps are exact (tests/daemon/store/conftest.py).
"""

from __future__ import annotations

import pytest

from daemon.store import DuplicatePostError, NotFoundError, SlugTakenError, Store
from tests.daemon.store.helpers import T0, FakeClock, new_task


def test_posts_create_and_look_up(task_store: Store, clock: FakeClock) -> None:
    posts = task_store.posts
    first = posts.create("a", "muffins", "Muffins", "body", "https://cdn/a.png", "glad/a")
    clock.advance(1)
    second = posts.create("b", "muffins-2", "Muffins", "body", "https://cdn/b.png")
    assert (first.task_id, first.slug, first.asset_id, first.created_at) == (
        "a",
        "muffins",
        "glad/a",
        T0,
    )
    assert second.asset_id is None and second.id != first.id
    assert posts.get(first.id) == first
    assert posts.by_task("b") == second
    assert posts.by_slug("muffins") == first
    assert posts.get(999) is None and posts.by_task("zz") is None and posts.by_slug("x") is None
    assert posts.list() == [second, first]
    assert posts.list(limit=1, offset=1) == [first]


def test_slugs_with_prefix(store: Store) -> None:
    slugs = ["muffins", "muffins-2", "muffins-ball", "cakes", "100%_real", "100-real"]
    for n, slug in enumerate(slugs):
        store.tasks.create(new_task(f"t{n}"))
        store.posts.create(f"t{n}", slug, "T", "", "https://cdn/x.png")
    assert store.posts.slugs_with_prefix("muffins") == {"muffins", "muffins-2", "muffins-ball"}
    assert store.posts.slugs_with_prefix("100%") == {"100%_real"}  # no LIKE wildcards
    assert store.posts.slugs_with_prefix("pies") == set()


def test_post_uniqueness_errors_are_translated(task_store: Store) -> None:
    posts = task_store.posts
    posts.create("a", "muffins", "Muffins", "", "https://cdn/a.png")
    with pytest.raises(SlugTakenError, match="'muffins'") as slug_error:
        posts.create("b", "muffins", "Muffins", "", "https://cdn/b.png")
    assert slug_error.value.slug == "muffins"
    with pytest.raises(DuplicatePostError, match="'a'") as task_error:
        posts.create("a", "muffins-again", "Muffins", "", "https://cdn/a.png")
    assert task_error.value.task_id == "a"
    with pytest.raises(NotFoundError, match="ghost"):
        posts.create("ghost", "ghost", "Ghost", "", "https://cdn/g.png")
    assert [p.slug for p in posts.list()] == ["muffins"]
    # The store is still usable after the failed inserts.
    assert posts.create("b", "muffins-2", "Muffins", "", "https://cdn/b.png").slug == "muffins-2"


def test_a_slug_is_unique_per_destination_not_across_them(task_store: Store) -> None:
    task_store.tasks.create(new_task("c"))
    posts = task_store.posts
    local = posts.create("a", "muffins", "Muffins", "", "https://cdn/a.png")
    blog = posts.create(
        "b", "muffins", "Muffins", "", "https://cdn/b.png", destination="postgres",
        location="posts id 7",
    )  # fmt: skip
    assert (local.destination, local.location) == ("local", None)
    assert (blog.destination, blog.location) == ("postgres", "posts id 7")
    with pytest.raises(SlugTakenError):
        posts.create("c", "muffins", "M", "", "https://cdn/c.png", destination="postgres")
    assert posts.by_slug("muffins") == local and posts.by_slug("muffins", "postgres") == blog
    assert posts.by_slugs(["muffins"], "postgres") == {"muffins": blog}
    posts.create("c", "muffins-2", "M", "", "https://cdn/c.png", destination="postgres")
    assert posts.slugs_with_prefixes(["muffins", "pies"], "postgres") == {
        "muffins": {"muffins", "muffins-2"}
    }
    assert posts.slugs_with_prefixes(["muffins"]) == {"muffins": {"muffins"}}
    assert posts.slug_holders(["muffins", "pies"], "postgres") == {
        "muffins": {"muffins": "b", "muffins-2": "c"}  # who holds each: the previews' owner
    }
    moved = posts.update_content(blog.id, "New", "", "https://cdn/d.png", None)
    assert moved.location == "posts id 7"  # kept unless a new one is given


def test_update_content_keeps_slug_and_task(task_store: Store, clock: FakeClock) -> None:
    posts = task_store.posts
    post = posts.create("a", "muffins", "Muffins", "old", "https://cdn/a.png", "glad/a")
    later = clock.advance(5)
    updated = posts.update_content(post.id, "Better Muffins", "new", "https://cdn/a2.png", None)
    assert (updated.slug, updated.task_id, updated.title, updated.content) == (
        "muffins",
        "a",
        "Better Muffins",
        "new",
    )
    assert (updated.featured_image_url, updated.asset_id) == ("https://cdn/a2.png", None)
    assert (updated.created_at, updated.updated_at) == (T0, later)
    for n in range(20):  # repeated updates of a table with UNIQUE columns stay fine
        posts.update_content(post.id, f"v{n}", "", "https://cdn/a.png", None)
    with pytest.raises(NotFoundError):
        posts.update_content(999, "t", "", "u", None)


def test_posts_by_ids_by_slugs_and_count(store: Store) -> None:
    store.tasks.create_many([new_task("a"), new_task("b")])
    post = store.posts.create("a", "a-slug", "A", "", "file:///a.png")
    assert list(store.posts.by_ids([post.id, post.id + 1])) == [post.id]
    assert list(store.posts.by_slugs(["a-slug", "b-slug"])) == ["a-slug"]
    assert store.posts.count() == 1
