"""The TUI shows the pictures to a reviewer who cannot read the preview folder.

The daemon runs as root here with its preview folder private (0700); the
reviewer is a real user in the group `api.group` names (made for the test).
The real review app runs headless in a child that became that user: it can
open no variation file, so every thumbnail it shows came through the API.

The child is forked from this process and can import nothing new, nor read
the checkout, which may sit in a private folder (tests/privileges.py): the
same review runs as root first, loading every module it needs; Textual's
crash report is loaded too, so a crash in the child says what it was; and
the app's stylesheet, which Textual reads from its file at each start, is
read from a copy everyone can read.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
from pathlib import Path, PurePath
from typing import Any

import pytest
from rich.console import Console
from rich.traceback import Traceback

from daemon.generation.models import LoadedModel
from tests.apidaemon import ApiDaemon
from tests.daemon.api.test_reviewers_group import Reviewers, reviewers  # noqa: F401  (the fixture)
from tests.privileges import run_as
from tests.tuitools import gallery, make_app, until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")


def test_a_reviewer_who_cannot_read_the_previews_sees_the_pictures(
    tiny: LoadedModel,
    reviewers: Reviewers,  # noqa: F811  (the fixture imported above)
) -> None:
    d = ApiDaemon(tiny, settings={"api": {"group": reviewers.group}}).start()
    try:
        task = d.in_review("Private", variations=2)
        d.config.preview_dir.chmod(0o700)
        css = _readable_copies(make_app(d).css_path, d.root)
        _load_crash_report()
        # The same review as root first: every module it loads lazily (Textual's
        # driver, its widgets) is loaded before the child drops root.
        as_root = _review_as_this_user(d, task, css)
        member = reviewers.member
        seen = run_as(
            lambda: _review_as_this_user(d, task, css), member.uid, member.gid, member.groups
        )
    finally:
        d.cleanup()
    assert as_root == {"can_read_file": True, "pictures": {1: (64, 64), 2: (64, 64)}}
    assert seen["can_read_file"] is False
    assert seen["pictures"] == {1: (64, 64), 2: (64, 64)}


def _readable_copies(paths: list[PurePath], folder: Path) -> list[PurePath]:
    """The stylesheets copied into `folder` (readable by all), mode 0644."""
    copies: list[PurePath] = []
    for n, path in enumerate(paths):
        copy = folder / f"{n}-{path.name}"
        shutil.copyfile(path, copy)
        copy.chmod(0o644)
        copies.append(copy)
    return copies


def _load_crash_report() -> None:
    """Render one rich Traceback, as Textual does when an app crashes: what that imports
    (rich.traceback, rich's emoji table) is then loaded for the child too."""
    try:
        raise RuntimeError("a crash report rendered before the fork")
    except RuntimeError:
        Console(file=io.StringIO(), width=100).print(Traceback(show_locals=True))


def _review_as_this_user(d: ApiDaemon, task: dict[str, Any], css: list[PurePath]) -> dict[str, Any]:
    try:
        Path(task["variations"][0]["path"]).read_bytes()
        can_read = True
    except PermissionError:
        can_read = False
    return {"can_read_file": can_read, "pictures": asyncio.run(_pictures_shown(d, css))}


async def _pictures_shown(d: ApiDaemon, css: list[PurePath]) -> dict[int, tuple[int, int]]:
    app = make_app(d)
    app.css_path = css  # the same stylesheet, from a copy the child can read
    async with app.run_test(size=(120, 40)) as pilot:
        await until(
            pilot,
            lambda: len([p for p in gallery(app).pictures.values() if p is not None]) == 2,
            what="both thumbnails in the gallery",
        )
        return {i: p.size for i, p in gallery(app).pictures.items() if p is not None}
