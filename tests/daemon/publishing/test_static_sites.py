"""Static sites as their themes expect: page bundles, Hugo's `images:`, Astro's `heroImage`,
Jekyll's `image:`, alt text, caption and the social card in the front matter.

Posts go through the real daemon into a real folder; each file is read back as the
generator reads it: the YAML between the first two `---` lines, with a YAML parser.
"""

from __future__ import annotations

import shutil
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from daemon.generation.models import LoadedModel
from daemon.publishing.destinations.base import PostDraft
from daemon.publishing.destinations.bundles import LEFTOVER_PREFIX
from daemon.publishing.destinations.markdown import MarkdownDestination
from gladtui.config import MarkdownPostsConfig
from tests.apidaemon import ApiDaemon, short_dir, task_yaml

HUGO = {"layout": "bundle", "image_key": ["images"], "image_name": "featured.webp"}
ASTRO = {"image_key": "heroImage", "caption_key": "description", "date_key": "pubDate"}
JEKYLL = {"image_key": "image", "file_name": "date-slug"}


def front_matter(path: Path) -> dict[str, Any]:
    """The YAML between the `---` lines that open a Markdown file, as generators split it."""
    first, head, _body = path.read_text(encoding="utf-8").split("---\n", 2)
    assert first == ""
    loaded = yaml.safe_load(head)
    assert isinstance(loaded, dict)
    return loaded


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture
def site() -> Iterator[Path]:
    folder = short_dir("gt-site-") / "content" / "posts"
    folder.mkdir(parents=True)
    yield folder
    shutil.rmtree(folder.parent.parent, ignore_errors=True)


def publish(
    tiny: LoadedModel, site: Path, markdown: dict[str, Any], **task: Any
) -> tuple[dict[str, Any], Path]:
    """One task through a daemon posting to `site`: the published task, its image file."""
    posts = {"to": "markdown", "markdown": {"dir": str(site), **markdown}}
    settings = {"publishing": {"posts": posts, "social_card": "1200x630"}}
    d = ApiDaemon(tiny, settings=settings).start()
    try:
        task_id = d.submit(task_yaml("Making Delicious Muffins", variations=1, **task), "m.yaml")
        d.wait_status(task_id, "review")
        done = d.published(task_id)
        [variation] = done["variations"]
        kept = site.parent.parent / "approved.png"  # the daemon's root goes with it
        shutil.copyfile(variation["path"], kept)
    finally:
        d.cleanup()
    return done, kept


def test_hugo_page_bundle_holds_the_image_and_the_card_and_names_them(
    tiny: LoadedModel, site: Path
) -> None:
    done, approved = publish(
        tiny, site, HUGO, alt="Three muffins on a plate", caption="Fresh", content="Words.\n"
    )
    bundle = site / "making-delicious-muffins"
    assert done["post"]["location"] == str(bundle / "index.md")
    assert sorted(p.name for p in site.iterdir()) == ["making-delicious-muffins"]  # no leftovers
    assert sorted(p.name for p in bundle.iterdir()) == [
        "featured-social.webp",
        "featured.webp",
        "index.md",
    ]
    meta = front_matter(bundle / "index.md")
    assert meta["images"] == ["featured.webp"]  # Hugo's OpenGraph templates read this list
    assert (meta["alt"], meta["caption"], meta["og_image"]) == (
        "Three muffins on a plate",
        "Fresh",
        "featured-social.webp",
    )
    assert meta["gladtui_image"] == done["post"]["featured_image_url"]
    assert (bundle / "index.md").read_text().endswith("---\nWords.\n")
    with Image.open(bundle / "featured.webp") as image:
        assert image.format == "WEBP"
    assert np.array_equal(pixels(bundle / "featured.webp"), pixels(approved))  # lossless copy
    with Image.open(bundle / "featured-social.webp") as card:
        assert (card.format, card.size) == ("WEBP", (1200, 630))
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o700
    for name in ("index.md", "featured.webp", "featured-social.webp"):
        assert stat.S_IMODE((bundle / name).stat().st_mode) == 0o600


@pytest.mark.parametrize(("generator", "settings"), [("astro", ASTRO), ("jekyll", JEKYLL)])
def test_astro_and_jekyll_read_the_cdn_image_under_their_key(
    tiny: LoadedModel, site: Path, generator: str, settings: dict[str, Any]
) -> None:
    done, _ = publish(tiny, site, settings, caption="A caption")
    post = done["post"]
    [written] = site.iterdir()
    meta = front_matter(written)
    date_key = settings.get("date_key", "date")
    assert isinstance(meta[date_key], datetime) and meta["slug"] == "making-delicious-muffins"
    if generator == "jekyll":  # _posts/2026-12-07-making-delicious-muffins.md
        assert written.name == f"{meta['date']:%Y-%m-%d}-making-delicious-muffins.md"
    else:
        assert written.name == "making-delicious-muffins.md" and "date" not in meta
    assert meta[settings["image_key"]] == post["featured_image_url"]
    assert meta["alt"] == "Making Delicious Muffins"  # no alt: in the task, so the title
    assert meta[settings.get("caption_key", "caption")] == "A caption"
    assert meta["og_image"].startswith(post["featured_image_url"].rsplit("/", 1)[0])
    assert "-card-" in meta["og_image"] and meta["og_image"] != post["featured_image_url"]
    assert "gladtui_image" not in meta


# -- the destination alone: slugs of files and bundles mixed, never overwritten, update --------


