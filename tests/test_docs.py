"""The docs inside the repository: the README's links land, nothing points outside it.

The pages of docs/ are checked by `mkdocs build --strict` (scripts/test): a link
between them, or to a heading, that does not exist fails the build. The README
is not one of those pages, so its links are checked here the same way.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from gladtui.config import reference
from tests.paths import REPO

ROOT = REPO
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The ids mkdocs (Python-Markdown's toc) gives the page's headings."""
    ids, fenced = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"#+ (.*)", line)):
            text = re.sub(r"[^\w\s-]", "", heading.group(1)).strip().lower()
            ids.add(re.sub(r"[-\s]+", "-", text))
    return ids


def broken_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```|`[^`\n]*`", "", page.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # a URL: not ours to check
        path, _, anchor = target.partition("#")
        where = (page.parent / path).resolve() if path else page
        if not where.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(where):
            broken.append(f"{target}: no such heading in {where.name}")
    return broken


def test_the_readme_links_land() -> None:
    assert broken_links(ROOT / "README.md") == []


def test_a_broken_readme_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# A page\n\n## Its part\n")
    readme = tmp_path / "README.md"
    readme.write_text(
        "[ok](docs/page.md#its-part) [gone](docs/nope.md) [moved](docs/page.md#elsewhere)\n"
        "`[in code](docs/nope.md)` [web](https://example.com/x)\n"
    )
    assert broken_links(readme) == [
        "docs/nope.md: no such file",
        "docs/page.md#elsewhere: no such heading in page.md",
    ]


def test_every_docs_page_is_in_the_site() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {page.name for page in (ROOT / "docs").glob("*.md")}
    assert pages == set(re.findall(r": ([\w-]+\.md)$", nav, re.MULTILINE))


def test_nothing_cites_the_design_note_that_is_not_in_the_repository() -> None:
    """Comments once cited a design note kept outside the repository; a reader has only this."""
    name = "DESIGN" + ".md"  # spelt apart, so that this file does not cite it either
    cited = subprocess.run(
        ["git", "grep", "-l", "-I", "-F", name], cwd=ROOT, capture_output=True, text=True
    )
    assert cited.returncode == 1, f"{name} is cited in: {cited.stdout}"


def test_the_config_reference_and_config_yaml_are_what_the_models_say() -> None:
    assert reference.main(["--check"]) == 0, "run scripts/configdoc"


def test_the_config_check_fails_when_a_file_drifts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page, config_yaml = tmp_path / "configuration.md", tmp_path / "config.yaml"
    fresh_page, fresh_yaml = reference.PAGE.read_text(), reference.CONFIG_YAML.read_text()
    page.write_text(fresh_page.replace("generated PNGs, kept", "PNGs, kept"))
    config_yaml.write_text(fresh_yaml.replace("steps: 30", "steps: 31"))
    paths = ["--page", str(page), "--config-yaml", str(config_yaml)]
    assert reference.main(["--check", *paths]) == 1
    assert "run scripts/configdoc" in capsys.readouterr().out
    assert reference.main(paths) == 0
    assert (page.read_text(), config_yaml.read_text()) == (fresh_page, fresh_yaml)
    assert reference.main(["--check", *paths]) == 0
