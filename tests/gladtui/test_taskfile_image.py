"""Task files' `alt:`, `caption:` and `focus:`: read, limited and refused in words."""

from __future__ import annotations

import pytest
import yaml

from gladtui.taskfile import TaskFileError, TaskRules, TaskSpec, parse_task


def parse(**fields: object) -> TaskSpec:
    data = yaml.safe_dump({"title": "Muffins", "prompt": "muffins", **fields}).encode()
    return parse_task(data, file_name="t.yaml", rules=TaskRules())


def problems(**fields: object) -> str:
    with pytest.raises(TaskFileError) as refused:
        parse(**fields)
    return str(refused.value)


def test_alt_caption_and_focus_are_read() -> None:
    spec = parse(alt=" Three muffins on a plate ", caption="Fresh from the oven", focus="0.25,0.7")
    assert (spec.alt, spec.caption, spec.focus) == (
        "Three muffins on a plate",
        "Fresh from the oven",
        (0.25, 0.7),
    )
    assert parse(focus=[1, 0]).focus == (1.0, 0.0)
    assert (parse().alt, parse().caption, parse().focus) == ("", "", None)


def test_invisible_alt_or_caption_is_refused_like_a_blank_title() -> None:
    assert problems(alt="\u200b\u200b") == (
        "t.yaml: alt: must not be blank: it holds only invisible characters (U+200B ZERO WIDTH "
        "SPACE and the like draw nothing); leave the line out if there is none"
    )
    assert "caption: must not be blank" in problems(caption="   ")


def test_alt_and_caption_have_limits_and_stay_on_one_line() -> None:
    assert "alt: must be at most 500 characters, got 501" in problems(alt="a" * 501)
    assert "caption: must be at most 1,000 characters" in problems(caption="c" * 1001)
    assert "alt: contains control character U+000A" in problems(alt="two\nlines")
    assert "caption: contains control character U+202E" in problems(caption="evil\u202etxt")


@pytest.mark.parametrize("focus", ["0.5", "1.2,0.5", "x,y", [0.5, 0.5, 0.5], True, "nan,0.5"])
def test_a_focus_that_is_not_two_fractions_is_refused(focus: object) -> None:
    message = problems(focus=focus)
    assert "focus: " in message and ("fractions" in message or "from 0 to 1" in message)
