"""Long and weighted prompts through the real generator, judged by the pixels they make."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from daemon.generation.images import parse_a1111_parameters, read_parameters
from daemon.generation.models import LoadedModel
from daemon.generation.prompts import cap_prompt
from gladtui.promptsyntax import parse_prompt
from gladtui.shapes import TaskStatus
from tests.daemon.generation.test_generate import Running, pixels

_ids = itertools.count()
# About 200 tokens for SDXL's CLIP tokenizer (the tiny model's spends one per byte).
LONG = (
    "a wide photograph of a rustic farmhouse kitchen at golden hour, warm light through "
    "linen curtains, a wooden table with blueberry muffins, a jug of milk, scattered flour, "
    "a cast iron pan, copper pots on the wall, herbs drying above the window, a sleeping "
    "cat on a chair, steam rising from a cup of coffee, soft shadows, shallow depth of field"
)


def image(running: Running, prompt: str, **fields: Any) -> np.ndarray[Any, Any]:
    """Pixels of a one-image task (seed 42) made from `prompt`."""
    task_id = f"p{next(_ids)}"
    running.add_task(task_id, prompt=prompt, variations=1, **fields)
    running.wait_for(task_id, TaskStatus.REVIEW, TaskStatus.FAILED)
    task = running.store.tasks.get(task_id)
    assert task is not None and task.status is TaskStatus.REVIEW, task and task.error
    (variation,) = running.store.variations.list(task_id)
    return pixels(Path(variation.path))


@pytest.fixture
def running(tmp_path: Path, tiny: LoadedModel) -> Iterator[Running]:
    generator = Running(tmp_path, tiny)
    yield generator
    generator.close()


def test_the_end_of_a_long_prompt_changes_the_image(running: Running, tiny: LoadedModel) -> None:
    tokens = len(tiny.pipeline.tokenizer(LONG + ", at dusk").input_ids)
    assert tokens > 2 * 77  # well past what one CLIP pass reads
    dusk = image(running, LONG + ", at dusk")
    dawn = image(running, LONG + ", at dawn")
    again = image(running, LONG + ", at dusk")
    assert not np.array_equal(dusk, dawn)
    assert np.array_equal(dusk, again)


def test_a_long_negative_prompt_is_read_whole_too(running: Running) -> None:
    first = image(running, "muffins", negative_prompt=LONG + ", blurry")
    second = image(running, "muffins", negative_prompt=LONG + ", grainy")
    assert not np.array_equal(first, second)


def test_a_weight_of_one_is_no_weight_and_others_change_the_image(running: Running) -> None:
    plain = image(running, "a cat on a mat")
    assert np.array_equal(image(running, "a (cat:1.0) on a mat"), plain)
    assert np.array_equal(
        image(running, "a (cat:1.1) on a mat"), image(running, "a (cat) on a mat")
    )
    up = image(running, "a (cat:1.5) on a mat")
    down = image(running, "a [cat] on a mat")
    assert not np.array_equal(up, plain)
    assert not np.array_equal(down, plain)
    assert not np.array_equal(up, down)
    literal = image(running, r"a \(cat\) on a mat")
    assert not np.array_equal(literal, plain)  # the brackets are words now, not a weight


def test_break_starts_a_new_chunk_of_the_prompt(running: Running) -> None:
    joined = image(running, "a castle, a moat")
    broken = image(running, "a castle BREAK a moat")
    assert not np.array_equal(joined, broken)


def test_a_configured_cap_cuts_at_a_word_and_says_what_it_dropped(
    tmp_path: Path, tiny: LoadedModel
) -> None:
    capped = Running(tmp_path / "capped", tiny, max_prompt_tokens=150)
    try:
        cut = image(capped, LONG)
        task = capped.store.tasks.list()[0]
    finally:
        capped.close()
    (warning,) = task.warnings
    assert warning.startswith("prompt: cut to 150 tokens (generation.max_prompt_tokens); dropped: ")
    dropped = warning.split('dropped: "', 1)[1].rstrip('"')
    assert LONG.endswith(dropped) and len(dropped) > 50
    kept = LONG[: -len(dropped)].rstrip()
    assert len(tiny.pipeline.tokenizer(kept, add_special_tokens=False).input_ids) <= 150
    # The cut prompt made exactly the image of the words it kept.
    uncapped = Running(tmp_path / "whole", tiny)
    try:
        assert np.array_equal(image(uncapped, kept), cut)
        assert not np.array_equal(image(uncapped, LONG), cut)
        assert uncapped.store.tasks.list()[0].warnings == []
    finally:
        uncapped.close()


def test_the_png_records_the_prompt_as_written(running: Running) -> None:
    prompt = LONG + ", (at dusk:1.3)"
    image(running, prompt)
    (variation,) = running.store.variations.list(running.store.tasks.list()[0].id)
    meta = parse_a1111_parameters(read_parameters(Path(variation.path)) or "")
    assert meta["prompt"] == prompt


def test_cap_prompt_keeps_weights_and_chunks() -> None:
    def count(text: str) -> int:
        return len(text.split())

    parsed = parse_prompt("one two (three four:1.5) BREAK five six")
    kept, dropped = cap_prompt(parsed, count, 3)
    assert [[(f.text, f.weight) for f in chunk] for chunk in kept.chunks] == [
        [("one two ", 1.0), ("three ", 1.5)],
        [],
    ]
    assert dropped == "four five six"
    whole, nothing = cap_prompt(parsed, count, 100)
    assert whole == parsed and nothing == ""
