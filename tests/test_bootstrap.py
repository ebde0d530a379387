"""scripts/bootstrap shows its progress (issue 28, item 5): a line a step, not minutes of silence.

The bootstrap's own `pip` function, taken from the script, runs a real pip
install of two tiny wheels built here (one requires the other) from a local
folder, no index and no network: what it prints is what a newcomer sees
while gladtui's dependencies install.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "scripts" / "bootstrap"


def make_wheel(folder: Path, name: str, requires: tuple[str, ...] = ()) -> None:
    """A minimal pure-Python wheel: a package, its metadata and its RECORD."""
    info = f"{name}-0.1.dist-info"
    needs = "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}/__init__.py": "X = 1\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n{needs}",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }

    def digest(text: str) -> str:
        raw = hashlib.sha256(text.encode()).digest()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    record = "".join(f"{path},sha256={digest(text)},{len(text)}\n" for path, text in files.items())
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{name}-0.1-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)


def bootstrap_pip(*args: str) -> subprocess.CompletedProcess[str]:
    """The `pip` function of scripts/bootstrap, as defined there, run with `args`."""
    script = BOOTSTRAP.read_text()
    start = script.index("pip() {")
    function = script[start : script.index("\n}\n", start) + 3]
    venv = Path(sys.executable).parent.parent
    program = f'set -euo pipefail\nvenv={venv}\npython={sys.executable}\n{function}\npip "$@"\n'
    return subprocess.run(
        ["bash", "-c", program, "bootstrap", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_bootstrap_says_each_package_and_the_install(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "tinyb")
    make_wheel(wheels, "tinya", requires=("tinyb",))
    target = tmp_path / "target"
    options = ["--no-index", "--find-links", str(wheels), "--target", str(target)]
    done = bootstrap_pip("install", *options, "tinya")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("bootstrap: ")]
    assert lines == [
        "bootstrap: [1] processing tinya-0.1-py3-none-any.whl",
        "bootstrap: [2] processing tinyb-0.1-py3-none-any.whl",
        "bootstrap: installing 2 package(s): tinyb, tinya",
        "bootstrap: installed 2 package(s)",
    ], done.stderr
    assert (target / "tinya" / "__init__.py").is_file()
    assert done.stdout == ""  # all of it on stderr, as the bootstrap's other lines

    failed = bootstrap_pip("install", *options, "tinyc")  # no such wheel
    assert failed.returncode != 0  # pip's status, through the pipe
    assert "No matching distribution found for tinyc" in failed.stderr, failed.stderr


def test_a_download_from_an_index_says_what_and_how_big() -> None:
    """Lines as pip prints them from an index, where a first run spends its minutes."""
    pip_said = [
        "Collecting diffusers>=0.30 (from gladtui==0.1.0)",
        "  Downloading diffusers-0.35.1-py3-none-any.whl.metadata (20 kB)",
        "Requirement already satisfied: numpy in ./.venv/lib/python3.11/site-packages",
        "Downloading diffusers-0.35.1-py3-none-any.whl (4.1 MB)",
    ]
    shown = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pipsteps")],
        input="\n".join(pip_said) + "\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert shown == [
        "bootstrap: [1] collecting diffusers>=0.30",
        "bootstrap:     downloading diffusers-0.35.1-py3-none-any.whl (4.1 MB)",
    ]
