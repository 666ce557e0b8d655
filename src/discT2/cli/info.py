"""``discT2 info PATH``: list the multi-echo series (and scanner T2 maps) a path holds."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from discT2.cli._parser import Example

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)


#: Shown by ``discT2 info --help`` and on the command-line reference page.
EXAMPLES = (
    Example(
        "discT2 info sample_data/S02/baseline/dicom",
        "the series in an exam folder: number, vendor, echoes, matrix, voxel size",
    ),
    Example(
        "discT2 info --notes sample_data/S04/baseline/dicom",
        "also what the reader skipped (localizers, phase images) or merged",
    ),
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``discT2 info``."""
    parser = subparsers.add_parser(
        "info",
        examples=EXAMPLES,
        help="list the multi-echo series found in a DICOM folder or NIfTI file",
        description=(
            "Print one line per multi-echo series (and per scanner-computed T2 map) found under "
            "PATH: number and description, vendor, echoes and echo times, matrix, slices, voxel "
            "size, orientation. Series that cannot be loaded say why."
        ),
    )
    parser.add_argument("path", type=Path, help="DICOM folder or file, or NIfTI file")
    parser.add_argument(
        "--notes", action="store_true", help="also print what the reader skipped or merged"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the series; exit status 0 when a multi-echo series can be loaded, else 1."""
    # The DICOM scanner logs its notes; this command prints them itself, once.
    scanner = logging.getLogger("discT2.io.dicom.grouping")
    saved_level = scanner.level
    scanner.setLevel(max(saved_level, logging.WARNING))
    try:
        return _print_series(args)
    finally:
        scanner.setLevel(saved_level)


def _print_series(args: argparse.Namespace) -> int:
    from discT2.errors import DicomSeriesError
    from discT2.io import find_series, is_nifti
    from discT2.io.dicom import scan_dicom

    infos = find_series(args.path)
    for info in infos:
        print(info.summary())
        if args.notes:
            for note in info.notes:
                print(f"    note: {note}")
    loadable = [i for i in infos if i.kind == "multi-echo" and i.loadable]
    if (args.notes or not loadable) and not is_nifti(args.path):
        try:
            scan = scan_dicom(args.path)
        except DicomSeriesError:  # a folder of NIfTI files
            scan = None
        if scan is not None:
            for note in scan.notes:
                print(f"note: {note}")
            if scan.skipped:
                print(f"skipped: {scan.skipped_text()}")
    if not loadable:
        logger.warning("%s: no multi-echo series that can be loaded", args.path)
        return 1
    return 0
