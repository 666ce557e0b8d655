"""Sphinx extension: write the command-line reference from ``discT2.cli.get_parser()``.

At ``builder-inited`` it writes ``reference/cli.rst``: the global options, then for every
sub-command (in the order of ``discT2 --help``) its description, usage and every option as a
Sphinx ``option`` (so ``:option:`discT2 fit --method``` links to it), then its examples: those the
sub-command's parser carries (``examples=``, the ones ``discT2 COMMAND --help`` prints), followed
by the notes in ``reference/cli_examples/<command>.md`` when that file exists. A new sub-command
therefore appears without editing the docs; a sub-command without examples is reported as a
warning (the build runs with warnings as errors), so every command keeps its examples.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

OUT_PAGE = "reference/cli.rst"
EXAMPLES_DIR = "reference/cli_examples"


def _escape(text: str) -> str:
    """Plain text -> reStructuredText that shows the same characters."""
    out = []
    for char in text:
        if char in "\\`*|_[]<>":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _indent(lines: list[str], prefix: str = "   ") -> list[str]:
    return [prefix + line if line else "" for line in lines]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public accessor for sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    text = formatter._expand_help(action) if action.help else ""
    text = " ".join(text.split())
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        choices = ", ".join(str(c) for c in action.choices)
        if choices not in text:
            text += f" Choices: {choices}."
    default = action.default
    shown = default not in (None, False, argparse.SUPPRESS) and action.required is False
    if shown and not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
        value = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        if "default" not in text.lower():
            text += f" Default: {value}."
    if action.required and action.option_strings:
        text += " Required."
    return text.strip()


def _option_lines(parser: argparse.ArgumentParser) -> list[str]:
    formatter = parser._get_formatter()
    lines: list[str] = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            metavar = ""
            if action.nargs != 0:
                metavar = formatter._format_args(
                    action, formatter._get_default_metavar_for_optional(action)
                )
            signature = ", ".join(f"{o} {metavar}".strip() for o in action.option_strings)
        else:
            signature = formatter._get_default_metavar_for_positional(action)
        lines += [f".. option:: {signature}", ""]
        lines += _indent([_escape(_help_text(parser, action)) or "(no help text)"])
        lines.append("")
    return lines


def _example_lines(parser: argparse.ArgumentParser) -> list[str]:
    """The parser's examples (``discT2.cli._parser.Example``) as a list of console blocks."""
    lines: list[str] = []
    for example in getattr(parser, "examples", ()):
        lines += [f"- {_escape(example.what)}", "", "  .. code-block:: console", ""]
        lines += [f"     $ {example.command}", ""]
    return lines


def _literal(text: str) -> list[str]:
    return ["::", "", *_indent(text.rstrip("\n").splitlines()), ""]


def build_page(srcdir: Path) -> tuple[str, list[str]]:
    """The page's reStructuredText and the sub-commands that have no examples."""
    from discT2.cli import get_parser

    # argparse wraps usage lines at the terminal width: fix it so every build writes the same page.
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        return _build_page(get_parser(), srcdir)
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def _build_page(parser: argparse.ArgumentParser, srcdir: Path) -> tuple[str, list[str]]:
    title = "Command line: ``discT2``"
    lines = [
        ".. This page is written by docs/_ext/discT2_cli.py at build time; do not edit.",
        "",
        title,
        "=" * len(title),
        "",
        _escape(parser.description or ""),
        "",
        "Every command is ``discT2 [-v | -q] COMMAND ...``; ``discT2 COMMAND --help`` prints",
        "the same text as this page. Exit status: 0 success, 1 partial (some discs or exams",
        "failed, listed in the output), 2 error (the message says what and how to fix it),",
        "130 interrupted. Logging goes to the standard error stream.",
        "",
        *_literal(parser.format_usage()),
        ".. program:: discT2",
        "",
        *_option_lines(parser),
    ]
    missing = []
    for name, sub in _subparsers(parser).items():
        heading = f"``discT2 {name}``"
        lines += [f".. _cli-{name}:", "", heading, "-" * len(heading), ""]
        lines += [_escape(" ".join((sub.description or "").split())), ""]
        lines += _literal(sub.format_usage())
        lines += [f".. program:: discT2 {name}", "", *_option_lines(sub)]
        if sub.epilog:
            lines += [_escape(sub.epilog), ""]
        examples = _example_lines(sub)
        if examples:
            lines += ["Examples", "^^^^^^^^", "", *examples]
        else:
            missing.append(name)
        if (srcdir / EXAMPLES_DIR / f"{name}.md").is_file():
            lines += [f".. include:: cli_examples/{name}.md", "   :parser: myst_parser.sphinx_", ""]
    return "\n".join(lines) + "\n", missing


def write_page(app: Sphinx) -> None:
    """``builder-inited``: (re)write ``reference/cli.rst``."""
    srcdir = Path(app.srcdir)
    text, missing = build_page(srcdir)
    path = srcdir / OUT_PAGE
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    for name in missing:
        logger.warning(
            "discT2 %s has no examples: give its parser examples=(Example(...), ...)",
            name,
            type="discT2",
        )


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("builder-inited", write_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
