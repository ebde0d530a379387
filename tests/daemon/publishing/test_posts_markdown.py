"""Posts as Markdown files for a static site: real files, read back with python-frontmatter."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import frontmatter
import pytest

from daemon.generation.models import LoadedModel
from daemon.publishing.destinations.base import DestinationUnusable, PostDraft
from daemon.publishing.destinations.markdown import MarkdownDestination
from daemon.service.process import Daemon
from gladtui.config import load_config
from tests.apidaemon import ApiDaemon, short_dir, task_yaml

MUFFINS = "Making Delicious Muffins"
EXISTING = """---
title: Our first muffins
slug: making-delicious-muffins
date: 2023-04-01
tags: [baking]
---
Written by hand.
"""


def start(tiny: LoadedModel, folder: Path, policy: str = "suffix", **markdown: Any) -> ApiDaemon:
    posts = {"to": "markdown", "markdown": {"dir": str(folder), **markdown}}
    settings = {"publishing": {"on_duplicate_slug": policy, "posts": posts}}
    return ApiDaemon(tiny, settings=settings).start()


@pytest.fixture
def site() -> Iterator[Path]:
    folder = short_dir("gt-site-") / "content" / "posts"
    folder.mkdir(parents=True)
    yield folder
    shutil.rmtree(folder.parent.parent, ignore_errors=True)


def test_an_existing_file_gives_2_and_the_new_file_reads_back(
    tiny: LoadedModel, site: Path
) -> None:
    (site / "making-delicious-muffins.md").write_text(EXISTING)
    d = start(tiny, site)
    try:
        task_id = d.submit(task_yaml(MUFFINS, variations=1, content="Fresh words.\n"), "m.yaml")
        task = d.wait_status(task_id, "review")
        assert (task["slug"], task["slug_outcome"]) == ("making-delicious-muffins-2", "suffixed")
        status, _ = d.raw("POST", f"/api/tasks/{task_id}/approve", {"variation": 1})
        assert status == 200
        done = d.wait_status(task_id, "published", "failed")
        status_body = d.raw("GET", "/api/status")[1]["publishing"]
    finally:
        d.cleanup()
    post = done["post"]
    written = site / "making-delicious-muffins-2.md"
    assert (post["slug"], post["destination"], post["location"]) == (
        "making-delicious-muffins-2",
        "markdown",
        str(written),
    )
    page = frontmatter.load(written)
    assert page["title"] == MUFFINS and page["slug"] == "making-delicious-muffins-2"
    assert page["image"] == post["featured_image_url"]
    assert isinstance(page["date"], datetime) and page["date"].tzinfo is not None
    assert page.content == "Fresh words."
    assert (site / "making-delicious-muffins.md").read_text() == EXISTING  # untouched
    assert sorted(p.name for p in site.iterdir()) == [
        "making-delicious-muffins-2.md",
        "making-delicious-muffins.md",
    ]  # no temp file left
    described = f"Markdown files in {site} ({{slug}}.md, image under 'image')"
    assert status_body["posts_destination"] == described


def test_a_slug_said_in_front_matter_or_a_page_bundle_is_taken(
    tiny: LoadedModel, site: Path
) -> None:
    (site / "2024-01-05-pie.md").write_text("---\ntitle: Pie\nslug: apple-pie\n---\nPie.\n")
    (site / "apple-pie-2").mkdir()
    (site / "apple-pie-2" / "index.md").write_text("+++\ntitle = 'Pie bundle'\n+++\n")
    (site / "tart.md").write_text('+++\ntitle = "Tart"\nslug = "apple-pie-3"\n+++\nTart.\n')
    d = start(tiny, site, image_key="featured_image")
    try:
        post = d.published(d.in_review("Apple Pie", name="p.yaml", variations=1)["id"])["post"]
    finally:
        d.cleanup()
    assert post["slug"] == "apple-pie-4"
    page = frontmatter.load(site / "apple-pie-4.md")
    assert page["featured_image"] == post["featured_image_url"] and "image" not in page


@pytest.mark.parametrize("policy", ["update", "skip"])
def test_update_and_skip_against_a_file_the_site_already_had(
    tiny: LoadedModel, site: Path, policy: str
) -> None:
    existing = site / "making-delicious-muffins.md"
    existing.write_text(EXISTING)
    d = start(tiny, site, policy)
    try:
        post = d.published(
            d.in_review(MUFFINS, name="m.yaml", variations=1, content="New words.")["id"]
        )["post"]
    finally:
        d.cleanup()
    assert [p.name for p in site.iterdir()] == ["making-delicious-muffins.md"]
    assert (post["slug"], post["location"]) == ("making-delicious-muffins", str(existing))
    page = frontmatter.load(existing)
    if policy == "update":  # replaced whole, the site's own keys kept
        assert (page["title"], page.content) == (MUFFINS, "New words.")
        assert page["image"] == post["featured_image_url"]
        assert page["tags"] == ["baking"] and page["slug"] == "making-delicious-muffins"
    else:
        assert existing.read_text() == EXISTING
        assert (post["title"], post["featured_image_url"]) == ("Our first muffins", "")


def draft(slug: str) -> PostDraft:
    return PostDraft("t1", "T", slug, "body", "https://cdn/x.png", datetime.now(UTC))


def test_a_file_is_never_overwritten_even_if_it_appears_after_the_look(site: Path) -> None:
    destination = MarkdownDestination(site, "image")
    assert not destination.taken(["late"]).get("late")  # free when looked at
    (site / "late.md").write_text("the other writer's\n")  # between the look and the write
    assert destination.create(draft("late")) is None
    assert (site / "late.md").read_text() == "the other writer's\n"
    assert [p.name for p in site.iterdir()] == ["late.md"]
    placed = destination.create(draft("late-2"))
    assert placed is not None and (site / "late-2.md").is_file()
    assert destination.find("late-2", "https://cdn/x.png") == placed
    assert destination.find("late-2", "https://cdn/other.png") is None


def test_a_dot_markdown_file_takes_its_slug_as_a_dot_md_file_does(site: Path) -> None:
    """Jekyll and Hugo read `.markdown` too: its name is a taken slug, never written over."""
    (site / "plum-cake.markdown").write_text("No front matter, just words.\n")
    (site / "plum-cake-2.md").write_text("Another.\n")
    (site / "plum-cake-3.txt").write_text("Not a post.\n")
    destination = MarkdownDestination(site, "image")
    assert destination.taken(["plum-cake"]) == {"plum-cake": {"plum-cake", "plum-cake-2"}}
    assert destination.create(draft("plum-cake")) is None
    assert (site / "plum-cake.markdown").read_text() == "No front matter, just words.\n"
    assert not (site / "plum-cake.md").exists()


def test_a_missing_folder_refuses_the_start(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "state_dir: state\npublishing:\n  posts:\n    to: markdown\n"
        "    markdown: {dir: site/content/posts}\n"
    )
    config = load_config(config_file, env={})
    with pytest.raises(DestinationUnusable) as refused:
        Daemon(config)
    assert str(refused.value).startswith(
        f"publishing.posts.markdown.dir {tmp_path}/site/content/posts is not a folder"
    )
    assert not (tmp_path / "state").exists()  # refused before anything was opened
