"""Samplers by name: each runs on the real pipeline and is recorded as AUTOMATIC1111 does."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.generation.images import parse_a1111_parameters, read_parameters
from daemon.generation.models import LoadedModel
from daemon.generation.schedulers import Schedulers
from gladtui.config import Config, ConfigError, load_config
from gladtui.samplers import SAMPLERS, canonical_sampler
from gladtui.shapes import TaskStatus
from gladtui.taskfile import TaskFileError, TaskRules, parse_task
from tests.daemon.generation.test_generate import Running
from tests.paths import REPO

# What A1111 writes for each: (Sampler, Schedule type or None).
RECORDED = {
    "euler": ("Euler", None),
    "euler_karras": ("Euler", "Karras"),
    "euler_sgm_uniform": ("Euler", "SGM Uniform"),
    "euler_a": ("Euler a", None),
    "euler_a_sgm_uniform": ("Euler a", "SGM Uniform"),
    "heun": ("Heun", None),
    "heun_karras": ("Heun", "Karras"),
    "dpm2": ("DPM2", None),
    "dpm2_karras": ("DPM2", "Karras"),
    "dpm2_a": ("DPM2 a", None),
    "dpm2_a_karras": ("DPM2 a", "Karras"),
    "dpmpp_2m": ("DPM++ 2M", None),
    "dpmpp_2m_karras": ("DPM++ 2M", "Karras"),
    "dpmpp_2m_sgm_uniform": ("DPM++ 2M", "SGM Uniform"),
    "dpmpp_2m_sde": ("DPM++ 2M SDE", None),
    "dpmpp_2m_sde_karras": ("DPM++ 2M SDE", "Karras"),
    "dpmpp_sde": ("DPM++ SDE", None),
    "dpmpp_sde_karras": ("DPM++ SDE", "Karras"),
    "ddim": ("DDIM", None),
    "ddim_sgm_uniform": ("DDIM", "SGM Uniform"),
    "unipc": ("UniPC", None),
    "unipc_karras": ("UniPC", "Karras"),
    "lcm": ("LCM", None),
    "tcd": ("TCD", None),
}


def test_every_sampler_has_its_expected_record() -> None:
    assert set(RECORDED) == set(SAMPLERS)


def test_every_sampler_runs_and_is_recorded(tmp_path: Path, tiny: LoadedModel) -> None:
    running = Running(tmp_path, tiny, batch_size=1)
    try:
        for name in SAMPLERS:
            running.add_task(name.replace("_", "-"), scheduler=name, variations=1, steps=2)
        for name, (label, schedule) in RECORDED.items():
            task_id = name.replace("_", "-")
            running.wait_for(task_id, TaskStatus.REVIEW, TaskStatus.FAILED)
            task = running.store.tasks.get(task_id)
            assert task is not None and task.status is TaskStatus.REVIEW, (name, task.error)
            (variation,) = running.store.variations.list(task_id)
            meta = parse_a1111_parameters(read_parameters(Path(variation.path)) or "")
            assert meta["Sampler"] == label, name
            assert meta.get("Schedule type") == schedule, name
            assert variation.scheduler == name
            assert variation.sampler == f"{label} {schedule}" if schedule else label
    finally:
        running.close()


def test_the_scheduler_built_has_the_options_of_its_name(tiny: LoadedModel) -> None:
    schedulers = Schedulers(tiny.conditioner.schedulers.get(None))
    for name, entry in SAMPLERS.items():
        built = schedulers.get(name)
        assert type(built).__name__ == entry.scheduler, name
        for option, value in entry.options:
            assert built.config[option] == value, (name, option)
        # The model's own settings carry over (SDXL's beta schedule).
        assert built.config["beta_schedule"] == "scaled_linear", name
    assert schedulers.get("dpmpp_2m_sde").config["algorithm_type"] == "sde-dpmsolver++"
    assert schedulers.get("euler_sgm_uniform").config["timestep_spacing"] == "trailing"
    assert schedulers.get("dpmpp_2m") is schedulers.get("dpmpp_2m")  # built once


def test_without_a_name_the_model_keeps_its_own_and_records_it(
    tmp_path: Path, tiny: LoadedModel
) -> None:
    running = Running(tmp_path, tiny)
    try:
        running.add_task("own", scheduler="dpmpp_2m_karras", variations=1)
        running.wait_for("own", TaskStatus.REVIEW)
        running.add_task("default", variations=1)  # after another sampler ran
        running.wait_for("default", TaskStatus.REVIEW)
        (variation,) = running.store.variations.list("default")
    finally:
        running.close()
    meta = parse_a1111_parameters(read_parameters(Path(variation.path)) or "")
    assert (meta["Sampler"], "Schedule type" in meta) == ("Euler", False)
    assert variation.scheduler is None and variation.sampler == "Euler"


def test_names_as_a1111_writes_them_are_accepted() -> None:
    assert canonical_sampler("DPM++ 2M Karras") == "dpmpp_2m_karras"
    assert canonical_sampler("Euler a") == "euler_a"
    assert canonical_sampler("DPM++ 2M SDE Karras") == "dpmpp_2m_sde_karras"
    spec = parse_task(
        b"title: T\nprompt: p\nscheduler: DPM++ 2M Karras\n", file_name="t.yaml", rules=TaskRules()
    )
    assert spec.scheduler == "dpmpp_2m_karras"


def test_an_unknown_sampler_is_refused_with_the_list(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError) as refused:
        parse_task(
            b"title: T\nprompt: p\nscheduler: dpmpp_2m_karas\n",
            file_name="t.yaml",
            rules=TaskRules(),
        )
    (problem,) = refused.value.problems
    assert problem.startswith(
        "scheduler: unknown sampler 'dpmpp_2m_karas' (did you mean 'dpmpp_2m_karras'?); known: "
    )
    assert problem.endswith(", ".join(SAMPLERS))
    config = tmp_path / "config.yaml"
    config.write_text("generation:\n  scheduler: k_euler\n")
    with pytest.raises(ConfigError) as bad:
        load_config(config, env={})
    assert "generation.scheduler: unknown sampler 'k_euler'" in str(bad.value)
    assert ", ".join(SAMPLERS) in str(bad.value)


def test_the_config_default_sampler_applies_to_task_files(tmp_path: Path) -> None:
    config = Config.model_validate({"generation": {"scheduler": "Euler a"}})
    assert config.generation.scheduler == "euler_a"
    rules = config.task_rules()
    assert (
        parse_task(b"title: T\nprompt: p\n", file_name="t.yaml", rules=rules).scheduler == "euler_a"
    )
    spec = parse_task(b"title: T\nprompt: p\nscheduler: ddim\n", file_name="t.yaml", rules=rules)
    assert spec.scheduler == "ddim"


def test_sampler_is_another_name_for_scheduler_and_both_at_once_is_refused(
    tmp_path: Path,
) -> None:
    """Issue 28: `sampler:` (the docs' word, A1111's `Sampler:`) was an unknown field."""
    spec = parse_task(
        b"title: T\nprompt: p\nsampler: DPM++ 2M Karras\n", file_name="t.yaml", rules=TaskRules()
    )
    assert spec.scheduler == "dpmpp_2m_karras"
    with pytest.raises(TaskFileError) as refused:
        parse_task(
            b"title: T\nprompt: p\nsampler: k_euler\n", file_name="t.yaml", rules=TaskRules()
        )
    assert refused.value.problems[0].startswith("sampler: unknown sampler 'k_euler'")
    with pytest.raises(TaskFileError) as both:
        parse_task(
            b"title: T\nprompt: p\nsampler: euler\nscheduler: ddim\n",
            file_name="t.yaml",
            rules=TaskRules(),
        )
    assert both.value.problems == [
        "sampler and scheduler are two names of one setting: keep one of them"
    ]
    with pytest.raises(TaskFileError) as capital:  # A1111's spelling of the key: a hint
        parse_task(b"title: T\nprompt: p\nSampler: euler\n", file_name="t.yaml", rules=TaskRules())
    assert capital.value.problems == ["unknown field 'Sampler' (did you mean 'sampler'?)"]

    config = tmp_path / "config.yaml"
    config.write_text(
        "generation:\n  sampler: Euler a\n  presets:\n    final:\n      sampler: DPM++ 2M Karras\n"
    )
    loaded = load_config(config, env={})
    assert loaded.generation.scheduler == "euler_a"
    assert loaded.generation.presets["final"].scheduler == "dpmpp_2m_karras"
    config.write_text("generation:\n  presets:\n    final:\n      sampler: a\n      scheduler: b\n")
    with pytest.raises(ConfigError) as doubled:
        load_config(config, env={})
    assert "generation.presets.final" in str(doubled.value), doubled.value
    assert "sampler and scheduler are two names of one setting" in str(doubled.value)


def test_the_docs_table_lists_every_sampler_as_recorded() -> None:
    page = (REPO / "docs" / "generation.md").read_text()
    section = page[page.index("### Samplers") : page.index("### LoRAs")]
    rows = {
        line.split("|")[1].strip().strip("`"): line.split("|")[2].strip()
        for line in section.splitlines()
        if line.startswith("| `")
    }
    assert set(rows) == set(SAMPLERS)
    for name, (label, schedule) in RECORDED.items():
        expected = f"`Sampler: {label}`" + (f", `Schedule type: {schedule}`" if schedule else "")
        assert rows[name] == expected, name