def draft(slug: str, image: Path, title: str = "Pie") -> PostDraft:
    return PostDraft(
        "t1", title, slug, "body", f"https://cdn/{image.stem}.png", datetime.now(UTC),
        alt="A pie", image_path=image,
    )  # fmt: skip


def png(path: Path, colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", (32, 16), colour).save(path)
    return path


def bundles(site: Path, **settings: Any) -> MarkdownDestination:
    style = MarkdownPostsConfig(dir=site, layout="bundle", **settings)
    return MarkdownDestination.from_config(style)


def test_files_and_bundles_take_slugs_from_each_other(site: Path, tmp_path: Path) -> None:
    red = png(tmp_path / "red.png", (255, 0, 0))
    (site / "pie.md").write_text("---\ntitle: Pie\n---\n")
    bundle, files = bundles(site), MarkdownDestination(site, "image")
    assert bundle.create(draft("pie", red)) is None  # a file holds it
    placed = bundle.create(draft("pie-2", red))
    assert placed is not None and placed.location == str(site / "pie-2" / "index.md")
    assert files.taken(["pie"]) == {"pie": {"pie", "pie-2"}}
    assert files.create(draft("pie-2", red)) is None  # a bundle holds it
    assert not (site / "pie-2.md").exists()
    (site / "pie-3.md").write_text("the other writer's\n")  # appears after any look
    assert bundle.create(draft("pie-3", red)) is None
    assert (
        not (site / "pie-3").exists() and (site / "pie-3.md").read_text() == "the other writer's\n"
    )
    assert bundle.find("pie-2", "https://cdn/red.png") == placed  # found again after a crash
    assert bundle.find("pie-2", "https://cdn/blue.png") is None


def test_jekyll_names_are_dated_and_their_slugs_are_found_after_the_date(
    site: Path, tmp_path: Path
) -> None:
    red = png(tmp_path / "red.png", (255, 0, 0))
    (site / "2025-03-01-pie.md").write_text("---\ntitle: Pie\n---\n")  # Jekyll's own: no slug:
    posts = MarkdownDestination.from_config(
        MarkdownPostsConfig(dir=site, image_key="image", file_name="date-slug")
    )
    assert posts.taken(["pie"]) == {"pie": {"pie"}}
    assert posts.create(draft("pie", red)) is None
    pie2 = draft("pie-2", red)
    placed = posts.create(pie2)
    name = f"{pie2.created_at:%Y-%m-%d}-pie-2.md"
    assert placed is not None and placed.location == str(site / name)
    assert front_matter(site / name)["slug"] == "pie-2"
    assert posts.create(draft("pie-2", red)) is None  # its front matter holds the slug
    assert posts.find("pie-2", "https://cdn/red.png") == placed  # found again after a crash
    assert "{date}-{slug}.md" in posts.describe()


def test_a_bundle_dir_that_exists_is_never_overwritten(site: Path, tmp_path: Path) -> None:
    (site / "cake").mkdir()
    (site / "cake" / "notes.txt").write_text("mine\n")  # no index.md: not a post, but not ours
    assert bundles(site).create(draft("cake", png(tmp_path / "r.png", (255, 0, 0)))) is None
    assert [p.name for p in (site / "cake").iterdir()] == ["notes.txt"]
    assert not [p for p in site.iterdir() if p.name.startswith(".")]


def test_update_replaces_index_and_image_together_and_keeps_the_rest(
    site: Path, tmp_path: Path
) -> None:
    red, blue = png(tmp_path / "red.png", (255, 0, 0)), png(tmp_path / "blue.png", (0, 0, 255))
    destination = bundles(site, image_name="cover.jpg")
    assert destination.create(draft("pie", red)) is not None
    bundle = site / "pie"
    (bundle / "extra.png").write_bytes(b"added by hand")
    (bundle / "index.md").chmod(0o644)  # the site's choice, kept
    placed = destination.update(draft("pie", blue, title="Blue pie"))
    assert placed is not None and placed.location == str(bundle / "index.md")
    meta = front_matter(bundle / "index.md")
    assert (meta["title"], meta["image"], meta["gladtui_image"]) == (
        "Blue pie",
        "cover.jpg",
        "https://cdn/blue.png",
    )
    with Image.open(bundle / "cover.jpg") as cover:
        assert cover.format == "JPEG"
        r, _, b = cover.convert("RGB").getpixel((16, 8))  # type: ignore[misc]
    assert b > 200 and r < 40  # the new image, not the old one
    assert (bundle / "extra.png").read_bytes() == b"added by hand"
    assert stat.S_IMODE((bundle / "index.md").stat().st_mode) == 0o644
    assert sorted(p.name for p in site.iterdir()) == ["pie"]  # the old bundle is gone


def test_a_bundle_an_interrupted_write_left_is_no_post_and_is_removed_at_start(
    site: Path, tmp_path: Path
) -> None:
    """What a kill -9 mid-write leaves: a hidden folder beside the name, never the name."""
    half = site / f"{LEFTOVER_PREFIX}pie-0123456789abcdef"
    half.mkdir()
    (half / "index.md").write_text("---\ntitle: Pie\n---\n")
    destination = bundles(site)
    assert destination.taken(["pie"]) == {}
    destination.check()
    assert list(site.iterdir()) == []
    assert destination.create(draft("pie", png(tmp_path / "r.png", (255, 0, 0)))) is not None
