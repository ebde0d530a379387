"""The `gladtui` command as a user runs it: the installed entry point, real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gladtui import __version__
from tests.paths import REPO

ROOT = REPO
GLADTUI = Path(sys.executable).parent / "gladtui"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("GLADTUI_CONFIG", None) if env is None else None
    return subprocess.run(
        [str(GLADTUI), *args], capture_output=True, text=True, env=full_env, timeout=60
    )


def test_help_lists_every_command_of_the_design() -> None:
    result = run("--help")
    assert result.returncode == 0
    built = ["check", "config", "submit", "daemon", "tasks", "show", "generate", "approve"]
    built += ["reject", "cancel", "posts", "status", "tui", "demo", "service"]
    for command in built:
        assert command in result.stdout
    assert "--config" in result.stdout


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"gladtui {__version__}"


def test_service_needs_an_action() -> None:
    result = run("service")
    assert result.returncode == 2
    assert "install" in result.stderr and "uninstall" in result.stderr


@pytest.mark.parametrize("args", [[], ["tui"]])
def test_the_tui_without_a_terminal_says_so(args: list[str], tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("drop_dir: drop\n")
    result = run("--config", str(config), *args)
    assert result.returncode == 2
    assert "needs a terminal" in result.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = run("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_check_accepts_the_examples() -> None:
    examples = sorted(str(p) for p in (ROOT / "examples").glob("*.yaml"))
    result = run("check", *examples)
    assert result.returncode == 0, result.stderr
    assert "task 'muffins-001'" in result.stdout
    assert "Making Delicious Muffins" in result.stdout
    assert result.stdout.count("ok: ") == len(examples)


def test_check_refuses_a_bad_file_and_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: Muffins\nstepz: 3\n")
    good = ROOT / "examples" / "muffins.yaml"
    result = run("check", str(good), str(bad))
    assert result.returncode == 1
    assert "ok: " in result.stdout  # the good file is still reported
    assert "bad.yaml" in result.stderr
    assert "prompt" in result.stderr and "stepz" in result.stderr


def test_check_refuses_an_invisible_title(tmp_path: Path) -> None:
    task = tmp_path / "invisible.yaml"
    task.write_text('title: "\\ufeff"\nprompt: muffins\n')
    result = run("check", str(task))
    assert result.returncode == 1 and result.stdout == ""
    assert "invisible.yaml: title: must not be blank: it holds only invisible" in result.stderr


def test_check_uses_the_configs_limits(tmp_path: Path) -> None:
    task = tmp_path / "wide.yaml"
    task.write_text("title: Wide\nprompt: a panorama\nwidth: 3072\n")
    assert run("check", str(task)).returncode == 1
    config = tmp_path / "config.yaml"
    config.write_text("limits:\n  max_width: 4096\n")
    assert run("--config", str(config), "check", str(task)).returncode == 0
    assert run("check", "--config", str(config), str(task)).returncode == 0


def test_bad_config_is_refused_with_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("generation:\n  stepz: 3\n")
    result = run("config", env={"GLADTUI_CONFIG": str(config)})
    assert result.returncode == 1
    assert f"{config}: generation.stepz: unknown key" in result.stderr


def test_config_prints_the_effective_settings_without_secrets(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("drop_dir: ./incoming\n")
    env = {"GLADTUI_CONFIG": str(config), "CLOUDINARY_URL": "cloudinary://1:s3cr3tvalue@c"}
    result = run("config", env=env)
    assert result.returncode == 0, result.stderr
    assert f"drop_dir: {tmp_path / 'incoming'}" in result.stdout
    assert "s3cr3tvalue" not in result.stdout
    assert "url: '**********'" in result.stdout


def test_submit_places_valid_files_and_refuses_invalid_ones(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    config = tmp_path / "config.yaml"
    config.write_text(f"drop_dir: {drop}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: no prompt here\n")
    good = ROOT / "examples" / "muffins.yaml"
    result = run("submit", "--config", str(config), str(good), str(bad))
    assert result.returncode == 1
    assert f"submitted: {good} -> {drop / 'muffins.yaml'} (task 'muffins-001')" in result.stdout
    assert "refused: bad.yaml: prompt: required" in result.stderr
    assert sorted(p.name for p in drop.iterdir()) == ["muffins.yaml"]
    assert (drop / "muffins.yaml").read_bytes() == good.read_bytes()


def test_daemon_that_cannot_create_its_folders_says_why_and_exits_1(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"drop_dir: {blocker / 'drop'}\nstate_dir: {tmp_path / 'state'}\n"
        f"preview_dir: {tmp_path / 'previews'}\ncache_dir: {tmp_path / 'cache'}\n"
        f"socket: {tmp_path / 'd.sock'}\n"
    )
    result = run("daemon", "--config", str(config))
    assert result.returncode == 1
    assert "cannot start" in result.stderr and str(blocker / "drop") in result.stderr


def test_a_second_daemon_on_the_same_database_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "drop_dir: drop\nstate_dir: state\npreview_dir: previews\ncache_dir: cache\n"
        "socket: d.sock\ngeneration:\n  model: builtin:tiny-sdxl\n"
    )
    first = subprocess.Popen(
        [str(GLADTUI), "--config", str(config), "daemon"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stderr is not None
        for line in first.stderr:  # wait until it owns the database
            if "watching" in line:
                break
        second = run("daemon", "--config", str(config))
        assert second.returncode == 1
        said = second.stderr
        assert (
            "a gladtui daemon is already running for this state folder "
            f"(pid {first.pid}, socket {tmp_path / 'd.sock'}); stop it first" in said
        )
        assert ".wal" not in said  # DuckDB's lock was never reached
    finally:
        first.terminate()
        first.wait(timeout=60)
