"""The documentation: README commands and example, toctree completeness, offline config, page examples."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

DOCS = ROOT / "docs"

FIRST = "python3 -m pip install . && proxadagrad-ref generate --out vectors && proxadagrad-ref verify vectors"
SECOND = 'python3 -m pip install -e ".[test]" && python3 -m pytest -q'


def test_readme_has_the_two_commands_and_links_to_existing_pages() -> None:
    text = (ROOT / "README.md").read_text()
    assert FIRST in text and SECOND in text
    for link in re.findall(r"\]\((docs/[^)]+)\)", text):
        assert (ROOT / link).is_file(), link


def test_readme_example_gives_the_commented_values() -> None:
    code = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert code is not None
    scope: dict = {}
    exec(code.group(1), scope)
    assert round(float(scope["w1"][0]), 6) == 0.899078
    assert round(float(scope["w1f"][0]), 6) == 0.917005
    assert scope["w1m"].dtype == np.float32


def _toctree_entries() -> set[str]:
    index = (DOCS / "index.md").read_text()
    entries = set()
    for block in re.findall(r"```\{toctree\}\n(.*?)```", index, re.S):
        entries |= {line.strip() for line in block.splitlines() if line.strip() and not line.startswith(":")}
    return entries


def test_every_page_is_in_the_toctree_and_exists() -> None:
    entries = _toctree_entries()
    pages = {
        str(p.relative_to(DOCS).with_suffix(""))
        for p in DOCS.rglob("*")
        if p.suffix in (".md", ".rst") and "_build" not in p.parts
    }
    for page in pages - {"index"}:
        assert page in entries or (page.startswith("recorded-") and "recorded-*" in entries), page
    for entry in entries - {"recorded-*"}:
        assert entry in pages, f"toctree names {entry}, which does not exist"
    assert {"conformance", "performance", "semantics", "api", "theory", "quickstart"} <= entries


def test_build_is_offline_by_default() -> None:
    conf = (DOCS / "conf.py").read_text()
    assert 'os.environ.get("PROXADAGRAD_DOCS_INTERSPHINX") == "1"' in conf
    head = conf.split("if os.environ.get", 1)[0]
    assert "intersphinx" not in re.sub(r'""".*?"""', "", head, flags=re.S).replace("# ", "")


def test_ci_builds_the_docs_with_warnings_as_errors() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert '.[docs]"' in ci
    assert "sphinx-build -q -W --keep-going -b html docs" in ci
    assert "sphinx-build -q -W --keep-going -b doctest docs" in ci


def _examples(page: Path) -> str:
    """The page's {doctest} blocks as one doctest text."""
    return "\n".join(re.findall(r"```\{doctest\}\n(.*?)```", page.read_text(), re.S))


@pytest.mark.parametrize(
    "page",
    ["quickstart.md", "theory.md", "tutorials/by_hand.md", "tutorials/porting.md", "tutorials/testing.md"],
)
def test_page_examples_run(page: str) -> None:
    """The quick pages' examples also run here (the Sphinx doctest build runs every page, in CI)."""
    text = _examples(DOCS / page)
    assert text.count(">>>") >= 5
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {}, page, str(DOCS / page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    with np.errstate(all="ignore"):
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} failing examples in {page}"


def test_mathjax_is_served_from_the_built_site() -> None:
    """The offline site renders formulas: MathJax is copied into it, not loaded from a CDN."""
    conf = (DOCS / "conf.py").read_text()
    assert '"sphinx.ext.mathjax"' in conf and '"sphinx-mathjax-offline"' in conf
    assert "mathjax_path" not in re.sub(r'""".*?"""', "", conf, flags=re.S).replace("# ", "")
    pyproject = (ROOT / "pyproject.toml").read_text()
    docs_extra = pyproject.split("docs = [", 1)[1].split("]", 1)[0]
    assert "sphinx-mathjax-offline" in docs_extra


_EXTERNAL = re.compile(r"""<(script|link|img|iframe)\b[^>]*\b(src|href)=["']((?:https?:)?//[^"']+)""", re.I)


def _built_html() -> Path | None:
    import os

    given = os.environ.get("PROXADAGRAD_DOCS_HTML")
    if given:
        return Path(given)
    built = DOCS / "_build" / "html"
    return built if (built / "index.html").is_file() else None


def test_built_html_loads_no_external_script() -> None:
    """Every page of the built site loads its scripts, styles and fonts from the site itself.

    .ci/run builds the site and runs this test with PROXADAGRAD_DOCS_HTML set; elsewhere it checks a
    build in docs/_build/html when there is one.
    """
    site = _built_html()
    if site is None:
        pytest.skip("the documentation is not built here (.ci/run builds it, then runs this test)")
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 10, f"no built site in {site}"
    external = {
        (str(page.relative_to(site)), m.group(3))
        for page in pages
        for m in _EXTERNAL.finditer(page.read_text(encoding="utf-8"))
        if m.group(1).lower() != "link" or "stylesheet" in m.group(0).lower() or "preload" in m.group(0)
    }
    assert not external, sorted(external)[:10]
    theory = (site / "theory.html").read_text(encoding="utf-8")
    local = re.findall(r"""<script[^>]*src=["']([^"']*mathjax[^"']*)["']""", theory)
    assert local, "theory.html loads no MathJax"
    for src in local:
        assert (site / src.split("?")[0]).is_file(), src  # the script the page loads is in the site
    assert r"\(" in theory or r"\[" in theory  # formulas are there for MathJax to typeset
