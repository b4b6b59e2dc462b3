"""Sphinx configuration of the proxadagrad_ref documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` and
``sphinx-build -W --keep-going -b doctest docs docs/_build/doctest``. The build
needs no network: intersphinx links to NumPy/SciPy are made only when
``PROXADAGRAD_DOCS_INTERSPHINX=1`` is set. The built site needs none either:
MathJax is copied into it (``sphinx-mathjax-offline``), and
``tests/test_docs.py`` checks that no page loads a script from elsewhere.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import proxadagrad_ref

try:  # the doctests of proxadagrad_ref.testing run Hypothesis, which keeps a cache in the working directory
    from hypothesis.configuration import set_hypothesis_home_dir
except ImportError:
    pass
else:  # a folder of this build instead, outside the working tree (removed at the end)
    _HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="proxadagrad-docs-hypothesis-")
    atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)
    set_hypothesis_home_dir(_HYPOTHESIS_HOME)

project = "proxadagrad_ref"
author = "proxadagrad_ref contributors"
copyright = "the proxadagrad_ref contributors"
release = version = proxadagrad_ref.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # copies MathJax into _static/mathjax; pages load it from there
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# Offline by default: CI reaches package registries only.
if os.environ.get("PROXADAGRAD_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "numpy": ("https://numpy.org/doc/stable/", None),
        "scipy": ("https://docs.scipy.org/doc/scipy/", None),
        "python": ("https://docs.python.org/3/", None),
    }

autosummary_generate = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# Figures are generated at build time from the code in the pages.
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"figure.figsize": (6.4, 3.6), "figure.dpi": 110, "figure.autolayout": True}

# Examples in docstrings (API pages) run under pytest --doctest-modules with their module's globals;
# the doctest builder runs the examples of the pages themselves ({doctest} blocks).
doctest_test_doctest_blocks = ""
doctest_global_setup = """
import numpy as np
np.set_printoptions(legacy=False)
"""

html_theme = "furo"
html_title = f"proxadagrad_ref {release}"
html_static_path: list[str] = []


_HERE = Path(__file__).resolve().parent
_RECORDED_TOCTREE = re.compile(
    r"```\{toctree\}\n:maxdepth: 1\n:caption: Recorded framework outputs\n.*?```\n", re.S
)


def _drop_empty_recorded_toctree(app: Any, docname: str, source: list[str]) -> None:
    """The recorded-*.md pages are added by colleagues; until one exists, leave their toctree out."""
    if docname == "index" and not any(_HERE.glob("recorded-*.md")):
        source[0] = _RECORDED_TOCTREE.sub("", source[0])


def setup(app: Any) -> dict[str, Any]:
    """Register the hook above."""
    app.connect("source-read", _drop_empty_recorded_toctree)
    return {"parallel_read_safe": True}
