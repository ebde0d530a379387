"""Alt text derived from a task's title (and prompt), for posts whose task file has no `alt:`."""

from __future__ import annotations

from gladtui.alttext import MAX_DERIVED_ALT_CHARS, derived_alt, image_alt


def test_a_title_of_three_words_or_more_is_the_alt_text_alone() -> None:
    assert derived_alt("Making Delicious Muffins", "muffins, 8k") == "Making Delicious Muffins"


def test_a_short_title_gains_the_prompt_without_its_weighting_syntax() -> None:
    prompt = "(blueberry muffins:1.3) on a [rustic] table BREAK soft light"
    assert (
        derived_alt("Muffins", prompt) == "Muffins: blueberry muffins on a rustic table soft light"
    )
    assert derived_alt("  Two   words ", "a cat") == "Two words: a cat"


def test_a_long_text_is_cut_at_a_word_boundary_within_the_limit() -> None:
    title = "Sourdough " + "bread, crust and crumb " * 10
    alt = derived_alt(title, "p")
    assert len(alt) <= MAX_DERIVED_ALT_CHARS
    assert title.startswith(alt) and title[len(alt)] in " ,"  # whole words only
    assert not alt.endswith((",", " "))  # nothing left dangling
    assert derived_alt("A" * 300, "p") == "A" * MAX_DERIVED_ALT_CHARS  # one word: cut hard


def test_the_task_files_alt_wins_over_the_derived_one() -> None:
    assert image_alt("Three muffins on a plate", "Muffins", "p") == "Three muffins on a plate"
    assert image_alt("", "Muffins", "a plate") == "Muffins: a plate"
