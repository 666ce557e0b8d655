"""The ``discT2`` console script: one sub-command per module in this package.

Each sub-command module defines ``add_parser(subparsers)``, which registers its parser (with
``examples=``, see :mod:`discT2.cli._parser`) and sets ``func`` to a callable ``(args) -> int``; a
new sub-command is one more name in :data:`SUBCOMMANDS`. The commands hold no science: they parse
arguments, call the library API, and report. The modules import the library inside ``func``, so
that building the parsers (``discT2 --help``, every start) imports nothing heavy.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from discT2._version import __version__
from discT2.cli._parser import CommandParser, option_names
from discT2.errors import DiscT2Error

__all__ = ["get_parser", "main"]

#: Sub-command modules, in the order ``discT2 --help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "info",
    "fit",
    "rois",
    "measure",
    "run",
    "report",
    "agreement",
    "demo",
    "simulate",
)

logger = logging.getLogger("discT2")


def get_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``discT2`` command and all its sub-commands."""
    parser = CommandParser(
        prog="discT2",
        description="Quantitative T2 mapping of lumbar intervertebral discs.",
    )
    parser.add_argument("--version", action="version", version=f"discT2 {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="only errors; no progress bars"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"discT2.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``discT2`` command line; returns the exit status (0 success, 1 partial, 2 error).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``discT2`` (default: ``sys.argv[1:]``).
    """
    parser = get_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    # Restored afterwards: main() may be called from Python (a notebook, a test), whose own
    # logging must work again once the command is done.
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    try:
        return int(args.func(args) or 0)
    except DiscT2Error as exc:
        logger.error("%s", option_names(str(exc), _subparser(parser, args.command)))
        return 2
    except OSError as exc:  # a full disk, a file in the way of an output, permissions
        logger.error("%s", f"{exc.filename}: {exc.strerror}" if exc.filename else exc)
        return 2
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 130
    finally:
        logger.handlers[:], level, logger.propagate = saved
        logger.setLevel(level)


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of sub-command ``name``."""
    for action in parser._actions:  # argparse has no public accessor for sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
