"""gladtui/atomicfiles.py: whole files or none, and names taken without replacing; real files."""

from __future__ import annotations

import itertools
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from gladtui.atomicfiles import (
    fitted_name,
    free_names,
    is_temp_name,
    link_to_free_name,
    move_to_free_name,
    remove_stray_temp_files,
    rename_no_replace,
    replace_file,
    temp_name_for,
    write_atomically,
    write_to_free_name,
)


def listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.fixture
def umask_077() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


class DiskFull(OSError):
    pass


def half_then_fail(stream: BinaryIO) -> None:
    """Write part of a file, then fail as a full disk would."""
    stream.write(b"half of it")
    stream.flush()
    raise DiskFull("No space left on device")


# --- names -------------------------------------------------------------------------------------


def test_free_names_are_the_name_then_numbered_before_the_suffix(tmp_path: Path) -> None:
    names = free_names(tmp_path, "task.yaml")
    assert [next(names).name for _ in range(4)] == [
        "task.yaml",
        "task-2.yaml",
        "task-3.yaml",
        "task-4.yaml",
    ]
    assert next(free_names(tmp_path, "README")).name == "README"
    assert [p.name for p in free_names(tmp_path, "a.b.yml")][1] == "a.b-2.yml"


@pytest.mark.parametrize("char", ["a", "é", "€", "🧁"])
@pytest.mark.parametrize("reserve", [0, 10])
def test_free_names_fit_255_bytes_cut_between_characters(
    tmp_path: Path, char: str, reserve: int
) -> None:
    name = char * (250 // len(char.encode())) + ".yaml"
    names = [
        path.name for path in itertools.islice(free_names(tmp_path, name, reserve=reserve), 12)
    ]
    for n, taken in enumerate(names, start=1):
        encoded = taken.encode("utf-8")  # strict: a cut inside a character would not encode
        assert len(encoded) <= 255 - reserve
        assert len(encoded) > 255 - reserve - len(char.encode())  # no more cut than needed
        assert taken.endswith(".yaml" if n == 1 else f"-{n}.yaml")
        assert set(taken.removesuffix(".yaml").removesuffix(f"-{n}")) == {char}
    # The order and the suffixes are those of short names.
    assert len(set(names)) == len(names)


def test_a_name_that_fits_is_left_alone_and_a_huge_extension_is_cut_with_it(
    tmp_path: Path,
) -> None:
    assert next(free_names(tmp_path, "x" * 250 + ".yaml")).name == "x" * 250 + ".yaml"
    assert next(free_names(tmp_path, "x" * 245 + ".yaml", reserve=10)).name == "x" * 240 + ".yaml"
    odd = "a." + "b" * 252
    second = [path.name for path in free_names(tmp_path, odd)][1]
    assert second == odd[:253] + "-2"
    assert fitted_name("cake.yaml", 255, tail="-2") == "cake-2.yaml"


def test_a_surrogate_escaped_byte_counts_as_the_one_byte_it_is(tmp_path: Path) -> None:
    name = os.fsdecode(b"\xe9" * 250 + b".yaml")  # a name that is not UTF-8, as listed
    [first, second] = [path.name for path in itertools.islice(free_names(tmp_path, name), 2)]
    assert first == name and len(os.fsencode(second)) == 255
    (tmp_path / second).write_bytes(b"made")  # the filesystem takes it


def test_files_under_the_longest_names_are_written_and_replaced(tmp_path: Path) -> None:
    longest = "r" * 251 + ".txt"
    replace_file(tmp_path / longest, b"first\n")
    replace_file(tmp_path / longest, b"second\n")
    other = "r" * 250 + "s.txt"  # the same start: its temp name must differ
    replace_file(tmp_path / other, b"other\n")
    assert listing(tmp_path) == sorted([longest, other])
    assert (tmp_path / longest).read_bytes() == b"second\n"
    placed = [write_to_free_name(tmp_path, "w" * 250 + ".yaml", b"%d" % n) for n in range(3)]
    assert [len(path.name.encode()) for path in placed] == [255, 255, 255]
    assert [path.name[-7:] for path in placed] == ["ww.yaml", "-2.yaml", "-3.yaml"]
    assert [path.read_bytes() for path in placed] == [b"0", b"1", b"2"]


def test_a_long_refusals_temp_file_left_by_a_kill_is_taken_over(tmp_path: Path) -> None:
    reason = tmp_path / ("r" * 240 + ".yaml.error.txt")  # 255 bytes
    with pytest.raises(DiskFull):
        replace_file(reason, half_then_fail)
    assert listing(tmp_path) == []  # the temp file went with the failure
    replace_file(reason, b"the reason\n")
    assert listing(tmp_path) == [reason.name]


def test_temp_names_are_hidden_unique_and_recognised() -> None:
    first, second = temp_name_for("a.png"), temp_name_for("a.png")
    assert first != second
    assert first.startswith(".a.png.gladtui-") and first.endswith(".tmp")
    assert is_temp_name(first) and is_temp_name(second)
    long_name = "x" * 250 + ".png"
    assert len(temp_name_for(long_name).encode()) <= 255
    assert is_temp_name(temp_name_for(long_name))


# --- writing a new file under the first free name ------------------------------------------


def test_the_first_free_name_after_x_and_x_2(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_bytes(b"first")
    (tmp_path / "x-2.yaml").write_bytes(b"second")
    placed = write_to_free_name(tmp_path, "x.yaml", b"third")
    assert placed == tmp_path / "x-3.yaml"
    assert placed.read_bytes() == b"third"
    assert (tmp_path / "x.yaml").read_bytes() == b"first"
    assert (tmp_path / "x-2.yaml").read_bytes() == b"second"
    assert listing(tmp_path) == ["x-2.yaml", "x-3.yaml", "x.yaml"]  # no temp file left


def test_a_new_file_takes_a_free_name_past_a_dangling_symlink(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").symlink_to(tmp_path / "nowhere")
    assert write_to_free_name(tmp_path, "x.yaml", b"data") == tmp_path / "x-2.yaml"
    assert not (tmp_path / "nowhere").exists()


def test_a_new_file_gets_the_mode_asked_less_the_umask(tmp_path: Path, umask_077: None) -> None:
    placed = write_to_free_name(tmp_path, "x.yaml", b"data", mode=0o644)
    assert stat.S_IMODE(placed.stat().st_mode) == 0o600


def test_racing_writers_of_one_name_each_get_their_own(tmp_path: Path) -> None:
    """No clobber: link(2) takes a name or fails, so no writer replaces another's file."""
    writers = 8
    start = threading.Barrier(writers)
    placed: dict[int, Path] = {}

    def write(number: int) -> None:
        start.wait()
        placed[number] = write_to_free_name(tmp_path, "x.yaml", b"writer %d" % number)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(placed.values())) == writers
    for number, path in placed.items():
        assert path.read_bytes() == b"writer %d" % number
    expected = ["x.yaml", *(f"x-{n}.yaml" for n in range(2, writers + 1))]
    assert listing(tmp_path) == sorted(expected)


def test_a_failed_new_file_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(DiskFull):
        write_to_free_name(tmp_path, "x.yaml", half_then_fail)
    assert listing(tmp_path) == []


# --- writing a file under its name -------------------------------------------------------------


def test_write_atomically_replaces_or_refuses(tmp_path: Path) -> None:
    path = tmp_path / "v.png"
    write_atomically(path, b"one", overwrite=False)
    with pytest.raises(FileExistsError):
        write_atomically(path, b"two", overwrite=False)
    assert path.read_bytes() == b"one"
    write_atomically(path, b"three", overwrite=True)
    assert path.read_bytes() == b"three"
    assert listing(tmp_path) == ["v.png"]


def test_write_atomically_never_replaces_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    (tmp_path / "v.png").symlink_to(target)
    with pytest.raises(FileExistsError):
        write_atomically(tmp_path / "v.png", b"new", overwrite=False)
    assert target.read_bytes() == b"keep"


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_failed_write_leaves_no_temp_file_and_the_old_file(
    tmp_path: Path, overwrite: bool
) -> None:
    (tmp_path / "other").write_bytes(b"old")
    with pytest.raises(DiskFull):
        write_atomically(tmp_path / "other", half_then_fail, overwrite=overwrite)
    with pytest.raises(DiskFull):
        write_atomically(tmp_path / "new", half_then_fail, overwrite=overwrite)
    assert listing(tmp_path) == ["other"]
    assert (tmp_path / "other").read_bytes() == b"old"


def test_while_writing_the_only_new_name_is_a_hidden_temp_file(tmp_path: Path) -> None:
    seen: list[str] = []

    def write(stream: BinaryIO) -> None:
        stream.write(b"data")
        seen.extend(listing(tmp_path))

    write_atomically(tmp_path / "v.png", write, overwrite=False)
    assert len(seen) == 1 and is_temp_name(seen[0]) and seen[0].startswith(".v.png.")


def test_replace_file_sets_exact_permissions_whatever_the_umask(
    tmp_path: Path, umask_077: None
) -> None:
    path = tmp_path / "gladtui.service"
    replace_file(path, b"[Unit]\n", permissions=0o644)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    replace_file(path, b"[Service]\n", permissions=0o644)
    assert path.read_bytes() == b"[Service]\n"
    assert listing(tmp_path) == ["gladtui.service"]


def test_write_atomically_sets_exact_permissions_for_files_the_world_reads(
    tmp_path: Path, umask_077: None
) -> None:
    """The local CDN's copies: 0644 whatever the daemon's umask (systemd's is 0077)."""
    path = tmp_path / "image.png"
    write_atomically(path, lambda out: out.write(b"png"), overwrite=False, permissions=0o644)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_bytes() == b"png" and listing(tmp_path) == ["image.png"]


def test_replace_file_takes_over_a_temp_file_left_by_a_kill(tmp_path: Path) -> None:
    (tmp_path / ".x.error.txt.tmp").write_bytes(b"half a rea")
    replace_file(tmp_path / "x.error.txt", b"the reason\n")
    assert listing(tmp_path) == ["x.error.txt"]
    assert (tmp_path / "x.error.txt").read_bytes() == b"the reason\n"


def test_replace_file_never_writes_through_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    (tmp_path / ".x.error.txt.tmp").symlink_to(target)
    replace_file(tmp_path / "x.error.txt", b"the reason\n")
    assert target.read_bytes() == b"keep"
    assert (tmp_path / "x.error.txt").read_bytes() == b"the reason\n"


def test_a_failed_replace_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    (tmp_path / "x.error.txt").write_bytes(b"old reason\n")
    with pytest.raises(DiskFull):
        replace_file(tmp_path / "x.error.txt", half_then_fail)
    assert listing(tmp_path) == ["x.error.txt"]
    assert (tmp_path / "x.error.txt").read_bytes() == b"old reason\n"


# --- moving under the first free name ----------------------------------------------------------


def test_link_to_free_name_keeps_the_source(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.write_bytes(b"data")
    folder = tmp_path / "to"
    folder.mkdir()
    (folder / "x.yaml").write_bytes(b"older")
    linked = link_to_free_name(source, folder, "x.yaml")
    assert linked == folder / "x-2.yaml"
    assert source.exists() and source.samefile(linked)
    assert (folder / "x.yaml").read_bytes() == b"older"


def test_move_takes_the_first_free_name(tmp_path: Path) -> None:
    folder = tmp_path / "processed"
    folder.mkdir()
    (folder / "x.yaml").write_bytes(b"first")
    (folder / "x-2.yaml").write_bytes(b"second")
    path = tmp_path / "x.yaml"
    path.write_bytes(b"third")
    assert move_to_free_name(path, folder) == folder / "x-3.yaml"
    assert not path.exists()
    assert [(folder / n).read_bytes() for n in ("x.yaml", "x-2.yaml", "x-3.yaml")] == [
        b"first",
        b"second",
        b"third",
    ]


def test_move_under_another_name(tmp_path: Path) -> None:
    folder = tmp_path / "to"
    folder.mkdir()
    path = tmp_path / "caf\udce9.yaml"
    path.write_bytes(b"data")
    assert move_to_free_name(path, folder, "caf%E9.yaml") == folder / "caf%E9.yaml"
    assert listing(folder) == ["caf%E9.yaml"]


def test_before_leaving_runs_with_both_names_there(tmp_path: Path) -> None:
    folder = tmp_path / "failed"
    folder.mkdir()
    path = tmp_path / "x.yaml"
    path.write_bytes(b"data")
    seen: list[tuple[Path, bool, bool]] = []

    def note(destination: Path) -> None:
        seen.append((destination, destination.exists(), path.exists()))

    moved = move_to_free_name(path, folder, before_leaving=note)
    assert seen == [(moved, True, True)]
    assert not path.exists()


def test_a_failure_before_leaving_keeps_the_old_name(tmp_path: Path) -> None:
    folder = tmp_path / "failed"
    folder.mkdir()
    path = tmp_path / "x.yaml"
    path.write_bytes(b"data")

    def fail(_destination: Path) -> None:
        raise DiskFull("No space left on device")

    with pytest.raises(DiskFull):
        move_to_free_name(path, folder, before_leaving=fail)
    assert path.read_bytes() == b"data"


def test_a_directory_is_renamed_to_a_free_name(tmp_path: Path) -> None:
    """A directory cannot be hard-linked: the checked rename stands in, still without replacing."""
    folder = tmp_path / "failed"
    folder.mkdir()
    (folder / "x.yaml").write_bytes(b"older")
    (tmp_path / "x.yaml").mkdir()
    seen: list[Path] = []
    moved = move_to_free_name(tmp_path / "x.yaml", folder, before_leaving=seen.append)
    assert moved == folder / "x-2.yaml" and moved.is_dir()
    assert seen == [moved]
    assert (folder / "x.yaml").read_bytes() == b"older"
    assert not (tmp_path / "x.yaml").exists()


def test_a_symlink_is_moved_as_itself(tmp_path: Path) -> None:
    folder = tmp_path / "failed"
    folder.mkdir()
    target = tmp_path / "secret.txt"
    target.write_text("do not touch")
    (tmp_path / "x.yaml").symlink_to(target)
    moved = move_to_free_name(tmp_path / "x.yaml", folder)
    assert moved.is_symlink() and moved.readlink() == target
    assert target.read_text() == "do not touch"


def test_checked_rename_fallback(tmp_path: Path) -> None:
    source, target = tmp_path / "s", tmp_path / "t"
    source.write_bytes(b"new")
    target.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        rename_no_replace(source, target)
    assert target.read_bytes() == b"old"
    target.unlink()
    target.symlink_to(tmp_path / "dangling")
    with pytest.raises(FileExistsError):
        rename_no_replace(source, target)
    target.unlink()
    rename_no_replace(source, target)
    assert target.read_bytes() == b"new" and not source.exists()


# --- crash clean-up ----------------------------------------------------------------------------


def test_stray_temp_cleanup_removes_only_our_temp_files(tmp_path: Path) -> None:
    ours = [tmp_path / temp_name_for("sdxl-t-variation-1-20240101_000000.png") for _ in range(2)]
    for path in ours:
        path.write_bytes(b"partial")
    keep = [
        ".hidden.png",
        "x.tmp",
        ".x.tmp",
        ".a.png.0123456789abcdef.tmp",  # right shape, no marker
        ".a.png.gladtui-0123456789abcde.tmp",  # token too short
        ".a.png.gladtui-0123456789ABCDEF.tmp",  # upper case
        "a.png.gladtui-0123456789abcdef.tmp",  # not hidden
        ".a.png.gladtui-0123456789abcdef.tmp.bak",
        "sdxl-t-variation-1-20240101_000000.png",
        "notes.txt",
    ]
    for name in keep:
        (tmp_path / name).write_bytes(b"user")
    # A folder with our pattern is not a file of ours either.
    (tmp_path / temp_name_for("dir.png")).mkdir()
    (tmp_path / temp_name_for("link.png")).symlink_to(tmp_path / "notes.txt")
    nested = tmp_path / "sub"
    nested.mkdir()
    (nested / temp_name_for("n.png")).write_bytes(b"partial")

    removed = remove_stray_temp_files(tmp_path)

    assert removed == sorted(ours)
    remaining = set(listing(tmp_path))
    assert set(keep) <= remaining
    assert not any(path.exists() for path in ours)
    assert len(listing(nested)) == 1  # not recursive


def test_stray_temp_cleanup_of_a_missing_folder(tmp_path: Path) -> None:
    assert remove_stray_temp_files(tmp_path / "nope") == []
