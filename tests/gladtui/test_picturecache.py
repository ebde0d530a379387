"""The reviewer's picture cache and the choice of picture protocol: real files, real env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gladtui.picturecache import DiskCache, default_folder, picture_key
from gladtui.pictureprotocol import ProtocolError, choose
from tests.apidaemon import ApiDaemon

GLADTUI = Path(sys.executable).parent / "gladtui"


def test_a_put_is_got_back_and_the_folder_is_private(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "pictures")
    key = picture_key("t1", 2, "/p/t1-2.png", 320)
    assert cache.get(key) is None
    cache.put(key, b"png bytes")
    assert cache.get(key) == b"png bytes"
    assert (tmp_path / "pictures").stat().st_mode & 0o777 == 0o700
    assert [p.name for p in (tmp_path / "pictures").iterdir()] == [key]  # no temp file left


def test_files_are_0600_and_an_open_folder_is_closed_whatever_the_umask(tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir(mode=0o755)  # as an older version left it
    folder.chmod(0o755)
    old = os.umask(0)
    try:
        DiskCache(folder).put("a.png", b"png bytes")
    finally:
        os.umask(old)
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / "a.png").stat().st_mode & 0o777 == 0o600


def test_uses_in_one_clock_tick_still_order_the_pruning(tmp_path: Path) -> None:
    """Each use gets a later mtime than the last, so the LRU order is exact."""
    cache = DiskCache(tmp_path, max_bytes=10_000)
    for name in ("a.png", "b.png", "c.png"):
        cache.put(name, b"x" * 3000)
    cache.get("a.png")  # now b is the least recently used
    cache.put("d.png", b"x" * 3000)  # 12,000 bytes: pruned down to 8,000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "d.png"]


def test_keys_differ_by_task_variation_file_and_width() -> None:
    keys = {
        picture_key("t1", 1, "/p/a.png", 320),
        picture_key("t2", 1, "/p/a.png", 320),
        picture_key("t1", 2, "/p/a.png", 320),
        picture_key("t1", 1, "/p/b.png", 320),
        picture_key("t1", 1, "/p/a.png", 0),
    }
    assert len(keys) == 5


def test_past_its_bound_the_least_recently_used_go_first(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1000)
    names = [picture_key("t", i, f"/p/{i}.png", 320) for i in range(5)]
    for age, name in enumerate(names[:4]):
        cache.put(name, b"x" * 200)
        os.utime(tmp_path / name, ns=(age * 10**9, age * 10**9))  # 0 oldest ... 3 newest
    assert cache.get(names[0]) == b"x" * 200  # used now: the newest
    cache.put(names[4], b"y" * 300)  # 1,100 bytes: prune to at most 800
    kept = {p.name for p in tmp_path.iterdir()}
    assert kept == {names[0], names[3], names[4]}
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 800


def test_a_cache_that_cannot_be_written_is_only_slower(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = DiskCache(blocker / "pictures")
    cache.put("k.png", b"data")  # no exception
    assert cache.get("k.png") is None


def test_the_cache_lives_under_xdg_cache_home(tmp_path: Path) -> None:
    code = "from gladtui.picturecache import default_folder; print(default_folder())"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(tmp_path / "gladtui" / "pictures")
    assert default_folder().name == "pictures"


@pytest.mark.parametrize(
    ("setting", "env", "protocol", "why"),
    [
        ("auto", {"GLADTUI_PICTURES": "sixel"}, "sixel", "forced by $GLADTUI_PICTURES=sixel"),
        ("kitty", {"GLADTUI_PICTURES": "iterm2"}, "iterm2", "forced by $GLADTUI_PICTURES"),
        ("kitty", {}, "kitty", "forced by tui.pictures: kitty"),
        ("halfblocks", {"GLADTUI_PICTURES": "auto"}, "halfblocks", "forced by tui.pictures"),
    ],
)
def test_the_environment_wins_over_the_config(
    setting: str, env: dict[str, str], protocol: str, why: str
) -> None:
    choice = choose(setting, env)
    assert choice.protocol == protocol and why in choice.why


def test_an_unknown_protocol_names_the_known_ones() -> None:
    with pytest.raises(
        ProtocolError, match=r"\$GLADTUI_PICTURES: unknown picture protocol 'sixels'"
    ):
        choose("auto", {"GLADTUI_PICTURES": "sixels"})
    with pytest.raises(ProtocolError, match="known: auto, kitty, sixel, iterm2, halfblocks"):
        choose("auto", {"GLADTUI_PICTURES": "png"})


def test_status_says_how_this_terminal_would_draw() -> None:
    d = ApiDaemon(None).start()
    try:

        def status(**env: str) -> subprocess.CompletedProcess[str]:
            command = [str(GLADTUI), "--config", str(d.config_file), "status"]
            environ = {**os.environ, **env}
            return subprocess.run(command, env=environ, capture_output=True, text=True)

        forced = status(GLADTUI_PICTURES="sixel")
        assert forced.returncode == 0, forced.stderr
        assert "pictures: sixel (real pixels): forced by $GLADTUI_PICTURES=sixel" in forced.stdout
        piped = status(GLADTUI_PICTURES="")  # stdout is a pipe here
        assert (
            "pictures: coloured half blocks (two pixels per cell): not a terminal" in piped.stdout
        )
        assert "browser:  `gladtui web` reviews in a browser tab" in piped.stdout
        assert "gladtui web" not in forced.stdout  # real pixels here: nothing to suggest
        bogus = status(GLADTUI_PICTURES="bogus")
        assert bogus.returncode == 1
        assert "unknown picture protocol 'bogus'" in bogus.stderr
    finally:
        d.cleanup()
