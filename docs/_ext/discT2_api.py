"""Sphinx extension: write the Python API reference pages from the package's ``__all__`` lists.

At ``builder-inited`` it walks the public modules of :mod:`discT2` (no ``_private`` part, not the
sub-command modules of ``discT2.cli``) and writes ``reference/api/*.rst``: one page for the
top-level namespace, grouped by the sub-package that defines each name, and one page per
sub-package or module for the public names it adds (its ``__all__`` less what is documented
already). A name added to an ``__all__`` therefore appears in the reference without editing the
docs. The generated pages are build products (ignored by git); a page is rewritten only when its
text changes, so incremental builds stay incremental.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import pkgutil
import types
from dataclasses import dataclass
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

logger = logging.getLogger(__name__)

PACKAGE = "discT2"
OUT_DIR = "reference/api"

#: Section titles of the top-level page, in page order; a sub-package not named here gets its
#: module name as title, after these.
GROUPS: dict[str, str] = {
    "discT2.io": "Finding and loading series (DICOM, NIfTI)",
    "discT2.series": "The multi-echo series",
    "discT2.fit": "Fitting T2",
    "discT2.maps": "T2 maps",
    "discT2.epg": "Extended phase graphs",
    "discT2.roi": "Disc ROIs",
    "discT2.measure": "ROI statistics",
    "discT2.report": "Change, trial tables and report",
    "discT2.data": "Sample data",
    "discT2.phantom": "Synthetic phantom",
    "discT2.errors": "Errors and warnings",
}


#: Modules inside a sub-package that are public in their own right.
EXTRA_MODULES: tuple[str, ...] = ("discT2.io.dicom_write", "discT2.io.dicom_results")


@dataclass
class Item:
    """One public name: where it is documented and how."""

    name: str
    obj: object
    kind: str  # module, exception, class, function, data
    home: str  # the sub-package that defines it (two components: discT2.fit)


def _kind(obj: object) -> str:
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isroutine(obj):
        return "function"
    return "data"


def public_modules(package: str = PACKAGE) -> list[types.ModuleType]:
    """The package and its public modules that declare ``__all__``, shallow ones first."""
    root = importlib.import_module(package)
    names = [package, *EXTRA_MODULES]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or info.name.startswith(f"{package}.cli."):
            continue
        # Public: the modules directly under the package and every sub-package; the modules
        # inside a sub-package are its implementation, whose public names it re-exports.
        if len(parts) == 2 or info.ispkg:
            names.append(info.name)
    modules = []
    for name in sorted(names, key=lambda n: (n.count("."), n)):
        module = importlib.import_module(name)
        if hasattr(module, "__all__"):
            modules.append(module)
    return modules


def _all_modules(package: str = PACKAGE) -> list[str]:
    root = importlib.import_module(package)
    return [package] + [
        info.name
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
        if not info.name.endswith("__main__")
    ]


def _home(name: str, obj: object, modules: list[types.ModuleType]) -> str:
    module = getattr(obj, "__module__", None) if _kind(obj) != "module" else obj.__name__
    if not isinstance(module, str) or module == PACKAGE:
        # Constants have no __module__: the deepest public module that holds the same object.
        module = PACKAGE
        for mod in modules:
            if mod.__name__ != PACKAGE and getattr(mod, name, None) is obj:
                module = mod.__name__
    return ".".join(module.split(".")[:2])


def data_comment(name: str, obj: object) -> list[str]:
    """The ``#:`` comment (or docstring after the assignment) of a module-level constant."""
    for modname in _all_modules():
        module = importlib.import_module(modname)
        if getattr(module, name, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:  # a module without source has no comments
            continue
        if ("", name) in docs:
            return [line for line in docs[("", name)] if line is not None]
    return []


def _rst_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("`", "\\`").replace("*", "\\*")


def _value_repr(obj: object, limit: int = 300) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def _render_item(item: Item, module: str) -> list[str]:
    target = f"{module}.{item.name}"
    if item.kind == "module":
        return [f"``{target}``: a sub-package, documented on :doc:`{item.obj.__name__}`.", ""]
    if item.kind == "exception":
        return [f".. autoexception:: {target}", "   :show-inheritance:", ""]
    if item.kind == "class":
        lines = [f".. autoclass:: {target}", "   :members:", "   :show-inheritance:"]
        if isinstance(item.obj, type) and issubclass(item.obj, enum.Enum):
            lines.append("   :undoc-members:")
        return [*lines, ""]
    if item.kind == "function":
        return [f".. autofunction:: {target}", ""]
    lines = [f".. py:data:: {target}", f"   :value: {_value_repr(item.obj)}", ""]
    comment = data_comment(item.name, item.obj)
    lines += ["   " + line if line else "" for line in comment] or [
        f"   ``{type(item.obj).__name__}``"
    ]
    return [*lines, ""]


def _summary(items: list[Item], module: str) -> list[str]:
    # Constants stay out of the table: autosummary would summarise their type's docstring.
    names = [i.name for i in items if i.kind not in ("module", "data")]
    if not names:
        return []
    return [
        f".. currentmodule:: {module}",
        "",
        ".. autosummary::",
        "",
        *[f"   {n}" for n in names],
        "",
    ]


def _shadowed(modname: str) -> bool:
    """Whether a name re-exported by the parent hides the module (``discT2.measure``)."""
    parent, _, name = modname.rpartition(".")
    value = getattr(importlib.import_module(parent), name, None)
    return not isinstance(value, types.ModuleType)


def _title(text: str, char: str) -> list[str]:
    return [text, char * len(text), ""]


def build_pages(package: str = PACKAGE) -> dict[str, str]:
    """Page name (without suffix) -> reStructuredText of every API page."""
    modules = public_modules(package)
    seen: set[tuple[int, str]] = set()
    per_module: dict[str, list[Item]] = {}
    for module in modules:
        items = []
        for name in module.__all__:
            obj = getattr(module, name)
            kind = _kind(obj)
            key = (id(obj), "" if kind in ("class", "exception", "function", "module") else name)
            if key in seen:
                continue
            seen.add(key)
            items.append(Item(name, obj, kind, _home(name, obj, modules)))
        if items:
            per_module[module.__name__] = items

    pages: dict[str, str] = {}
    top = per_module.pop(package, [])
    order = list(GROUPS) + sorted({i.home for i in top} - set(GROUPS))
    lines = [
        ".. This page is written by docs/_ext/discT2_api.py at build time; do not edit.",
        "",
        *_title(f"``{package}``: the public API", "="),
        f".. automodule:: {package}",
        "",
        f"Everything below is importable as ``{package}.<name>``. The sub-package pages list",
        "what each one adds.",
        "",
    ]
    for home in order:
        group = [i for i in top if i.home == home]
        if not group:
            continue
        title = GROUPS.get(home, home)
        lines += _title(title, "-")
        lines += _summary(group, package)
        for item in group:
            lines += _render_item(item, package)
    pages["discT2"] = "\n".join(lines)

    for modname, items in per_module.items():
        lines = [
            ".. This page is written by docs/_ext/discT2_api.py at build time; do not edit.",
            "",
            *_title(f"``{modname}``", "="),
            f".. automodule:: {modname}",
            *(["   :no-index:"] if _shadowed(modname) else []),
            "",
            f"Public names of ``{modname}`` that are not already documented on an earlier",
            "page (re-exported names are documented once, where they are shortest to import).",
            "",
            *_summary(items, modname),
        ]
        for item in items:
            lines += _render_item(item, modname)
        pages[modname] = "\n".join(lines)

    index = [
        ".. This page is written by docs/_ext/discT2_api.py at build time; do not edit.",
        "",
        *_title("Python API", "="),
        "The reference of every public name, generated from the docstrings (numpydoc). Units",
        "are in the names (``t2_ms``, ``voxel_size_mm``); arrays have the echo axis last.",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
        *[f"   {name}" for name in pages],
        "",
    ]
    pages["index"] = "\n".join(index)
    return pages


def write_pages(app: Sphinx) -> None:
    """``builder-inited``: (re)write the API pages under ``reference/api``."""
    out = Path(app.srcdir) / OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    pages = build_pages()
    for name, page in pages.items():
        path = out / f"{name}.rst"
        text = page + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    for stale in out.glob("*.rst"):
        if stale.stem not in pages:
            stale.unlink()
            logger.info("removed stale API page %s", stale)


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("builder-inited", write_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
