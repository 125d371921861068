"""The README and docs/: every relative link resolves, and the project's own routes and kernel
commands are each documented."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from qbraid_keys_ext.handlers import KeysHandler, routes
from qbraid_keys_ext.kernel.magic import USAGE
from qbraid_keys_ext.service.app import implemented_methods

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
HTML = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """Markdown without code blocks and code spans (links there are not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def links(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    return [m.group(1) for pattern in (INLINE, REFERENCE, HTML) for m in pattern.finditer(text)]


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    text = re.sub(r"<[^>]+>", "", heading).replace("`", "").strip().lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8")))}


def test_every_relative_link_resolves():
    assert (REPO / "docs" / "routes.md").exists() and (REPO / "docs" / "kernel.md").exists()
    broken = []
    checked = 0
    for page in PAGES:
        for target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                continue
            checked += 1
            path, _, anchor = target.partition("#")
            where = (page.parent / path).resolve() if path else page
            if not where.exists() or REPO not in (where, *where.parents):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such file)")
            elif anchor and where.suffix == ".md" and anchor not in anchors(where):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert checked > 10
    assert not broken, "\n".join(broken)


def test_the_readme_cites_no_design_document_outside_the_repository():
    assert "DESIGN.md" not in (REPO / "README.md").read_text(encoding="utf-8")


def route_paths() -> list[tuple[str, type]]:
    """Each documented route: its path as the docs write it, and its handler."""
    out = []
    for pattern, handler in routes():
        if pattern.endswith("(?:/.*)?"):  # the catch-all 404
            continue
        out.append((pattern.replace("([^/]+)", "{id}"), handler))
    return out


@pytest.mark.parametrize(("path", "handler"), route_paths())
def test_every_route_and_method_is_documented(path, handler):
    text = (REPO / "docs" / "routes.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if f"| `{path}` |" in line]
    for method in implemented_methods(handler, KeysHandler):
        assert [row for row in rows if row.startswith(f"| `{method}` |")], (
            f"docs/routes.md has no row for {method} {path}"
        )


def test_every_kernel_command_is_documented():
    text = (REPO / "docs" / "kernel.md").read_text(encoding="utf-8")
    commands = re.findall(r"^(%qbraid_key \w+(?: NAME)?)", USAGE, re.M)
    assert len(commands) >= 7
    for command in commands:
        assert f"| `{command}` |" in text, f"docs/kernel.md does not document {command}"
