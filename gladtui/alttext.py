"""An image's alt text when the task file gives none: its title, or title and prompt.

Screen readers read alt text in one go and the usual advice is to keep it near
125 characters, so a longer one is cut at a word boundary. A title of fewer
than three words ("Muffins") says little about the picture: the prompt, read
without its weighting syntax (gladtui/promptsyntax.py), is added after it.

Shared module: the daemon fills posts with it, the API shows it.
"""

from __future__ import annotations

import re

from gladtui.promptsyntax import PromptSyntaxError, parse_prompt

__all__ = ["MAX_DERIVED_ALT_CHARS", "MIN_TITLE_WORDS", "derived_alt", "image_alt", "plain_prompt"]

MAX_DERIVED_ALT_CHARS = 125
MIN_TITLE_WORDS = 3
_SPACES = re.compile(r"\s+")
# Left dangling at the end of a cut: a comma, a colon, an open bracket.
_TRAILING = " ,;:-–—([{/&+"


def image_alt(given: str, title: str, prompt: str) -> str:
    """The alt text a post carries: the task file's `alt:`, else derived."""
    return given or derived_alt(title, prompt)


def derived_alt(title: str, prompt: str, limit: int = MAX_DERIVED_ALT_CHARS) -> str:
    """Title (and the prompt where the title has fewer than 3 words), at most `limit`."""
    text = _SPACES.sub(" ", title).strip()
    if len(text.split()) < MIN_TITLE_WORDS:
        described = plain_prompt(prompt)
        if described and described.casefold() != text.casefold():
            text = f"{text}: {described}" if text else described
    return _cut(text, limit)


def plain_prompt(prompt: str) -> str:
    """The prompt's words without A1111's weighting brackets and BREAKs."""
    try:
        parsed = parse_prompt(prompt)
    except PromptSyntaxError:  # a stored prompt parsed once; fall back to the raw words
        return _SPACES.sub(" ", prompt).strip()
    words = " ".join(fragment.text for chunk in parsed.chunks for fragment in chunk)
    return _SPACES.sub(" ", words).strip()


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit + 1]  # a space right after the limit still ends a whole word
    cut = head.rfind(" ")
    kept = head[:cut] if cut > 0 else text[:limit]  # one word longer than the limit: cut it
    return kept.rstrip(_TRAILING) or text[:limit]
