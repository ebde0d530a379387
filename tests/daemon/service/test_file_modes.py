"""Every file and folder the daemon makes is its user's alone, whatever the umask.

Issue 29: started from a shell (umask 022), the daemon wrote preview PNGs (their
text holds the prompt), processed task files, Markdown posts and the database
0644 in 0755 folders, so another local user could copy the database and read
every title and prompt. Here each writer runs under umask 000, where nothing
but an explicit mode keeps a file private; tests/daemon/service/test_file_modes_daemon.py
runs the whole daemon under 022 and 000 and walks what it made.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from daemon.generation.images import thumbnail_of, write_png_atomically
from daemon.intake.dropfolder import DropFolder, reason_path
from daemon.publishing.destinations.base import PostDraft
from daemon.publishing.destinations.markdown import MarkdownDestination
from daemon.publishing.publishers.local import LocalPublisher
from daemon.service.folders import prepare_folders, privacy_warnings
from daemon.service.statelock import StateLock
from daemon.store import Store
from gladtui.cli.submit import submit_file
from gladtui.config import Config
from gladtui.filemodes import close_to_others, make_folders
from gladtui.taskfile import TaskRules
from tests.privileges import run_unprivileged

FOLDER_KEYS = ("drop_dir", "preview_dir", "state_dir", "cache_dir")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def umask_000() -> Iterator[None]:
    """The widest umask: a file made without an explicit mode would be 0666."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    tmp_path.chmod(0o755)  # so the modes below, not pytest's 0700, are what protects
    return tmp_path


def config_in(root: Path, **extra: object) -> Config:
    folders = {key: str(root / "home" / key.removesuffix("_dir")) for key in FOLDER_KEYS}
    return Config.model_validate({**folders, **extra})


# -- folders ----------------------------------------------------------------------------


