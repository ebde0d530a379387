"""Presets and "draft, then final", end to end: a real daemon, the CLI, an independent reader."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sd_parsers import ParserManager

from daemon.generation.models import LoadedModel
from gladtui.config import Config, ConfigError, load_config
from gladtui.config.presets import Preset, Settings, over_defaults
from gladtui.shapes import GenerateRequest
from gladtui.taskfile import TaskFileError, TaskRules, parse_task
from tests.apidaemon import ApiDaemon, task_yaml
from tests.daemon.generation.test_prompts import LONG
from tests.lorahelpers import write_tiny_lora

GLADTUI = Path(sys.executable).parent / "gladtui"
PRESETS = {
    # The few-step setup of LCM-LoRA, with a tiny LoRA standing in for lcm-lora-sdxl.
    "draft": {"scheduler": "lcm", "steps": 2, "guidance_scale": 1.0, "loras": {"fast": 1.0}},
    "final": {"scheduler": "DPM++ 2M Karras", "steps": 3, "guidance_scale": 6.0},
}


@pytest.fixture(scope="module")
def live(tiny: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiDaemon]:
    loras = tmp_path_factory.mktemp("loras")
    write_tiny_lora(tiny.pipeline.unet.config, loras / "fast.safetensors", seed=11)
    write_tiny_lora(tiny.pipeline.unet.config, loras / "brand-style.safetensors", seed=12)
    settings = {"generation": {"lora_dir": str(loras), "presets": PRESETS}}
    running = ApiDaemon(tiny, settings=settings).start()
    yield running
    running.cleanup()


def gladtui(d: ApiDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GLADTUI), "--config", str(d.config_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def pixels(path: str) -> np.ndarray[Any, Any]:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_draft_then_final_renders_the_chosen_seed_with_the_final_preset(live: ApiDaemon) -> None:
    prompt = LONG + ", (at dusk:1.2)"
    data = task_yaml(
        "Drafted Muffins",
        variations=2,
        prompt=prompt,
        preset="draft",
        loras={"brand-style": 0.8},
        steps=None,
    )
    task_id = live.submit(data.replace(b"steps: null\n", b""), "drafted.yaml")
    draft = live.wait_status(task_id, "review")
    assert (draft["preset"], draft["scheduler"], draft["steps"]) == ("draft", "lcm", 2)
    assert draft["guidance_scale"] == 1.0
    assert draft["loras"] == {"brand-style": 0.8, "fast": 1.0}
    # A few-step preset runs without classifier-free guidance: the task says so.
    assert draft["warnings"] == [
        "negative_prompt has no effect at guidance_scale 1 (it is used above 1)"
    ]
    chosen = draft["variations"][1]
    assert chosen["sampler"] == "LCM" and chosen["preset"] == "draft"

    result = gladtui(live, "generate", task_id, "--preset", "final", "--from-variation", "2")
    assert result.returncode == 0, result.stderr
    assert "queued variation(s) 3" in result.stdout
    done = live.wait_status(task_id, "review")
    final = done["variations"][2]
    assert final["seed"] == chosen["seed"] and final["from_variation"] == 2
    assert (final["preset"], final["scheduler"], final["sampler"]) == (
        "final",
        "dpmpp_2m_karras",
        "DPM++ 2M Karras",
    )
    assert (final["steps"], final["guidance_scale"]) == (3, 6.0)
    assert final["loras"] == {"brand-style": 0.8}  # the task's own LoRA stays; the draft's goes
    assert done["preset"] == "draft" and done["warnings"] == []  # the task itself is unchanged
    assert not np.array_equal(pixels(final["path"]), pixels(chosen["path"]))

    # An independent reader of A1111 metadata finds the whole prompt, the sampler, the LoRA.
    info = ParserManager().parse(final["path"])
    assert info is not None and info.generator.name == "AUTOMATIC1111"
    assert info.full_prompt == prompt + " <lora:brand-style:0.8>"
    (sampler,) = info.samplers
    assert sampler.name == "DPM++ 2M"
    assert sampler.parameters["scheduler"] == "Karras"
    assert (sampler.parameters["seed"], sampler.parameters["steps"]) == (str(chosen["seed"]), "3")
    draft_info = ParserManager().parse(chosen["path"])
    assert draft_info is not None and draft_info.samplers[0].name == "LCM"
    assert "<lora:fast:1>" in draft_info.full_prompt

    shown = gladtui(live, "show", task_id).stdout
    line = next(row for row in shown.splitlines() if row.startswith("    3"))
    assert "final, DPM++ 2M Karras, 3 steps, cfg 6, brand-style 0.8, from 2" in line


def test_a_preset_alone_renders_more_variations_with_it(live: ApiDaemon) -> None:
    task_id = live.submit(task_yaml("Plain Then Final", variations=1), "plain.yaml")
    live.wait_status(task_id, "review")
    answer = live.client.generate(task_id, GenerateRequest(count=2, preset="final"))
    assert "queued variation(s) 2-3" in answer["message"]
    done = live.wait_status(task_id, "review")
    first, *more = done["variations"]
    assert first["preset"] is None and first["sampler"] == "Euler"
    assert [(v["preset"], v["steps"], v["seed"]) for v in more] == [
        ("final", 3, 43),
        ("final", 3, 44),
    ]


def test_refusals_name_the_problem(live: ApiDaemon) -> None:
    task_id = live.submit(task_yaml("Refused Presets", variations=1), "refused.yaml")
    live.wait_status(task_id, "review")
    unknown = gladtui(live, "generate", task_id, "--preset", "fianl")
    assert unknown.returncode == 1
    assert "preset: unknown preset 'fianl'; the config has: draft, final" in unknown.stderr
    missing = gladtui(live, "generate", task_id, "--preset", "final", "--from-variation", "9")
    assert missing.returncode == 1 and f"task {task_id} has no variation 9" in missing.stderr
    several = gladtui(live, "generate", task_id, "--count", "2", "--from-variation", "1")
    assert several.returncode == 1 and "from_variation re-renders one variation" in several.stderr
    status, body = live.raw("POST", f"/api/tasks/{task_id}/generate", {"preset": 3})
    assert status == 422 and "preset: expected a preset name" in body["error"]["message"]
    status, body = live.raw("POST", f"/api/tasks/{task_id}/generate", {"prompt": "a (cat"})
    assert status == 422
    assert "prompt: character 3: '(' is never closed" in body["error"]["message"]
    assert live.client.task(task_id)["status"] == "review"  # nothing was queued


def test_task_files_take_the_preset_then_override_it(tmp_path: Path) -> None:
    loras = tmp_path / "loras"
    loras.mkdir()
    for name in ("fast", "brand-style", "house"):
        (loras / f"{name}.safetensors").write_bytes(b"")
    config = Config.model_validate(
        {
            "generation": {
                "lora_dir": str(loras),
                "loras": {"house": 0.3},
                "steps": 25,
                "presets": PRESETS,
            }
        }
    )
    rules = config.task_rules()
    spec = parse_task(b"title: T\nprompt: p\npreset: draft\n", file_name="t.yaml", rules=rules)
    assert (spec.preset, spec.scheduler, spec.steps, spec.guidance_scale) == (
        "draft",
        "lcm",
        2,
        1.0,
    )
    assert spec.loras == {"house": 0.3, "fast": 1.0}
    data = b"title: T\nprompt: p\npreset: draft\nsteps: 6\nloras: {fast: 0.5, brand-style: 1}\n"
    mine = parse_task(data, file_name="t.yaml", rules=rules)
    assert (mine.steps, mine.scheduler) == (6, "lcm")  # the file's own steps win
    assert mine.loras == {"house": 0.3, "fast": 0.5, "brand-style": 1.0}
    plain = parse_task(b"title: T\nprompt: p\n", file_name="t.yaml", rules=rules)
    assert (plain.preset, plain.scheduler, plain.steps) == (None, None, 25)
    with pytest.raises(
        TaskFileError, match="preset: unknown preset text 'daft'; the config has: draft, final"
    ):
        parse_task(b"title: T\nprompt: p\npreset: daft\n", file_name="t.yaml", rules=rules)


def test_presets_in_the_config_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    cases = {
        "generation: {presets: {Draft: {steps: 4}}}": "preset name 'Draft' must be lower-case",
        "generation: {presets: {draft: {stepz: 4}}}": "generation.presets.draft.stepz: unknown key",
        "generation: {presets: {draft: {steps: 999}}}": (
            "generation.presets.draft.steps is 999, above limits.max_steps 150"
        ),
        "generation: {presets: {draft: {scheduler: turbo}}}": "unknown sampler 'turbo'",
        "generation: {presets: {draft: {loras: {a/b: 1}}}}": "'a/b' is not a LoRA name",
    }
    for text, problem in cases.items():
        path.write_text(text + "\n")
        with pytest.raises(ConfigError) as refused:
            load_config(path, env={})
        assert problem in str(refused.value), text
    path.write_text(json.dumps({"generation": {"presets": PRESETS}}))
    assert load_config(path, env={}).generation.presets["final"].scheduler == "dpmpp_2m_karras"


def test_check_says_what_a_task_file_would_render_with(live: ApiDaemon, tmp_path: Path) -> None:
    task = tmp_path / "drafted.yaml"
    task.write_text(
        "title: Checked\nprompt: a (cat:1.2)\npreset: draft\nloras: {brand-style: 0.5}\n"
    )
    result = gladtui(live, "check", str(task))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"ok: {task}: task 'drafted', 3 variation(s) of 1024x1024, 2 steps, guidance 1, "
        "sampler lcm, preset draft, LoRA fast 1, LoRA brand-style 0.5: Checked"
    )


def test_a_presets_values_go_over_the_defaults_and_its_loras_add_up() -> None:
    defaults = TaskRules(
        steps=30, guidance_scale=7.0, scheduler="euler", loras={"a": 1.0, "b": 0.5}
    )
    preset = Preset(steps=4, loras={"b": 0.0, "c": 1.0})
    assert over_defaults(preset, defaults) == Settings(
        steps=4, guidance_scale=7.0, scheduler="euler", loras={"a": 1.0, "b": 0.0, "c": 1.0}
    )
    assert over_defaults(Preset(guidance_scale=0.0, scheduler="lcm"), defaults) == Settings(
        steps=30, guidance_scale=0.0, scheduler="lcm", loras={"a": 1.0, "b": 0.5}
    )
