"""The import direction (docs/architecture.md), checked in fresh interpreters.

Importing `gladtui` must load neither Textual nor torch (the CLI starts fast),
importing `daemon` must load no Textual (the service has no UI) and no client
of a service it is not configured for (boto3, cloudinary, psycopg), and
`daemon` must be this project's package, not the unrelated python-daemon.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

HEAVY = [
    "textual",
    "textual_image",
    "torch",
    "diffusers",
    "transformers",
    "boto3",
    "cloudinary",
    "psycopg",
    "ray",
]


def loaded_after(statement: str) -> dict[str, bool]:
    """Run `statement` in a new interpreter; report which heavy modules it loaded."""
    probe = (
        f"import sys\n{statement}\nimport json\n"
        f"print(json.dumps({{name: name in sys.modules for name in {HEAVY!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    loaded: dict[str, bool] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize(
    "module",
    ["gladtui", "gladtui.cli.main", "gladtui.config", "gladtui.taskfile", "gladtui.shapes"],
)
def test_gladtui_modules_load_neither_textual_nor_torch(module: str) -> None:
    loaded = loaded_after(f"import {module}")
    assert not any(loaded.values()), f"importing {module} loaded {loaded}"


@pytest.mark.parametrize("module", ["daemon", "daemon.store"])
def test_daemon_modules_load_no_textual(module: str) -> None:
    loaded = loaded_after(f"import {module}")
    assert not loaded["textual"] and not loaded["textual_image"], loaded


def test_the_daemon_loads_a_cdn_sdk_only_when_configured() -> None:
    loaded = loaded_after("import daemon.service.process")
    assert not loaded["boto3"] and not loaded["cloudinary"], loaded


def test_ray_loads_only_when_it_is_the_backend() -> None:
    build = (
        "import daemon.service.process\n"
        "from gladtui.config import Config\n"
        "from daemon.generation.generator import make_backend\n"
        "make_backend(Config(), None)"
    )
    assert not loaded_after(build)["ray"]
    # Configured, it is imported when the backend starts (in the generator's thread).
    ray = build.replace("Config()", "Config.model_validate({'generation': {'backend': 'ray'}})")
    assert not loaded_after(ray)["ray"]
    assert loaded_after("import daemon.generation.ray.replica")["ray"]


@pytest.mark.parametrize("to", ["local", "markdown", "webhook"])
def test_psycopg_loads_only_when_posts_go_to_postgres(to: str) -> None:
    build = (
        "import daemon.service.process, daemon.service.logsetup\n"
        "from gladtui.config import Config\n"
        "from daemon.publishing.destinations.factory import make_destination\n"
        "def built(to):\n"
        "    posts = {'to': to, 'markdown': {'dir': '/tmp'}, 'webhook': {'url': 'http://x/'}}\n"
        "    return make_destination(Config.model_validate({'publishing': {'posts': posts}}))\n"
        f"built({to!r})\n"
    )
    assert not loaded_after(build)["psycopg"]
    assert loaded_after(build + "built('postgres')\n")["psycopg"]  # the import is lazy, not gone


def test_cli_help_loads_nothing_heavy() -> None:
    loaded = loaded_after(
        "import contextlib, io, gladtui.cli.main as c\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    c.main(['--help'])\n"
    )
    assert not any(loaded.values()), loaded


def test_daemon_is_this_projects_package() -> None:
    import daemon

    assert daemon.__file__ is not None
    assert Path(daemon.__file__).resolve().parent == ROOT / "daemon"
    # python-daemon exposes DaemonContext; ours must not be confused with it.
    assert not hasattr(daemon, "DaemonContext")
