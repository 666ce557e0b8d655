"""The ``discT2`` console script: one sub-command per module in this package.

Each sub-command module defines ``add_parser(subparsers)``, which registers its parser and sets
``func`` to a callable ``(args) -> int``. The commands hold no science: they parse arguments, call
the library API, and report.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from discT2._version import __version__
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
    "demo",
    "simulate",
)

logger = logging.getLogger("discT2")


def get_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``discT2`` command and all its sub-commands."""
    parser = argparse.ArgumentParser(
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
        logger.error("%s", exc)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
