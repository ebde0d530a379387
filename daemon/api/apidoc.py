"""docs/api.md's route table, written from the OpenAPI document (daemon/api/openapi.py).

    python -m daemon.api.apidoc docs/api.md           # rewrite the table between the markers
    python -m daemon.api.apidoc --check docs/api.md   # exit 1 if the page differs

scripts/apidoc runs the first; tests/daemon/api/test_openapi.py fails when the page's
table is not what this writes, so the API reference cannot drift from the API.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from daemon.api.openapi import describe

BEGIN = "<!-- api-routes: written by scripts/apidoc from daemon/api/description.py; do not edit -->"
END = "<!-- api-routes: end -->"
_MEDIA_NAMES = {"image/png": "PNG", "text/event-stream": "server-sent events"}


def table(document: dict[str, Any]) -> str:
    """The markdown table of every route, in the description's order."""
    schemas = document["components"]["schemas"]
    lines = ["| route | what it does | answer | errors |", "| --- | --- | --- | --- |"]
    for path, item in document["paths"].items():
        for method, op in item.items():
            route = f"`{method.upper()} {path}{_query(op)}`"
            what = op["description"] + _body(op, schemas)
            answers = op["responses"]
            errors = ", ".join(status for status in answers if int(status) >= 400)
            lines.append(f"| {route} | {what} | {_answer(answers)} | {errors} |")
    return "\n".join(lines)


def rewritten(page: str, document: dict[str, Any]) -> str:
    """`page` with the table between the markers made anew (ValueError without markers)."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no route table markers: {BEGIN} … {END}")
    return page[: start + len(BEGIN)] + "\n" + table(document) + "\n" + page[end:]


def _query(op: dict[str, Any]) -> str:
    names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
    return "?" + "&".join(f"{name}=" for name in names) if names else ""


def _body(op: dict[str, Any], schemas: dict[str, Any]) -> str:
    content = op.get("requestBody", {}).get("content", {})
    for media, entry in content.items():
        ref = entry["schema"].get("$ref")
        if ref is None:
            return f". Body: a task file ({media})"
        shape = schemas[ref.rsplit("/", 1)[1]]
        required = set(shape.get("required", []))
        fields = [f"{name}{'' if name in required else '?'}" for name in shape["properties"]]
        return f". Body: `{{{', '.join(fields)}}}`" if fields else ". Body: none, or `{}`"
    return ""


def _answer(answers: dict[str, Any]) -> str:
    ok = [status for status in answers if int(status) < 400]
    shown = []
    for status in ok:
        content = answers[status].get("content", {})
        for media, entry in content.items():
            ref = entry["schema"].get("$ref")
            name = f"`{ref.rsplit('/', 1)[1]}`" if ref else _MEDIA_NAMES.get(media, media)
            shown.append(f"{status} {name}")
        if not content:
            shown.append(f"{status} (no body)")
    return ", ".join(shown)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="docs/api.md's route table")
    parser.add_argument("page", type=Path)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if it differs")
    args = parser.parse_args(argv)
    before = args.page.read_text(encoding="utf-8")
    after = rewritten(before, describe())
    if args.check:
        if after != before:
            print(f"{args.page}: the API route table is out of date; run scripts/apidoc")
            return 1
        return 0
    if after != before:
        args.page.write_text(after, encoding="utf-8")  # an existing file: its mode stays
    return 0


if __name__ == "__main__":
    sys.exit(main())
