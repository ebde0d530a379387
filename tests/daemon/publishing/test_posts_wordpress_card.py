"""The social card on WordPress: its URL in the post-meta field an SEO plugin reads.

WordPress keeps a post-meta field sent through its REST API only when something
registered it for the API (SEO plugins do, or a few lines of PHP): otherwise it drops
it without a word, so the daemon checks the field at start. The test site gets such a
registration as a must-use plugin, as a site with an SEO plugin has.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.publishing.destinations.base import DestinationUnusable
from tests.daemon.publishing.test_posts_wordpress import (
    destination,
    draft_for,
    posts,
    upload,
)
from tests.wordpress import WordPressSite, available

pytestmark = pytest.mark.skipif(not available(), reason="WordPress is not installed")

FIELD = "rank_math_facebook_image"  # Rank Math's OpenGraph image field
SEO_PLUGIN = f"""<?php
// What an SEO plugin does for a field it opens to the REST API.
add_action('init', function () {{
    register_post_meta('post', '{FIELD}', ['show_in_rest' => true, 'single' => true,
        'type' => 'string',
        'auth_callback' => function () {{ return current_user_can('edit_posts'); }}]);
}});
"""


@pytest.fixture(scope="module")
def site() -> Iterator[WordPressSite]:
    running = WordPressSite.start()
    yield running
    running.stop()


def card_of(site: WordPressSite, post_id: int) -> str:
    return site.php(f"echo get_post_meta({post_id}, '{FIELD}', true);")


def test_a_field_the_rest_api_would_drop_is_refused_at_start(site: WordPressSite) -> None:
    with pytest.raises(DestinationUnusable) as refused:
        destination(site, social_image_meta=FIELD).check()
    message = str(refused.value)
    assert f"social_image_meta is '{FIELD}'" in message
    assert "does not take that post-meta field through its REST API" in message
    assert "show_in_rest" in message


def test_the_card_goes_into_the_seo_field_on_create_and_update(
    site: WordPressSite, tmp_path: Path
) -> None:
    plugin = site.content / "mu-plugins" / "seo.php"
    plugin.write_text(SEO_PLUGIN)
    try:
        made = destination(site, social_image_meta=FIELD)
        made.check()
        image = upload(site, made, tmp_path, "t1")
        cards = [upload(site, made, tmp_path, name) for name in ("t1-card", "t1-card-b")]
        assert made.create(draft_for(image, "card-post", social_image_url=cards[0]))
        [post] = [p for p in posts(site) if p["slug"] == "card-post"]  # the site's own too
        assert card_of(site, post["id"]) == cards[0]
        assert made.update(draft_for(image, "card-post", social_image_url=cards[1]))
        assert card_of(site, post["id"]) == cards[1]
    finally:
        plugin.unlink()


def test_without_a_field_the_card_stays_in_the_media_library_and_the_log_says_so(
    site: WordPressSite, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    made = destination(site)
    made.check()
    image = upload(site, made, tmp_path, "t2")
    card = upload(site, made, tmp_path, "t2-card")
    with caplog.at_level(logging.INFO, logger="daemon.publishing.destinations.wordpress"):
        assert made.create(draft_for(image, "no-field-post", social_image_url=card))
    [post] = [p for p in posts(site) if p["slug"] == "no-field-post"]
    assert card_of(site, post["id"]) == ""
    said = " ".join(record.getMessage() for record in caplog.records)
    assert card in said and "social_image_meta" in said
