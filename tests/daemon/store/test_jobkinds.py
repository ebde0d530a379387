"""Job payloads: what the builders store is what the readers give back, in the stored shape."""

from __future__ import annotations

import json

from daemon.store.jobkinds import (
    Generation,
    Overrides,
    PresetSettings,
    generation_of,
    generation_payload,
    round_of,
    round_starts,
)

DRAFT = PresetSettings(
    preset="final", steps=30, guidance_scale=6.5, scheduler=None, loras={"house": 0.8}
)


def stored(payload: dict[str, object]) -> dict[str, object]:
    """As the store gives it back: through JSON."""
    loaded: dict[str, object] = json.loads(json.dumps(payload))
    return loaded


def test_a_plain_generation_keeps_its_stored_shape() -> None:
    payload = generation_payload(3, 2, "lemon muffins")
    assert payload == {"first_index": 3, "count": 2, "prompt": "lemon muffins"}
    assert generation_of(stored(payload)) == Generation(3, 2, "lemon muffins", Overrides())
    assert list(generation_of(payload).indexes) == [3, 4]


def test_a_rerender_with_a_preset_round_trips() -> None:
    overrides = Overrides(DRAFT, seed=1234, from_variation=2)
    payload = generation_payload(5, 1, None, overrides)
    assert payload == {
        "first_index": 5,
        "count": 1,
        "settings": {
            "preset": "final",
            "steps": 30,
            "guidance_scale": 6.5,
            "scheduler": None,
            "loras": {"house": 0.8},
        },
        "seed": 1234,
        "from_variation": 2,
    }
    assert generation_of(stored(payload)) == Generation(5, 1, None, overrides)


def test_an_empty_prompt_or_settings_mean_the_tasks_own() -> None:
    order = generation_of({"first_index": 1, "count": 4, "prompt": "", "settings": {}})
    assert order.prompt is None and order.overrides == Overrides()


def test_each_generate_job_starts_a_round_and_a_job_that_made_nothing_does_not() -> None:
    jobs = [
        generation_payload(1, 4),  # the task file's
        generation_payload(5, 4, "a new prompt"),  # a rejection with a new prompt
        generation_payload(9, 2),  # cancelled before it made anything:
        generation_payload(9, 3),  # the next `g` starts at the same index
    ]
    starts = round_starts(jobs)
    assert starts == [1, 5, 9]
    assert [round_of(n, starts) for n in (1, 4, 5, 8, 9, 11)] == [1, 1, 2, 2, 3, 3]
