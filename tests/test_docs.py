"""The documentation: README.md stays a front page whose links resolve, and the docs/ site builds
with `mkdocs build --strict` (a broken link, anchor or page fails) with every setting in its table."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import Settings

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
README_LIMIT = 12 * 1024
# [text](target) outside code spans and fences; images too.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built once for this module, strictly: any mkdocs warning is a failure."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return out


def test_the_site_builds_strictly(site: Path) -> None:
    assert (site / "index.html").is_file()


def test_every_setting_is_in_the_generated_settings_table(site: Path) -> None:
    page = (site / "settings" / "index.html").read_text(encoding="utf-8")
    missing = [f.name for f in dataclasses.fields(Settings) if f"<code>{f.name}</code>" not in page]
    assert not missing, f"settings missing from docs/settings.md's generated table: {missing}"
    assert "ASSISTANT_MAX_CITATIONS" in page


def test_the_readme_is_a_front_page() -> None:
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; keep it under {README_LIMIT} (move detail to docs/)"


def _links(markdown: str) -> list[str]:
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


def test_every_relative_link_in_the_readme_resolves() -> None:
    links = _links(README.read_text(encoding="utf-8"))
    assert any(link.startswith("docs/") for link in links)
    broken = []
    for link in links:
        if re.match(r"^[a-z][a-z0-9+.-]*:", link) or link.startswith("#"):
            continue  # an absolute URL or an anchor within the README
        if not (REPO / link.split("#", 1)[0]).exists():
            broken.append(link)
    assert not broken, f"README.md links to files that do not exist: {broken}"


def test_links_are_found_outside_code_only() -> None:
    assert _links("see [a](docs/a.md) and `[b](no.md)`\n```\n[c](no.md)\n```\n") == ["docs/a.md"]