def test_make_folders_makes_every_missing_level_exactly(root: Path, umask_000: None) -> None:
    make_folders(root / "a" / "b" / "c")
    assert [mode(root / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3
    make_folders(root / "a" / "d", 0o755)
    assert (mode(root / "a"), mode(root / "a" / "d")) == (0o700, 0o755)  # a was there: kept
    (root / "file").write_text("x")
    with pytest.raises(FileExistsError):
        make_folders(root / "file")


def test_the_daemons_folders_are_made_private(root: Path, umask_000: None) -> None:
    config = config_in(root)
    prepare_folders(config)
    DropFolder(config.drop_dir).prepare()
    made = [path for path in root.rglob("*") if path.is_dir()]
    assert made and {path.relative_to(root).as_posix(): mode(path) for path in made} == {
        path.relative_to(root).as_posix(): 0o700 for path in made
    }
    assert {p.name for p in made} >= {"home", "drop", "processed", "failed", "state", "cache"}


# -- the drop folder ----------------------------------------------------------------------


def test_moved_task_files_and_reasons_are_private(root: Path, umask_000: None) -> None:
    folder = DropFolder(root / "drop")
    folder.prepare()
    good, bad = folder.root / "good.yaml", folder.root / "bad.yaml"
    good.write_text("title: t\n")
    bad.write_text("title: t\n")  # 0666 under this umask, as a dropper would leave it
    accepted = folder.accept(good)
    refused = folder.refuse(bad, "bad.yaml: prompt: required")
    assert [mode(p) for p in (accepted, refused, reason_path(refused))] == [0o600] * 3


def test_submit_makes_a_private_drop_folder_for_a_file_the_daemon_can_read(
    root: Path, umask_000: None
) -> None:
    source = root / "muffins.yaml"
    source.write_text("title: Muffins\nprompt: muffins\n")
    placed = submit_file(source, root / "new" / "drop", rules=TaskRules())
    # The daemon may be another user (the system service): the file stays 0644.
    assert (mode(root / "new"), mode(root / "new" / "drop")) == (0o700, 0o700)
    assert mode(placed.destination) == 0o644


def test_closing_a_file_spares_symlinks_and_what_is_gone(root: Path) -> None:
    target = root / "target"
    target.write_text("x")
    target.chmod(0o644)
    (root / "link").symlink_to(target)
    close_to_others(root / "link")
    close_to_others(root / "missing")
    assert mode(target) == 0o644


# -- images -------------------------------------------------------------------------------


def test_previews_and_thumbnails_are_private(root: Path, umask_000: None) -> None:
    image = Image.new("RGB", (32, 32), "red")
    preview = root / "previews" / "p.png"
    preview.parent.mkdir()
    write_png_atomically(image, preview, parameters="a secret prompt")
    thumbnail = thumbnail_of(image, root / "cache" / "thumbnails" / "t.png")
    assert (mode(preview), mode(thumbnail)) == (0o600, 0o600)
    assert (mode(root / "cache"), mode(root / "cache" / "thumbnails")) == (0o700, 0o700)


# -- the state folder ---------------------------------------------------------------------


def test_the_database_and_the_lock_are_private(root: Path, umask_000: None) -> None:
    state = root / "state" / "gladtui"
    lock = StateLock.acquire(state, root / "d.sock")
    try:
        with Store.open(state / "gladtui.duckdb") as store:
            store.tasks.list()
            assert mode(state / "gladtui.duckdb") == 0o600
    finally:
        lock.release()
    assert (mode(root / "state"), mode(state), mode(state / "daemon.lock")) == (0o700, 0o700, 0o600)

    def read() -> str:
        try:
            (state / "gladtui.duckdb").read_bytes()
        except PermissionError:
            return "refused"
        return "read"

    assert run_unprivileged(read) == "refused"


def test_an_existing_database_keeps_its_mode(root: Path) -> None:
    path = root / "gladtui.duckdb"
    Store.open(path).close()
    path.chmod(0o640)  # the owner's choice; a warning says what it means (below)
    Store.open(path).close()
    assert mode(path) == 0o640


def test_a_state_folder_or_database_open_to_others_is_named_with_the_fix(root: Path) -> None:
    config = config_in(root / "my state")
    config.state_dir.mkdir(parents=True)
    config.state_dir.chmod(0o755)
    Store.open(config.database_path).close()
    config.database_path.chmod(0o644)
    warnings = privacy_warnings(config)
    assert warnings == [
        f"state_dir {config.state_dir} is open to other users (mode 0755): they can reach "
        f"the database and everything in it; close it with `chmod 700 '{config.state_dir}'`",
        f"the database {config.database_path} is open to other users (mode 0644): every "
        f"title and prompt is in it; close it with `chmod 600 '{config.database_path}'`",
    ]
    config.state_dir.chmod(0o700)
    config.database_path.chmod(0o600)
    assert privacy_warnings(config) == []


# -- where posts and copies go ------------------------------------------------------------


def draft(slug: str) -> PostDraft:
    return PostDraft("t1", "T", slug, "the body", "https://cdn/x.png", datetime.now(UTC))


def test_markdown_posts_are_private_and_an_updated_post_keeps_its_mode(
    root: Path, umask_000: None
) -> None:
    site = root / "posts"
    site.mkdir()
    destination = MarkdownDestination(site, "image")
    destination.check()
    placed = destination.create(draft("new-post"))
    assert placed is not None and mode(Path(placed.location)) == 0o600
    theirs = site / "theirs.md"
    theirs.write_text("---\ntitle: Theirs\nslug: theirs\n---\nold\n")
    theirs.chmod(0o664)  # the site's own file: its mode is the site's choice
    assert destination.update(draft("theirs")) is not None
    assert mode(theirs) == 0o664 and "the body" in theirs.read_text()


def test_local_cdn_copies_are_served_to_the_world(root: Path, umask_000: None) -> None:
    """Published images for a web server of another user: 0644 in 0755 folders, on purpose."""
    source = root / "source.png"
    Image.new("RGB", (8, 8)).save(source)
    source.chmod(0o600)
    publisher = LocalPublisher(root / "www" / "cdn", base_url=None)
    asset = publisher.upload(source, "t1-abc")
    copy = root / "www" / "cdn" / "t1-abc.png"
    assert asset.url == copy.as_uri()
    assert (mode(root / "www"), mode(copy.parent), mode(copy)) == (0o755, 0o755, 0o644)
