"""``discT2 rois``: the five ROIs of each disc, from discs.json or found automatically."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from discT2.cli._dicom_out import add_dicom_options, recorded_source, write_results
from discT2.cli._parser import Example
from discT2.errors import InputError, RoiError

logger = logging.getLogger("discT2")


#: Shown by ``discT2 rois --help`` and on the command-line reference page.
EXAMPLES = (
    Example(
        "discT2 rois fit/ --discs sample_data/S01/baseline/truth/discs.json -o rois/",
        "the five ROIs of each disc in a discs.json, on the maps 'discT2 fit' wrote",
    ),
    Example(
        "discT2 rois fit/ --auto -o rois_auto/",
        "find the lumbar discs automatically (flagged for review)",
    ),
    Example(
        "discT2 rois sample_data/S01/baseline/dicom --auto --slices 1 -o rois_3/",
        "on the series itself; ROIs on the mid-sagittal slice and one slice each side",
    ),
)


def add_parser(subparsers: Any) -> None:
    """Register ``discT2 rois``."""
    p = subparsers.add_parser(
        "rois",
        examples=EXAMPLES,
        help="place the 5 ROIs of each disc (writes rois.json, rois.nii.gz, discs.json)",
        description=(
            "Place the five ROIs of each disc (anterior annulus, three nucleus, posterior "
            "annulus) on a fitted T2 map or on a multi-echo series, from a discs.json (corners, "
            "outline or one centre per disc) or found automatically (--auto)."
        ),
    )
    p.add_argument(
        "path",
        help="fitted t2.nii.gz (or its folder), a 4-D NIfTI series, or a DICOM folder",
    )
    p.add_argument("--discs", help="discs.json with the disc geometry (RAS mm)")
    p.add_argument(
        "--auto",
        action="store_true",
        help="find the lumbar discs automatically (flagged for review); with --discs, only "
        "the levels not in discs.json are added",
    )
    p.add_argument(
        "--lowest-level",
        default="L5-S1",
        help="level of the lowest disc found by --auto (default L5-S1)",
    )
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--series", help="which series of a DICOM folder (number, UID or description)")
    p.add_argument(
        "--slices", type=int, default=0, help="also use k slices each side (mid +- k; default 0)"
    )
    p.add_argument(
        "--fractions",
        type=float,
        nargs=6,
        metavar="F",
        help="band boundaries along the endplates (default 0 0.2 0.4 0.6 0.8 1)",
    )
    p.add_argument(
        "--endplate-margin", type=float, default=1.0, help="margin at the endplates (default 1)"
    )
    p.add_argument(
        "--outer-margin",
        type=float,
        default=1.0,
        help="margin at the anterior and posterior edges (default 1)",
    )
    p.add_argument(
        "--margin-unit", choices=("voxel", "mm"), default="voxel", help="unit of the margins"
    )
    p.add_argument("--reader", default="", help="who placed or reviews the discs (free text)")
    p.add_argument(
        "--anatomical",
        action="store_true",
        help="PATH is a single-echo (T2-weighted) series or 3-D image: place the ROIs on it "
        "from --discs (for disc height and grading; only the T2 fit needs several echoes)",
    )
    add_dicom_options(p, source=True)
    p.set_defaults(func=run)


def load_image(path: str | Path, series: str | None = None) -> Any:
    """A T2Map (3-D NIfTI or a fit folder) or a MultiEchoSeries (4-D NIfTI or DICOM)."""
    import nibabel as nib

    from discT2.io.nifti import is_nifti, load_nifti_series
    from discT2.maps import MAP_FILES, T2Map

    path = Path(path)
    if path.is_dir() and (path / MAP_FILES["t2_ms"]).is_file():
        return T2Map.load(path)
    if path.is_file() and is_nifti(path):
        try:
            ndim = len(nib.load(path).shape)
        except Exception as exc:  # nibabel raises many types for broken files
            raise InputError(f"{path}: not a readable NIfTI image ({exc})") from exc
        return T2Map.load(path) if ndim == 3 else load_nifti_series(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    try:
        from discT2.io import load_series  # type: ignore[attr-defined]
    except ImportError as exc:
        raise InputError(
            f"{path}: reading DICOM needs discT2.io.load_series, which this installation lacks; "
            "give a fitted t2.nii.gz or a 4-D NIfTI series"
        ) from exc
    return load_series(path, series=series)


def run(args: argparse.Namespace) -> int:
    """Place the ROIs and write rois.json, rois.nii.gz and discs.json."""
    from discT2._outputs import check_output_folder, staged
    from discT2.roi import DEFAULT_FRACTIONS, detect_discs, load_discs, place_rois, save_discs

    if not args.discs and not args.auto:
        raise InputError("give --discs discs.json, or --auto to find the discs automatically")
    check_output_folder(args.out)
    if args.anatomical:
        from discT2.io.anatomical import load_anatomical

        if args.auto:
            raise InputError("--auto needs a T2 map or a multi-echo series, not --anatomical")
        image = load_anatomical(args.path, args.series)
    else:
        image = load_image(args.path, args.series)
    discs = load_discs(args.discs) if args.discs else []
    if args.discs and not discs and not args.auto:
        raise RoiError(f"{args.discs}: no discs listed; nothing to place (or add --auto)")
    if args.auto:
        have = {d.level for d in discs}
        found = detect_discs(image, lowest_level=args.lowest_level, reader=args.reader)
        discs += [d for d in found if d.level not in have]
        logger.info("found %d discs automatically: %s", len(found), [d.level for d in found])
    rois = place_rois(
        image,
        discs,
        fractions=args.fractions or DEFAULT_FRACTIONS,
        endplate_margin=args.endplate_margin,
        outer_margin=args.outer_margin,
        margin_unit=args.margin_unit,
        slices=args.slices,
        reader=args.reader,
        on_error="flag",
    )
    if not rois.discs:
        reasons = "; ".join(f"{f['level']}: {f['error']}" for f in rois.failed) or "no discs"
        raise RoiError(f"{args.path}: no disc could be placed ({reasons}); nothing written")
    if args.discs:
        rois.provenance["discs_file"] = str(args.discs)
    out = Path(args.out)
    with staged(out) as staging:
        written = {k: out / p.name for k, p in rois.save(staging).items()}
        save_discs(rois.discs, staging / "discs.json")
    for disc in rois.discs:
        counts = disc.qa.get("n_voxels", {})
        flags = ", ".join(disc.qa.get("flags", [])) or "-"
        logger.info(
            "%s (%s, slice %s): voxels %s; flags %s",
            disc.level,
            disc.method,
            disc.slice,
            "/".join(str(n) for n in counts.values()),
            flags,
        )
    for failure in rois.failed:
        logger.error("%s not placed: %s", failure["level"], failure["error"])
    logger.info("wrote %s and %s", written["json"], written["labels"])
    if args.dicom_out is not None and rois.discs:
        series_uid = image.meta.get("series_instance_uid") or args.series
        write_results(args, recorded_source(args, image), series_uid, rois=rois)
    return 1 if rois.failed else 0
