"""Post slugs (publishing/slugs.py) on their own: titles to slugs, the duplicate policy, previews.

The publishing tests cover slugs end to end through a daemon; these pin each
rule where it is decided. Previews run on a real store and a real folder of
Markdown posts (the destination that answers `taken` from files).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.publishing.destinations.markdown import MarkdownDestination
from daemon.publishing.slugs import (
    FALLBACK_SLUG,
    MAX_SLUG_LENGTH,
    SlugChoice,
    SlugPreview,
    SlugPreviewer,
    base_slug,
    by_base,
    choose,
    next_free,
    slugs_of,
)
from daemon.store import NewTask, Store
from gladtui.shapes import SlugOutcome

# --- titles to slugs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Making Delicious Muffins", "making-delicious-muffins"),
        ("Crème Brûlée: 5 Tips!", "creme-brulee-5-tips"),
        ("Ärger über Straße", "arger-uber-strasse"),
        ("Jalapeño & Açaí", "jalapeno-acai"),
        ("Привет мир", "privet-mir"),
        ("北京烤鸭", "bei-jing-kao-ya"),
        ("Ωmega 3.5 μm", "omega-3-5-mm"),
        ("  Tabs\tand\nnew lines  ", "tabs-and-new-lines"),
        ("--Dashes--everywhere--", "dashes-everywhere"),
    ],
)
def test_titles_become_ascii_slugs(title: str, slug: str) -> None:
    assert base_slug(title) == slug


@pytest.mark.parametrize("title", ["", "   ", "🎉🎉🎉", "!!! ???", "— · —"])
def test_a_title_with_nothing_to_keep_gets_the_fallback(title: str) -> None:
    assert base_slug(title) == FALLBACK_SLUG == "post"


def test_a_long_title_is_cut_at_a_word_boundary_within_the_limit() -> None:
    words = ["ginger"] * 20  # 139 characters as a slug
    slug = base_slug(" ".join(words))
    assert len(slug) <= MAX_SLUG_LENGTH == 80
    assert slug == "-".join(["ginger"] * 11)  # 76 characters: a 12th word would pass 80
    exact = "x" * 75 + " abcd"  # 80 characters as a slug: nothing cut
    assert base_slug(exact) == "x" * 75 + "-abcd"
    assert base_slug(exact + "e") == "x" * 75  # 81: the last word goes whole


def test_one_word_longer_than_the_limit_is_cut_at_the_limit() -> None:
    assert base_slug("a" * 100) == "a" * MAX_SLUG_LENGTH


# --- the duplicate-slug policy -----------------------------------------------------------


def test_next_free_takes_the_first_gap_from_2() -> None:
    assert next_free("pie", set()) == "pie"
    assert next_free("pie", {"pie-2"}) == "pie"  # the base itself is free
    assert next_free("pie", {"pie"}) == "pie-2"
    assert next_free("pie", {"pie", "pie-2", "pie-4"}) == "pie-3"
    assert next_free("pie", {"pie", "pie-2", "pie-3"}) == "pie-4"
    assert next_free("pie", {"pie", "pie-1"}) == "pie-2"  # -1 is never used


@pytest.mark.parametrize("policy", ["suffix", "update", "skip"])
def test_a_free_slug_is_created_whatever_the_policy(policy: str) -> None:
    assert choose("pie", {"pie-2", "tart"}, policy) == SlugChoice("pie", "create", "free")


@pytest.mark.parametrize(
    ("policy", "choice"),
    [
        ("suffix", SlugChoice("pie-3", "create", "suffixed")),
        ("update", SlugChoice("pie", "update", "takes_over")),
        ("skip", SlugChoice("pie", "link", "links")),
    ],
)
def test_a_taken_slug_follows_the_policy(policy: str, choice: SlugChoice) -> None:
    assert choose("pie", {"pie", "pie-2"}, policy) == choice


def test_an_outcome_done_is_recorded_in_the_words_published_events_and_intents_use() -> None:
    # The status change to published says these (its detail's `outcome`) and post
    # intents store them: words clients and databases already hold, never to change.
    recorded = {outcome.value: outcome.recorded for outcome in SlugOutcome}
    assert recorded == {
        "free": "new",
        "suffixed": "suffixed",
        "takes_over": "took_over",
        "links": "linked",
        "published": "existing",
        "none": "none",
    }
    assert all(SlugOutcome.from_recorded(o.recorded) is o for o in SlugOutcome)


def test_slugs_of_keeps_the_base_and_what_starts_with_base_dash() -> None:
    slugs = {"pie", "pie-2", "pie-crust", "pies", "apple-pie", "pi"}
    assert slugs_of("pie", slugs) == {"pie", "pie-2", "pie-crust"}
    assert slugs_of("tart", slugs) == set()


def test_by_base_groups_each_base_with_its_numbered_slugs() -> None:
    slugs = ["pie", "pie-2", "pie-10", "pie-crust", "pie-", "tart-3", "cake", "pie-2-2"]
    assert by_base({"pie", "tart", "plum"}, slugs) == {
        "pie": {"pie", "pie-2", "pie-10"},
        "tart": {"tart-3"},
    }
    # A slug can be a base of its own and the numbered slug of another at once.
    assert by_base({"pie", "pie-2"}, slugs) == {
        "pie": {"pie", "pie-2", "pie-10"},
        "pie-2": {"pie-2", "pie-2-2"},
    }
    assert by_base(set(), slugs) == {}


# --- previews ------------------------------------------------------------------------------

KIND = "markdown"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "posts"
    folder.mkdir()
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state.duckdb") as opened:
        yield opened


def task(store: Store, task_id: str, title: str) -> None:
    store.tasks.create(
        NewTask(
            id=task_id, title=title, prompt="p", negative_prompt="", content="", variations=1,
            steps=2, guidance_scale=7.0, width=64, height=64, seed=1,
            source_file=f"{task_id}.yaml", source_sha256=f"sha-{task_id}",
        )
    )  # fmt: skip


def post(store: Store, task_id: str, slug: str, *, linked: bool = True) -> None:
    record = store.posts.create(task_id, slug, "t", "", "https://cdn/x.png", destination=KIND)
    if linked:
        store.tasks.set_post(task_id, record.id)


def preview(store: Store, site: Path, policy: str, *ids: str) -> dict[str, SlugPreview]:
    previewer = SlugPreviewer(store, MarkdownDestination(site, "image"), policy)
    return previewer.preview(store.tasks.summaries(ids=list(ids)))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("suffix", SlugPreview("plum-cake-2", "suffixed", "old")),
        ("update", SlugPreview("plum-cake", "takes_over", "old")),
        ("skip", SlugPreview("plum-cake", "links", "old")),
    ],
)
def test_a_slug_held_by_another_tasks_post_names_that_task(
    store: Store, site: Path, policy: str, expected: SlugPreview
) -> None:
    task(store, "old", "Plum Cake")
    post(store, "old", "plum-cake")
    task(store, "new", "Plum Cake")
    task(store, "free", "Quince Jam")
    assert preview(store, site, policy, "new", "free", "old") == {
        "new": expected,
        "free": SlugPreview("quince-jam", "free", None),
    }  # "old" is published: it has its slug, nothing to preview


def test_a_slug_taken_only_at_the_destination_names_no_task(store: Store, site: Path) -> None:
    (site / "plum-cake.md").write_text("---\ntitle: by hand\n---\n")
    (site / "plum-cake-2.markdown").write_text("by hand too\n")
    task(store, "new", "Plum Cake")
    assert preview(store, site, "suffix", "new") == {
        "new": SlugPreview("plum-cake-3", "suffixed", None)
    }
    assert preview(store, site, "update", "new") == {
        "new": SlugPreview("plum-cake", "takes_over", None)
    }


def test_gladtuis_posts_and_the_folders_files_add_up(store: Store, site: Path) -> None:
    task(store, "old", "Plum Cake")
    post(store, "old", "plum-cake-2")
    (site / "plum-cake.md").write_text("by hand\n")
    task(store, "new", "Plum Cake")
    assert preview(store, site, "suffix", "new")["new"].slug == "plum-cake-3"


def test_a_tasks_own_post_is_its_slug_not_a_duplicate(store: Store, site: Path) -> None:
    """Its post recorded but the task not yet linked to it (the publisher's last step)."""
    # Previewed after it in the same page: pages are newest first, then by id down.
    task(store, "also", "Plum Cake")
    task(store, "mine", "Plum Cake")
    post(store, "mine", "plum-cake", linked=False)
    for policy in ("suffix", "update", "skip"):
        pages = store.tasks.summaries(ids=["mine", "also"])
        assert [t.id for t in pages] == ["mine", "also"]
        found = preview(store, site, policy, "mine", "also")
        assert found["mine"] == SlugPreview("plum-cake", "free", None)
        assert found["also"].taken_by == "mine"


def test_nothing_to_preview_asks_nobody(store: Store, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-site"  # would fail if it were asked
    previewer = SlugPreviewer(store, MarkdownDestination(missing, "image"), "suffix")
    assert previewer.preview([]) == {}


def test_a_destination_that_cannot_be_asked_falls_back_and_says_so_once(
    store: Store, site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    task(store, "old", "Plum Cake")
    post(store, "old", "plum-cake")
    task(store, "new", "Plum Cake")
    (site / "plum-cake-2.md").write_text("by hand\n")
    previewer = SlugPreviewer(store, MarkdownDestination(site, "image"), "suffix")
    tasks = store.tasks.summaries(ids=["new"])

    def said() -> list[tuple[int, str]]:
        return [(r.levelno, r.getMessage()) for r in caplog.records]

    caplog.set_level(logging.INFO, logger="daemon.publishing.slugs")
    assert previewer.preview(tasks)["new"].slug == "plum-cake-3"
    assert said() == []
    away = site.with_name("away")
    site.rename(away)  # the folder cannot be read: gladtui's own records still count
    assert previewer.preview(tasks)["new"] == SlugPreview("plum-cake-2", "suffixed", "old")
    [(level, message)] = said()  # said at the first failure, with the reason
    assert level == logging.WARNING
    assert message.startswith("slug previews use gladtui's own records only: markdown cannot")
    assert f"{site}: No such file or directory" in message
    assert previewer.preview(tasks)["new"].slug == "plum-cake-2"
    assert len(said()) == 1  # once per outage
    away.rename(site)
    assert previewer.preview(tasks)["new"].slug == "plum-cake-3"
    assert previewer.preview(tasks)["new"].slug == "plum-cake-3"
    assert said()[1:] == [(logging.INFO, "slug previews ask markdown again")]
