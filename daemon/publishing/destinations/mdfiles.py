"""Markdown files with front matter: reading a static site's folder, writing one post.

A post is `{slug}.md`: YAML front matter between `---` lines, then the body,
as Hugo, Jekyll, Eleventy and Astro read it. A slug is taken when a file has
it as its name (`x.md`, or `x/index.md` for a Hugo page bundle) or says it in
its front matter (`slug: x`, YAML or Hugo's TOML between `+++` lines).

`SlugIndex` knows every slug of the folder. It re-reads only files whose
size or time changed since it last looked, so the API's slug previews can
ask it on every page without parsing thousands of files each time.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gladtui.yamlsafe import YamlError, load_yaml

MAX_FRONT_MATTER_BYTES = 64 * 1024  # read this much of a file to find its front matter
SUFFIXES = (".md", ".markdown")
_DATED = re.compile(r"\d{4}-\d{2}-\d{2}-(.+)")  # Jekyll's post names: the date, then the slug
_DELIMITERS = {"---": "yaml", "+++": "toml"}


@dataclass(frozen=True, slots=True)
class Document:
    """A Markdown file split: its front matter (empty if none) and its body."""

    meta: dict[str, Any]
    body: str


def parse(text: str) -> Document:
    """Front matter and body; a file without (readable) front matter is all body."""
    first, _, rest = text.partition("\n")
    kind = _DELIMITERS.get(first.strip())
    if kind is None:
        return Document({}, text)
    closing = first.strip()
    head, found, body = _split_at(rest, closing)
    if not found:
        return Document({}, text)
    meta = _load(head, kind)
    return Document(meta if meta is not None else {}, body)


def _split_at(text: str, delimiter: str) -> tuple[str, bool, str]:
    lines = text.split("\n")
    for number, line in enumerate(lines):
        if line.strip() == delimiter:
            return "\n".join(lines[:number]), True, "\n".join(lines[number + 1 :])
    return text, False, ""


def _load(head: str, kind: str) -> dict[str, Any] | None:
    try:
        loaded = (
            tomllib.loads(head)
            if kind == "toml"
            else load_yaml(head.encode(), max_bytes=MAX_FRONT_MATTER_BYTES)
        )
    except (YamlError, tomllib.TOMLDecodeError):
        return None  # broken front matter: the file still holds its name's slug
    return loaded if isinstance(loaded, dict) else None


def render(meta: dict[str, Any], body: str) -> str:
    """A Markdown file: YAML front matter in the order given, then the body."""
    head = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1_000_000)
    return f"---\n{head}---\n{body}" + ("" if body.endswith("\n") or not body else "\n")


def read(path: Path) -> Document:
    return parse(path.read_text(encoding="utf-8", errors="replace"))


def _head(path: Path) -> str:
    with path.open("rb") as stream:
        return stream.read(MAX_FRONT_MATTER_BYTES).decode("utf-8", errors="replace")


def name_slugs(entry: os.DirEntry[str]) -> tuple[list[str], str] | None:
    """The slugs a folder entry's name gives and the Markdown file behind it, if any.

    A name that starts with a date (`2026-12-07-pie.md`) gives Jekyll's slug, `pie`,
    as well as the whole name: taking both can only make a new slug more careful.
    """
    name = entry.name
    if name.startswith((".", "_", "#", "~")):
        return None  # hidden, temporary, or Hugo's section page (_index.md)
    if entry.is_dir():
        bundle = Path(entry.path) / "index.md"
        return (_with_undated(name), str(bundle)) if bundle.is_file() else None
    stem, dot, extension = name.rpartition(".")
    if dot and f".{extension}" in SUFFIXES and entry.is_file():
        return _with_undated(stem), entry.path
    return None


def _with_undated(stem: str) -> list[str]:
    dated = _DATED.fullmatch(stem)
    return [stem, dated.group(1)] if dated else [stem]


_Stamp = tuple[int, int, int]


class SlugIndex:
    """Every slug of a folder of Markdown posts, with the file holding it.

    `slugs(max_age)` may answer from its last look when the folder's own time
    has not changed (no file added, removed or renamed) and that look is
    younger than `max_age` seconds: the API's previews ask often and can live
    with a front matter edited in place being seen a few seconds late; the
    publisher asks with `max_age=0`.
    """

    def __init__(self, folder: Path, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.folder = folder
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._known: dict[str, tuple[_Stamp, str | None]] = {}
        self._last: tuple[int, float, dict[str, Path]] | None = None  # folder mtime, when, slugs

    def slugs(self, max_age: float = 0.0) -> dict[str, Path]:
        """slug → file. Files are re-read only when changed since the last look."""
        with self._lock:
            folder_time = self.folder.stat().st_mtime_ns
            now = self._monotonic()
            if self._last is not None:
                seen_time, seen_at, found = self._last
                if seen_time == folder_time and now - seen_at < max_age:
                    return found
            found = self._scan()
            self._last = (folder_time, now, found)
            return found

    def _scan(self) -> dict[str, Path]:
        found: dict[str, str] = {}
        seen: dict[str, tuple[_Stamp, str | None]] = {}
        with os.scandir(self.folder) as entries:
            for entry in entries:
                named = name_slugs(entry)
                if named is None:
                    continue
                names, path = named
                said = self._front_matter_slug(path, seen)
                for name in names:
                    found.setdefault(name, path)
                if said:
                    found.setdefault(said, path)
        self._known = seen
        return {slug: Path(path) for slug, path in found.items()}

    def _front_matter_slug(
        self, path: str, seen: dict[str, tuple[_Stamp, str | None]]
    ) -> str | None:
        try:
            # A path string, not a Path: building 10,000 Path objects doubled
            # the cost of a look at an unchanged folder (bench/posts.py).
            stat = os.stat(path)  # noqa: PTH116
        except OSError:  # removed meanwhile
            return None
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = self._known.get(path)
        if cached is not None and cached[0] == stamp:
            slug = cached[1]
        else:
            slug = None
            with contextlib.suppress(OSError):
                said = parse(_head(Path(path))).meta.get("slug")
                slug = str(said) if isinstance(said, str | int) and str(said) else None
        seen[path] = (stamp, slug)
        return slug
