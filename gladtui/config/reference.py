"""The configuration reference, written from the models: each key's docstring is said once.

    python -m gladtui.config.reference           # rewrite both files
    python -m gladtui.config.reference --check   # exit 1 if either differs

It writes the table of docs/configuration.md (between its markers) and the whole
root config.yaml: every key with its default, its docstring as the comment above
it, and each section's docstring above the section. scripts/configdoc runs the
first; tests/test_docs.py fails when either file is not what this writes.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from gladtui.config.model import Config

ROOT = Path(__file__).resolve().parent.parent.parent
PAGE = ROOT / "docs" / "configuration.md"
CONFIG_YAML = ROOT / "config.yaml"
BEGIN = "<!-- config-keys: written by scripts/configdoc from gladtui/config/; do not edit -->"
END = "<!-- config-keys: end -->"
WIDTH = 80


def _section(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def leaves(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every key down to the settings (a mapping such as generation.presets is one)."""
    for name, field in model.model_fields.items():
        section = _section(field.annotation)
        if section is None:
            yield prefix + name, field
        else:
            yield from leaves(section, f"{prefix}{name}.")


def shown_default(field: FieldInfo) -> str:
    """The default as config.yaml writes it (a path by how the user would type it)."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("shown"), str):
        return str(extra["shown"])
    value = field.get_default(call_default_factory=True)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):  # a mapping of sections (review.reject_reasons): as data
        value = {k: _plain(v) for k, v in value.items()}
    text = yaml.safe_dump(value, default_flow_style=True, width=1000, allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


def _plain(value: Any) -> Any:
    """A section as the keys a user would write: those that differ from the defaults."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_defaults=True)
    return value


def _paragraphs(doc: str) -> Iterator[tuple[bool, str]]:
    """(verbatim, text) pieces: an example indented in a docstring is kept as written."""
    prose: list[str] = []
    for line in inspect.cleandoc(doc).splitlines():
        if line.startswith("  ") or not line.strip():
            if prose:
                yield False, " ".join(prose)
                prose = []
            yield True, line.rstrip()  # a blank line parts paragraphs
        else:
            prose.append(line.strip())
    if prose:
        yield False, " ".join(prose)


def _comment(doc: str | None, indent: str) -> list[str]:
    # A link between the docs' pages reads as the page's path in a YAML comment.
    doc = re.sub(r"\[([^]]+)\]\(([\w-]+\.md)(#[\w-]+)?\)", r'"\1" (docs/\2)', doc or "")
    lines = []
    for verbatim, text in _paragraphs(doc):
        if verbatim:
            lines.append(f"{indent}# {text}".rstrip())
        else:
            width = WIDTH - len(indent) - 2
            lines += [
                f"{indent}# {line}"
                for line in textwrap.wrap(
                    text, width, break_on_hyphens=False, break_long_words=False
                )
            ]
    return lines


def _row_text(doc: str | None) -> str:
    pieces = [
        f"`{text.strip()}`" if verbatim else text
        for verbatim, text in _paragraphs(doc or "")
        if text.strip()
    ]
    return " ".join(pieces).replace("|", "\\|")


def table(model: type[BaseModel] = Config) -> str:
    """The markdown table: key, default, what it does."""
    lines = ["| key | default | what it does |", "| --- | --- | --- |"]
    for key, field in leaves(model):
        lines.append(f"| `{key}` | `{shown_default(field)}` | {_row_text(field.description)} |")
    return "\n".join(lines)


def config_yaml(model: type[BaseModel] = Config) -> str:
    """The root config.yaml: the model's docstring, then every key with its default."""
    lines = _comment(model.__doc__, "")
    lines += _yaml_section(model, "")
    return "\n".join(lines) + "\n"


def _yaml_section(model: type[BaseModel], indent: str) -> list[str]:
    lines: list[str] = []
    for name, field in model.model_fields.items():
        section = _section(field.annotation)
        if not indent:
            lines.append("")  # a blank line between top-level keys
        if section is None:
            lines += _comment(field.description, indent)
            lines += _yaml_leaf(name, field, indent)
        else:
            lines += _comment(section.__doc__, indent)
            lines.append(f"{indent}{name}:")
            lines += _yaml_section(section, indent + "  ")
    return lines


def _yaml_leaf(name: str, field: FieldInfo, indent: str) -> list[str]:
    """`name: default`; a mapping of sections one entry a line, easier to copy and edit."""
    value = field.get_default(call_default_factory=True)
    if not isinstance(value, dict) or not value:
        return [f"{indent}{name}: {shown_default(field)}"]
    if not all(isinstance(item, BaseModel) for item in value.values()):
        return [f"{indent}{name}: {shown_default(field)}"]
    lines = [f"{indent}{name}:"]
    for key, item in value.items():
        text = yaml.safe_dump(
            {key: _plain(item)}, default_flow_style=None, width=1000, allow_unicode=True
        )
        lines.append(f"{indent}  {text.strip()}")
    return lines


def rewritten(page: str) -> str:
    """`page` with the table between the markers made anew (ValueError without markers)."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no config table markers: {BEGIN} … {END}")
    return page[: start + len(BEGIN)] + "\n" + table() + "\n" + page[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="docs/configuration.md's table and config.yaml")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if one differs")
    parser.add_argument("--page", type=Path, default=PAGE)
    parser.add_argument("--config-yaml", type=Path, default=CONFIG_YAML)
    args = parser.parse_args(argv)
    stale = []
    for path, make in ((args.page, rewritten), (args.config_yaml, lambda _: config_yaml())):
        before = path.read_text(encoding="utf-8")
        after = make(before)
        if after == before:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(after, encoding="utf-8")  # an existing file: its mode stays
    if args.check and stale:
        names = " and ".join(str(path) for path in stale)
        print(f"{names}: not what the config's models say; run scripts/configdoc")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
