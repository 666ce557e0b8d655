"""The argument parser of the ``discT2`` command: examples in ``--help``, one-line errors.

Every sub-command registers its parser with ``examples=`` (a sequence of :class:`Example`);
``discT2 COMMAND --help`` prints them after the options, and the documentation's command-line
page (``docs/_ext/discT2_cli.py``) shows the same ones, so the two cannot drift apart.
This module imports nothing beyond the standard library: the parsers are built on every start.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import NamedTuple, NoReturn

__all__ = ["CommandParser", "Example", "option_names"]


class Example(NamedTuple):
    """One example command of a sub-command, as ``--help`` and the reference page show it."""

    #: The whole command line, starting with ``discT2``.
    command: str
    #: What it does, in a few words.
    what: str


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that prints examples in ``--help`` and short errors.

    Parameters
    ----------
    *args, **kwargs
        As for :class:`argparse.ArgumentParser`.
    examples : sequence of Example, optional
        Example commands, printed after the options by ``--help``.
    """

    def __init__(self, *args, examples: Sequence[Example] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.examples: tuple[Example, ...] = tuple(examples)

    def format_help(self) -> str:
        """The usual help text, then the examples."""
        text = super().format_help()
        if not self.examples:
            return text
        lines = ["", "examples:"]
        for example in self.examples:
            lines += [f"  {example.command}", f"      {example.what}"]
        return text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"

    def error(self, message: str) -> NoReturn:
        """Print the error in one line and where to read the options (not the whole usage)."""
        self.exit(2, f"{self.prog}: error: {message}\nSee '{self.prog} --help'.\n")


_KEYWORD = re.compile(r"(?<![\w.-])([a-z][a-z0-9_]*)=(?!=)(\S?)")


def option_names(message: str, parser: argparse.ArgumentParser) -> str:
    """An error message with the Python keywords it suggests named as this command's options.

    The library's messages speak to Python callers (``choose one with series=``); on the command
    line the same choice is an option (``--series``). Only keywords that are options of
    ``parser`` are changed.

    Parameters
    ----------
    message : str
        The error message.
    parser : argparse.ArgumentParser
        The parser of the sub-command that ran.

    Returns
    -------
    str
        The message with ``name=`` replaced by ``--name`` (``name=value`` by ``--name value``)
        where that option exists.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("--series")
    >>> _ = p.add_argument("--min-echoes")
    >>> option_names("2 series found; choose one with series= (number or UID)", p)
    '2 series found; choose one with --series (number or UID)'
    >>> option_names("nlls with min_echoes=3 needs 3 echoes; affine= is not an option", p)
    'nlls with --min-echoes 3 needs 3 echoes; affine= is not an option'
    """
    options = {o for action in parser._actions for o in action.option_strings}

    def replace(match: re.Match) -> str:
        option = "--" + match.group(1).replace("_", "-")
        if option not in options:
            return match.group(0)
        value = match.group(2)  # the first character of a value written right after the '='
        return f"{option} {value}" if value and value != "(" else option + value

    return _KEYWORD.sub(replace, message)
