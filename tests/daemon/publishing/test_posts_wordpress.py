"""Posts to a real WordPress: Debian's package on PHP's built-in server (tests/wordpress.py).

The site starts once for this module; each test starts from a site with no
posts and no media. What the site holds is read with WordPress's own
functions (php-cli), and the featured image is downloaded from the site.
The kill -9 tests are tests/daemon/publishing/test_posts_wordpress_crash.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from daemon.generation.models import LoadedModel
from daemon.publishing.destinations.base import (
    DestinationError,
    DestinationUnusable,
    PostDraft,
)
from daemon.publishing.destinations.wordpress import WordPressDestination
from daemon.publishing.publishers import PublishError, asset_id_for
from daemon.publishing.publishers.wordpress import WordPressPublisher
from gladtui.cli.cliformat import format_status, format_task
from gladtui.config import WordPressPostsConfig
from tests.apidaemon import ApiDaemon, short_dir
from tests.wordpress import WordPressSite, available

MUFFINS = "Making Delicious Muffins"
GLADTUI = Path(sys.executable).parent / "gladtui"

pytestmark = pytest.mark.skipif(
    not available(),
    reason="WordPress is not installed (apt-get install wordpress mariadb-server php-cli "
    "php-mysql php-gd; .ci/run does)",
)


@pytest.fixture(scope="module")
def site() -> Iterator[WordPressSite]:
    running = WordPressSite.start()
    print(f"WordPress site started in {running.started_seconds:.1f} s")
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def empty(site: WordPressSite) -> None:
    """No posts, no media, default permalinks: each test sees only what it makes."""
    site.php(
        "foreach (get_posts(['post_type' => ['post', 'attachment'], 'post_status' => 'any',"
        " 'numberposts' => -1]) as $p) { wp_delete_post($p->ID, true); }"
        " update_option('permalink_structure', '');"
    )


def posts(site: WordPressSite) -> list[dict[str, Any]]:
    """Every post on the site as WordPress has it, oldest first."""
    return json.loads(
        site.php(
            "$out = [];"
            " foreach (get_posts(['post_status' => 'any', 'numberposts' => -1,"
            " 'orderby' => 'ID', 'order' => 'ASC']) as $p) {"
            " $out[] = ['id' => $p->ID, 'title' => $p->post_title, 'slug' => $p->post_name,"
            " 'status' => $p->post_status, 'content' => $p->post_content,"
            " 'author' => (int) $p->post_author,"
            " 'thumbnail' => (int) get_post_thumbnail_id($p->ID),"
            " 'categories' => wp_get_post_categories($p->ID, ['fields' => 'names']),"
            " 'tags' => wp_get_post_tags($p->ID, ['fields' => 'names'])]; }"
            " echo json_encode($out);"
        )
    )


def attachments(site: WordPressSite) -> list[dict[str, Any]]:
    return json.loads(
        site.php(
            "$out = [];"
            " foreach (get_posts(['post_type' => 'attachment', 'post_status' => 'any',"
            " 'numberposts' => -1, 'orderby' => 'ID', 'order' => 'ASC']) as $p) {"
            " $out[] = ['id' => $p->ID, 'slug' => $p->post_name,"
            " 'url' => wp_get_attachment_url($p->ID), 'caption' => $p->post_excerpt,"
            " 'alt' => get_post_meta($p->ID, '_wp_attachment_image_alt', true)]; }"
            " echo json_encode($out);"
        )
    )


def insert_post(site: WordPressSite, title: str, slug: str, status: str = "publish") -> int:
    """A post written in WordPress itself, not by gladtui."""
    code = (
        f"echo wp_insert_post(['post_title' => {json.dumps(title)}, 'post_name' => "
        f"{json.dumps(slug)}, 'post_status' => {json.dumps(status)}, 'post_content' =>"
        " 'written in WordPress', 'post_author' => 1], true);"
    )
    return int(site.php(code))


def png(path: Path, size: int = 48) -> Path:
    """A real PNG of noise (WordPress checks an upload is the image it says)."""
    Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)).save(path)
    return path


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return bytes(response.read())


def destination(site: WordPressSite, login: str = "admin", **settings: Any) -> WordPressDestination:
    config = WordPressPostsConfig(url=site.url, user=login, **settings)
    return WordPressDestination(config, site.password(login))


def start(
    tiny: LoadedModel, site: WordPressSite, policy: str = "suffix", **settings: Any
) -> ApiDaemon:
    wordpress = {"url": site.url, "user": "admin", **settings}
    publishing = {
        "on_duplicate_slug": policy,
        "publisher": "wordpress",
        "posts": {"to": "wordpress", "wordpress": wordpress},
    }
    made = destination(site, **settings)
    return ApiDaemon(tiny, settings={"publishing": publishing}, destination=made).start()


def approved_bytes(d: ApiDaemon, task_id: str) -> bytes:
    assert d.daemon is not None
    variation = d.daemon.store.variations.get(task_id, 1)
    assert variation is not None
    return Path(variation.path).read_bytes()


# -- the seed's checklist, through the site -------------------------------------------------


def test_the_same_title_twice_makes_two_drafts_the_second_with_2(
    tiny: LoadedModel, site: WordPressSite
) -> None:
    d = start(tiny, site)
    try:
        first = d.in_review(MUFFINS, name="a.yaml", variations=1, content="first batch")
        second = d.in_review(MUFFINS, name="b.yaml", variations=1, seed=7)
        one = d.published(first["id"])["post"]
        preview = d.raw("GET", f"/api/tasks/{second['id']}")[1]
        assert (preview["slug"], preview["slug_outcome"], preview["slug_taken_by"]) == (
            "making-delicious-muffins-2",
            "suffixed",
            first["id"],
        )
        two = d.published(second["id"])["post"]
        images = [approved_bytes(d, first["id"]), approved_bytes(d, second["id"])]
        full_status = d.raw("GET", "/api/status")[1]
        status = full_status["publishing"]
        shown_task = d.raw("GET", f"/api/tasks/{first['id']}")[1]
    finally:
        d.cleanup()
    made = posts(site)
    assert [(p["title"], p["slug"], p["status"]) for p in made] == [
        (MUFFINS, "making-delicious-muffins", "draft"),  # draft: the default
        (MUFFINS, "making-delicious-muffins-2", "draft"),
    ]
    assert made[0]["content"] == "first batch"
    media = {m["id"]: m for m in attachments(site)}
    assert len(media) == 2
    for post, record, image, task in zip(made, (one, two), images, (first, second), strict=True):
        attachment = media[post["thumbnail"]]  # the featured image: the uploaded attachment
        assert attachment["url"] == record["featured_image_url"]
        assert download(attachment["url"]) == image  # the approved variation's exact bytes
        assert attachment["slug"] == asset_id_for(task["id"], image).lower()
        assert attachment["alt"] == MUFFINS  # no alt text given: the title
        assert record["destination"] == "wordpress"
        assert record["location"] == f"{site.url} post {post['id']} (draft)"
    assert status["posts_to"] == "wordpress" and status["publisher"] == "wordpress"
    assert status["posts_destination"] == (
        f"WordPress at {site.url} as admin, new posts draft; images in its media library"
    )
    assert status["images_to"] == f"the media library of WordPress at {site.url}"
    shown = format_status(full_status)  # `gladtui status`
    assert f"images:   the media library of WordPress at {site.url}" in shown
    assert f"posts:    WordPress at {site.url} as admin, new posts draft" in shown
    assert f"posted to: wordpress: {site.url} post {made[0]['id']} (draft)" in " ".join(
        format_task(shown_task).split()
    )  # `gladtui show`


def test_a_post_the_site_already_had_keeps_its_slug_and_ours_gets_2(
    tiny: LoadedModel, site: WordPressSite
) -> None:
    theirs = insert_post(site, MUFFINS, "making-delicious-muffins")
    d = start(tiny, site, status="publish")
    try:
        task = d.in_review(MUFFINS, name="a.yaml", variations=1)
        assert (task["slug"], task["slug_outcome"], task["slug_taken_by"]) == (
            "making-delicious-muffins-2",
            "suffixed",
            None,
        )
        post = d.published(task["id"])["post"]
    finally:
        d.cleanup()
    before, after = posts(site)
    assert (before["id"], before["slug"], before["content"]) == (
        theirs,
        "making-delicious-muffins",
        "written in WordPress",
    )
    assert (after["slug"], after["status"]) == ("making-delicious-muffins-2", "publish")
    assert post["slug"] == "making-delicious-muffins-2"


@pytest.mark.parametrize("policy", ["update", "skip"])
def test_update_and_skip_act_on_the_post_the_site_had(
    tiny: LoadedModel, site: WordPressSite, policy: str
) -> None:
    theirs = insert_post(site, "Muffins, the old way", "making-delicious-muffins")
    d = start(tiny, site, policy)
    try:
        task = d.in_review(MUFFINS, name="a.yaml", variations=1, content="new words")
        expected = "takes_over" if policy == "update" else "links"
        assert (task["slug"], task["slug_outcome"]) == ("making-delicious-muffins", expected)
        done = d.published(task["id"])
        image = approved_bytes(d, task["id"])
    finally:
        d.cleanup()
    [post] = posts(site)  # never a second post
    record = done["post"]
    assert post["id"] == theirs and post["slug"] == record["slug"] == "making-delicious-muffins"
    assert post["status"] == "publish"  # an update leaves the post's status alone
    if policy == "update":
        assert (post["title"], post["content"]) == (MUFFINS, "new words")
        [attachment] = attachments(site)
        assert post["thumbnail"] == attachment["id"]
        assert download(record["featured_image_url"]) == image
    else:  # left as it was; gladtui's record shows the site's post
        assert (post["title"], post["content"]) == ("Muffins, the old way", "written in WordPress")
        assert post["thumbnail"] == 0
        assert record["title"] == "Muffins, the old way"


# -- alt text, caption, categories and tags -----------------------------------------------------


def upload(site: WordPressSite, dest: WordPressDestination, tmp_path: Path, task_id: str) -> str:
    image = png(tmp_path / f"{task_id}.png")
    return WordPressPublisher(dest).upload(image, asset_id_for(task_id, image.read_bytes())).url


def draft_for(url: str, slug: str, **fields: Any) -> PostDraft:
    from datetime import UTC, datetime

    return PostDraft(
        task_id="t1",
        title="Muffins in the rain",
        slug=slug,
        content="Body.",
        image_url=url,
        created_at=datetime(2026, 1, 2, tzinfo=UTC),
        **fields,
    )


def test_alt_text_and_caption_go_to_the_attachment_categories_and_tags_to_the_post(
    site: WordPressSite, tmp_path: Path
) -> None:
    made = destination(site, categories=["Baking", "News"], tags=["muffins"])
    made.check()  # "Baking" and "muffins" are not on the site yet: an admin creates them
    url = upload(site, made, tmp_path, "t1")
    draft = draft_for(url, "muffins-in-the-rain", alt="Six muffins on a rack", caption="Fresh")
    placed = made.create(draft)
    assert placed is not None and placed.slug == "muffins-in-the-rain"
    [post] = posts(site)
    [attachment] = attachments(site)
    assert post["thumbnail"] == attachment["id"]
    assert (attachment["alt"], attachment["caption"]) == ("Six muffins on a rack", "Fresh")
    assert sorted(post["categories"]) == ["Baking", "News"] and post["tags"] == ["muffins"]
    assert post["status"] == "draft"


def test_a_category_the_user_may_not_create_is_refused_naming_it(site: WordPressSite) -> None:
    made = destination(site, "author", categories=["Uncategorized", "Secret recipes"])
    with pytest.raises(DestinationUnusable) as refused:
        made.check()
    message = str(refused.value)
    assert "the category 'Secret recipes' is not on WordPress at" in message
    assert "may not create it (manage_categories)" in message
    assert "publishing.posts.wordpress.categories" in message


def test_a_wrong_password_is_refused_without_repeating_it(
    site: WordPressSite, tmp_path: Path
) -> None:
    wrong = site.password("admin")[::-1]
    config = WordPressPostsConfig(url=site.url, user="admin")
    made = WordPressDestination(config, wrong)
    with pytest.raises(DestinationUnusable) as refused:
        made.check()
    message = str(refused.value)
    assert "refused user 'admin' (401" in message
    assert "GLADTUI_WORDPRESS_PASSWORD" in message and "Application Password" in message
    image = png(tmp_path / "a.png")
    with pytest.raises(PublishError) as failed:
        WordPressPublisher(made).upload(image, "t1-0123456789abcdef")
    assert "401" in str(failed.value) and not failed.value.retryable
    for text in (message, str(failed.value)):
        assert wrong not in text and site.password("admin") not in text


def test_a_user_who_may_not_upload_is_told_which_capability_is_missing(
    site: WordPressSite, tmp_path: Path
) -> None:
    made = destination(site, "contrib")
    with pytest.raises(DestinationUnusable) as refused:
        made.check()
    assert "user 'contrib' lacks upload_files" in str(refused.value)
    assert "Author role or above" in str(refused.value)
    with pytest.raises(PublishError) as failed:  # and if the role changes while running
        WordPressPublisher(made).upload(png(tmp_path / "a.png"), "t1-0123456789abcdef")
    assert "user 'contrib' lacks the upload_files capability (403" in str(failed.value)
    assert "Contributors may not upload" in str(failed.value) and not failed.value.retryable
    assert attachments(site) == []


def test_an_upload_refused_as_too_large_says_what_to_raise(
    site: WordPressSite, tmp_path: Path
) -> None:
    # PHP's built-in server takes any body; a web server in front of a site answers 413
    # for one over its limit (nginx's client_max_body_size), as the test plugin does here.
    made = destination(site)
    site.fail("POST", "#^/wp/v2/media$#", 413)
    with pytest.raises(PublishError) as failed:
        WordPressPublisher(made).upload(png(tmp_path / "a.png"), "t1-0123456789abcdef")
    message = str(failed.value)
    assert "refused the image (" in message and "bytes) as too large (413" in message
    assert "post_max_size" in message and not failed.value.retryable
    assert attachments(site) == []


def test_a_plugins_500_is_retried_and_a_404_is_not(site: WordPressSite, tmp_path: Path) -> None:
    made = destination(site)
    url = upload(site, made, tmp_path, "t1")
    site.fail("POST", "#^/wp/v2/posts$#", 500)
    with pytest.raises(DestinationError) as failed:
        made.create(draft_for(url, "muffins"))
    assert "answered 500: A plugin failed while handling this [test_plugin_failed]" in str(
        failed.value
    )
    assert failed.value.retryable
    site.fail("POST", "#^/wp/v2/posts$#", 404)
    with pytest.raises(DestinationError) as failed:
        made.create(draft_for(url, "muffins"))
    assert "nothing is retried" in str(failed.value) and not failed.value.retryable
    assert made.create(draft_for(url, "muffins")) is not None  # the plugin recovered
    assert [p["slug"] for p in posts(site)] == ["muffins"]


# -- slugs --------------------------------------------------------------------------------------


def test_taken_slugs_are_grouped_by_base_with_every_suffix_asked_for(
    site: WordPressSite,
) -> None:
    slugs = ["pie", *(f"pie-{n}" for n in range(2, 13)), "pie-ball", "piece", "cake-3"]
    site.php(
        f"foreach ({json.dumps(slugs)} as $s) {{ wp_insert_post(['post_title' => $s,"
        " 'post_name' => $s, 'post_status' => 'draft', 'post_author' => 1]); }"
    )
    found = destination(site).taken(["pie", "cake", "tart"])
    # pie-2 … pie-12 take two rounds of suffixes; cake is free (cake-3 does not matter)
    assert found == {"pie": {"pie", *(f"pie-{n}" for n in range(2, 13))}}


@pytest.mark.parametrize("status", ["publish", "draft"])
def test_a_slug_taken_meanwhile_is_reported_taken_and_nothing_of_ours_stays(
    site: WordPressSite, tmp_path: Path, status: str
) -> None:
    made = destination(site, status=status)
    url = upload(site, made, tmp_path, "t1")
    assert made.taken(["muffins"]) == {}
    theirs = insert_post(site, "The CMS was quicker", "muffins")
    assert made.create(draft_for(url, "muffins")) is None  # WordPress would say muffins-2
    assert [(p["id"], p["slug"]) for p in posts(site)] == [(theirs, "muffins")]
    placed = made.create(draft_for(url, "muffins-2"))
    assert placed is not None and placed.slug == "muffins-2"


def test_an_interrupted_write_is_found_again_by_slug_and_image(
    site: WordPressSite, tmp_path: Path
) -> None:
    made = destination(site)
    url = upload(site, made, tmp_path, "t1")
    other = upload(site, made, tmp_path, "t2")
    placed = made.create(draft_for(url, "muffins"))
    assert placed is not None
    after_restart = destination(site)  # knows no attachment: finds it by its slug
    found = after_restart.find("muffins", url)
    assert found is not None and found.location == placed.location
    assert after_restart.find("muffins", other) is None  # another image: not our write
    assert after_restart.find("muffins-2", url) is None


def test_pretty_permalinks_move_the_rest_root_and_it_is_found(site: WordPressSite) -> None:
    assert destination(site).site.root() == f"{site.url}/index.php?rest_route=/"
    site.php("update_option('permalink_structure', '/%postname%/'); flush_rewrite_rules();")
    made = destination(site)
    assert made.site.root() == f"{site.url}/wp-json/"
    insert_post(site, "Pie", "pie")
    made.check()
    assert made.taken(["pie"]) == {"pie": {"pie"}}


def test_the_daemon_refuses_to_start_with_a_wrong_password_and_never_prints_it(
    site: WordPressSite,
) -> None:
    wrong = site.password("admin")[::-1]
    root = short_dir()
    config = {
        "drop_dir": "drop", "state_dir": "state", "preview_dir": "previews",
        "cache_dir": "cache", "socket": "run/d.sock",
        "generation": {"model": "builtin:tiny-sdxl", "device": "cpu"},
        "publishing": {
            "publisher": "wordpress",
            "posts": {"to": "wordpress", "wordpress": {"url": site.url, "user": "admin"}},
        },
    }  # fmt: skip
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "GLADTUI_WORDPRESS_PASSWORD": wrong}
    try:
        result = subprocess.run(
            [str(GLADTUI), "--config", str(root / "config.yaml"), "daemon", "--log-level", "debug"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert result.returncode == 1, (result.returncode, result.stderr)
    output = result.stdout + result.stderr
    assert "refused user 'admin' (401" in result.stderr
    assert "GLADTUI_WORDPRESS_PASSWORD" in result.stderr
    assert wrong not in output and "API listening" not in output
