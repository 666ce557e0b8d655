"""Sphinx configuration of the discT2 documentation.

Build: ``make docs`` (``sphinx-build -W --keep-going -b html docs docs/_build/html``). Pages are
Markdown (MyST) or reStructuredText; the CLI and Python API reference pages are written at build
time from ``discT2.cli.get_parser()`` and the ``__all__`` lists (``_ext/``).
"""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# The checkout's own sources first, so the docs describe this tree even where another copy of
# discT2 is installed.
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

import discT2  # noqa: E402

project = "discT2"
author = "discT2 developers"
copyright = "discT2 developers"
release = discT2.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "discT2_api",
    "discT2_cli",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "reference/cli_examples/*.md",  # included by the CLI page
    "methods/validation_sample.md",  # included by the validation page
    "**/.ipynb_checkpoints",
]
templates_path: list[str] = []

# Markdown (MyST): ``:::`` fences for admonitions, definition lists, and anchors for headings
# down to ### so that pages can link to sections (``rois.md#2-the-five-rois``).
# dollarmath and amsmath: formulas in $...$, $$...$$ and \begin{align} blocks render as maths.
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "amsmath"]
myst_heading_anchors = 3

# Python API: numpydoc renders the docstrings; signatures without type hints (the docstrings
# give types, shapes and units).
autodoc_typehints = "none"
autodoc_member_order = "bysource"
autodoc_default_options = {"exclude-members": "__init__, __new__"}
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
# Docstring checks on every documented object (warnings, so errors under -W): every parameter
# documented and no unknown one, a summary line, sections in numpydoc order.
numpydoc_validation_checks = {"GL06", "GL07", "PR01", "PR02", "PR03", "PR10", "SS01"}
# A class whose docstring documents its fields under "Attributes" (dataclasses, results) documents
# its constructor's parameters there.
numpydoc_validation_overrides = {"PR01": [r"\n\s*Attributes\n\s*-{3,}\n"]}
# Enum classes: numpydoc would check the parameters of Enum's functional-API constructor.
numpydoc_validation_exclude = {
    rf"^discT2\.{name}$"
    for name in discT2.__all__
    if isinstance(getattr(discT2, name), type) and issubclass(getattr(discT2, name), enum.Enum)
}

# The tutorials index globs the pages other tutorials add; an empty glob is not an error.
suppress_warnings = ["toc.empty_glob"]

html_theme = "furo"
html_title = f"discT2 {release}"
html_static_path: list[str] = []
html_show_sourcelink = True
