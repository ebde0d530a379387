"""The A1111 weighting syntax, read without torch: weights, escapes, BREAK, refusals."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gladtui.promptsyntax import Fragment, PromptSyntaxError, parse_prompt
from gladtui.taskfile import TaskFileError, TaskRules, parse_task


def fragments(text: str) -> list[tuple[str, float]]:
    (chunk,) = parse_prompt(text).chunks
    return [(f.text, f.weight) for f in chunk]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a cat", [("a cat", 1.0)]),
        ("(a:1.0)", [("a", 1.0)]),
        ("(cat)", [("cat", 1.1)]),
        ("((cat))", [("cat", 1.21)]),
        ("[cat]", [("cat", 0.909091)]),
        ("(cat:1.5)", [("cat", 1.5)]),
        ("( cat : 0.5 )", [(" cat ", 0.5)]),
        ("a (red:1.3) (cat) on a [mat]", [
            ("a ", 1.0), ("red", 1.3), (" ", 1.0), ("cat", 1.1), (" on a ", 1.0),
            ("mat", 0.909091),
        ]),
        ("((cat:1.2) dog)", [("cat", 1.32), (" dog", 1.1)]),
        ("(a [b] c)", [("a ", 1.1), ("b", 1.0), (" c", 1.1)]),
        (r"a \(literal\) \[too\] back\\slash", [("a (literal) [too] back\\slash", 1.0)]),
        (r"a \n stays", [(r"a \n stays", 1.0)]),
        ("x (a:1.0)y", [("x ay", 1.0)]),  # equal weights merge, as A1111 merges them
        ("(16:9 ratio)", [("16:9 ratio", 1.1)]),  # words with a colon, as in A1111
        ("time: 10:30, clouds", [("time: 10:30, clouds", 1.0)]),
        ("", []),
    ],
)  # fmt: skip
def test_weights_as_automatic1111_reads_them(text: str, expected: list[tuple[str, float]]) -> None:
    assert fragments(text) == expected


def test_break_starts_a_new_chunk() -> None:
    parsed = parse_prompt("a castle BREAK (a moat:1.2)")
    assert parsed.chunks == ((Fragment("a castle", 1.0),), (Fragment("a moat", 1.2),))
    assert parsed.plain_text == "a castle a moat"
    assert parse_prompt("BREAKFAST").chunks == ((Fragment("BREAKFAST", 1.0),),)


@pytest.mark.parametrize(
    ("text", "position", "problem"),
    [
        ("a (cat", 3, "'(' is never closed by ')'"),
        ("a [cat", 3, "'[' is never closed by ']'"),
        ("a cat)", 6, "')' has no '(' before it"),
        ("cat]", 4, "']' has no '[' before it"),
        ("(cat]", 5, "']' closes the '(' opened at character 1"),
        ("(cat:1,5)", 5, "weight '1,5' is not a number"),
        ("(cat:1.2.3)", 5, "weight '1.2.3' is not a number"),
        ("(cat:)", 5, "':' is not followed by a weight"),
        ("(cat:-1)", 5, "weight '-1' must be 0 or more"),
        ("a [cat:dog:0.5]", 7, "prompt editing [from:to:when] is not supported"),
        ("[cat|dog]", 5, "alternation [a|b] is not supported"),
        ("a cat <lora:style:0.8>", 7, "name LoRAs in the task's loras: field"),
    ],
)
def test_malformed_syntax_is_refused_with_its_position(
    text: str, position: int, problem: str
) -> None:
    with pytest.raises(PromptSyntaxError) as refused:
        parse_prompt(text)
    assert refused.value.position == position
    assert problem in str(refused.value)
    assert str(refused.value).startswith(f"character {position}: ")


def test_a_task_file_with_bad_weights_names_the_field_and_the_place() -> None:
    data = b"title: Muffins\nprompt: blueberry (muffins:1,3) on a table\nnegative_prompt: blur)\n"
    with pytest.raises(TaskFileError) as refused:
        parse_task(data, file_name="muffins.yaml", rules=TaskRules())
    problems = refused.value.problems
    assert problems[0] == (
        "prompt: character 19: weight '1,3' is not a number: …blueberry (muffins⟨:⟩1,3) on a table…"
    )
    assert problems[1].startswith("negative_prompt: character 5: ')' has no '(' before it")


def test_checking_a_prompt_loads_no_torch() -> None:
    probe = (
        "import sys\n"
        "from gladtui.taskfile import TaskRules, parse_task\n"
        "parse_task(b'title: T\\nprompt: a (cat:1.2)\\nscheduler: euler_a\\n',"
        " file_name='t.yaml', rules=TaskRules())\n"
        "print(sorted(m for m in ('torch', 'compel', 'diffusers', 'transformers')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_read_or_refused_with_a_position_inside_it(text: str) -> None:
    try:
        parsed = parse_prompt(text)
    except PromptSyntaxError as exc:
        assert 1 <= exc.position <= len(text)
        return
    for chunk in parsed.chunks:
        assert all(f.text and f.weight >= 0 for f in chunk)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_characters="()[]\\<"), max_size=200))
def test_text_without_brackets_is_one_unweighted_fragment(text: str) -> None:
    parsed = parse_prompt(text)
    words = [f.text for chunk in parsed.chunks for f in chunk]
    assert all(f.weight == 1.0 for chunk in parsed.chunks for f in chunk)
    if "BREAK" not in text:
        assert "".join(words) == text
