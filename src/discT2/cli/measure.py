"""``discT2 measure``: T2 statistics of every disc ROI as a tidy CSV."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from discT2.cli._dicom_out import add_dicom_options, recorded_source, write_results
from discT2.cli._parser import Example

logger = logging.getLogger("discT2")


#: Shown by ``discT2 measure --help`` and on the command-line reference page.
EXAMPLES = (
    Example(
        "discT2 measure fit/ rois/ -o measurements.csv",
        "T2 of every ROI (and NP, AF, whole disc) from what 'fit' and 'rois' wrote",
    ),
    Example(
        "discT2 measure fit/ rois/ -o strict.csv --t2-range 10 500 --min-r2 0.95",
        "a narrower plausible T2 range, and voxels with a poor fit left out",
    ),
)


def add_parser(subparsers: Any) -> None:
    """Register ``discT2 measure``."""
    p = subparsers.add_parser(
        "measure",
        examples=EXAMPLES,
        help="T2 statistics of the disc ROIs (tidy CSV)",
        description=(
            "Mean, median and SD of T2 in each disc ROI and in the derived NP (ROIs 2-4), AF "
            "(1 and 5) and whole disc, with the number of voxels used and excluded (failed fits, "
            "T2 outside the plausible range)."
        ),
    )
    p.add_argument("t2map", help="fitted t2.nii.gz or its folder")
    p.add_argument("rois", help="the folder 'discT2 rois' wrote, or its rois.json")
    p.add_argument("-o", "--out", required=True, help="output CSV file")
    p.add_argument(
        "--t2-range",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=(5.0, 1000.0),
        help="plausible T2 in ms; voxels outside are excluded (default 5 1000)",
    )
    p.add_argument("--min-r2", type=float, help="also exclude voxels whose fit R2 is below this")
    add_dicom_options(p, source=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure and write the CSV."""
    from discT2.maps import T2Map
    from discT2.measure import measure
    from discT2.roi import DiscROIs

    t2map = T2Map.load(args.t2map)
    rois = DiscROIs.load(args.rois)
    table = measure(t2map, rois, t2_range_ms=tuple(args.t2_range), min_r2=args.min_r2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    table.to_csv(tmp, index=False, float_format="%.6g")
    os.replace(tmp, out)
    for row in table[table.roi.isin(["NP", "AF", "disc"])].itertuples():
        logger.info(
            "%s %-4s T2 %.1f ms (n %d, excluded %d)",
            row.level,
            row.roi,
            row.t2_mean_ms,
            row.n_voxels,
            row.n_excluded,
        )
    logger.info("wrote %s (%d rows)", out, len(table))
    if args.dicom_out is not None:
        source = recorded_source(args, t2map)
        write_results(args, source, t2map=t2map, rois=rois, measurements=table)
    return 0
