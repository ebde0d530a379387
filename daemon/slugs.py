"""Post slugs from titles, through python-slugify (Unicode transliterated).

`base_slug` is the slug a title asks for; when another post already has it,
`publishing.on_duplicate_slug` decides what happens (the Publishing issue).
"""

from __future__ import annotations

from functools import lru_cache

from slugify import slugify

MAX_SLUG_LENGTH = 80
FALLBACK_SLUG = "post"  # a title of emoji or punctuation alone leaves nothing


@lru_cache(maxsize=65536)  # a list of thousands of tasks asks again and again
def base_slug(title: str) -> str:
    """`Crème Brûlée: 5 Tips!` → `creme-brulee-5-tips`, cut at a word boundary."""
    slug = slugify(title, max_length=MAX_SLUG_LENGTH, word_boundary=True)
    return slug or FALLBACK_SLUG
