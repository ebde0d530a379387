"""The daemon's folders: made at start, proven writable, or the daemon refuses to start.

Under systemd a folder outside the unit's ReadWritePaths= is read-only; the
daemon must say so at start, naming the folder, instead of failing every task
later (found by the system test under a real systemd, scripts/system-test).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.service.folders import FolderError, prepare_folders
from gladtui.config import Config
from gladtui.folders import written_folders
from gladtui.systemd.install import writable_paths
from tests.apidaemon import short_dir
from tests.privileges import run_unprivileged

GLADTUI = Path(sys.executable).parent / "gladtui"
AS_ROOT = os.geteuid() == 0
FOLDER_KEYS = ("drop_dir", "preview_dir", "state_dir", "cache_dir")


def config_in(root: Path, **extra: object) -> Config:
    folders = {key: str(root / key.removesuffix("_dir")) for key in FOLDER_KEYS}
    return Config.model_validate({**folders, **extra})


def test_missing_folders_are_made_and_the_check_leaves_nothing_behind(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    prepare_folders(config)
    for key, folder in written_folders(config).items():
        # The publisher makes its folder on the first upload, and retries its faults.
        assert folder.is_dir() == (key != "publishing.local.dir")
    assert [path for path in tmp_path.rglob("*") if not path.is_dir()] == []


def test_the_service_unit_opens_exactly_the_folders_the_daemon_writes(tmp_path: Path) -> None:
    config = config_in(tmp_path, publishing={"local": {"dir": str(tmp_path / "cdn")}})
    assert writable_paths(config) == list(written_folders(config).values())
    assert tmp_path / "cdn" in writable_paths(config)
    elsewhere = config_in(tmp_path, publishing={"publisher": "cloudinary"})
    assert "publishing.local.dir" not in written_folders(elsewhere)


def test_a_folder_the_daemon_may_not_write_is_named() -> None:
    root = short_dir()  # reachable by nobody, unlike pytest's tmp_path
    try:
        config = config_in(root)
        prepare_folders(config)
        for key in FOLDER_KEYS:
            getattr(config, key).chmod(0o777)
        config.preview_dir.chmod(0o555)  # the one that nobody may not write

        def check() -> str:
            try:
                prepare_folders(config)
            except FolderError as exc:
                return str(exc)
            return "no error"

        message = run_unprivileged(check)
    finally:
        shutil.rmtree(root)
    assert message == f"preview_dir {config.preview_dir} is not writable: Permission denied"


@pytest.mark.skipif(not AS_ROOT, reason="needs root to mount a read-only folder")
def test_a_read_only_folder_is_named_with_what_to_do_under_systemd(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    prepare_folders(config)
    script = (
        "from daemon.service.folders import FolderError, prepare_folders\n"
        "from gladtui.config import load_config\n"
        "from pathlib import Path\n"
        "import sys\n"
        "try:\n"
        "    prepare_folders(load_config(Path(sys.argv[1])))\n"
        "except FolderError as exc:\n"
        "    print(exc)\n"
    )
    config_file = tmp_path / "config.yaml"
    config_file.write_text("".join(f"{key}: {getattr(config, key)}\n" for key in FOLDER_KEYS))
    # A private mount namespace: the read-only bind mount vanishes with the child.
    folder = str(config.preview_dir)
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount --bind -o ro "$1" "$1" && exec "$2" -c "$3" "$4"', "sh",
         folder, sys.executable, script, str(config_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"preview_dir {folder} is not writable: Read-only file system" in result.stdout
    assert "run `gladtui service install --system` again" in result.stdout


def test_the_daemon_refuses_to_start_and_never_answers(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = tmp_path / "config.yaml"
    socket = tmp_path / "d.sock"
    config.write_text(
        f"drop_dir: {tmp_path / 'drop'}\nstate_dir: {tmp_path / 'state'}\n"
        f"preview_dir: {blocker / 'previews'}\ncache_dir: {tmp_path / 'cache'}\n"
        f"socket: {socket}\n"
    )
    result = subprocess.run(
        [str(GLADTUI), "--config", str(config), "daemon"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"cannot start: preview_dir {blocker / 'previews'} is not writable" in result.stderr
    assert not socket.exists()
