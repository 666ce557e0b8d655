"""``discT2 fit``: T2 maps of one multi-echo series.

Writes ``t2.nii.gz`` (ms), ``s0.nii.gz``, ``t2_sd.nii.gz``, ``r2.nii.gz``, ``rmse.nii.gz``,
``flags.nii.gz`` and ``fit.json`` (provenance), plus ``b1.nii.gz`` for ``epg`` and
``offset.nii.gz`` for ``offset``, all on the series' grid with its affine.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Callable

import numpy as np

from discT2._outputs import MAP_BYTES_PER_VOXEL, check_output_folder, staged
from discT2.fit import FIT_METHODS, T2Model
from discT2.io import load_series
from discT2.maps import FitFlag

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``discT2 fit``."""
    p = subparsers.add_parser(
        "fit",
        help="fit T2 maps to one multi-echo series",
        description="Fit per-voxel T2 maps to one multi-echo series (DICOM folder or NIfTI).",
    )
    p.add_argument("path", help="DICOM folder or file, or a 4-D NIfTI with its JSON sidecar")
    p.add_argument("-o", "--output", required=True, help="folder for the maps and fit.json")
    p.add_argument("--method", choices=FIT_METHODS, default="nlls", help="default: nlls")
    p.add_argument("--series", help="which series to fit when PATH holds several")
    p.add_argument("--skip-first-echo", action="store_true", help="leave out the first echo")
    p.add_argument("--max-te", type=float, metavar="MS", help="leave out echoes later than this")
    p.add_argument("--min-echoes", type=int, default=3, help="fewest echoes a fit may use")
    p.add_argument(
        "--t2-bounds",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=(1.0, 5000.0),
        help="T2 bounds in ms (default 1 5000)",
    )
    p.add_argument(
        "--mask",
        default="auto",
        help="'auto' (drop the background; default), 'none', or a NIfTI mask on the same grid",
    )
    p.add_argument("--sigma", type=float, help="noise SD per channel (ncexp: else from background)")
    p.add_argument("--refocusing-deg", type=float, help="epg: nominal refocusing angle")
    p.add_argument("--excitation-deg", type=float, help="epg: nominal excitation angle (90)")
    p.add_argument("--t1-ms", type=float, default=1000.0, help="epg: assumed T1 (1000 ms)")
    p.add_argument("--echo-spacing-ms", type=float, help="epg: echo spacing")
    p.add_argument(
        "--slice-profile",
        choices=("none", "sinc"),
        default="none",
        help="epg: model the 2-D slice profile (windowed-sinc pulses)",
    )
    p.add_argument("--min-r2", type=float, default=0.9, help="R² below which POOR_FIT is set")
    p.add_argument("--workers", type=int, help="threads (default: all cores)")
    p.add_argument("--chunk-size", type=int, default=16384, help="voxels per chunk")
    p.add_argument(
        "--quiet", dest="fit_quiet", action="store_true", help="no progress bar or summary"
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Load, fit, write; returns the exit status."""
    quiet = bool(getattr(args, "quiet", False) or args.fit_quiet)
    series = load_series(args.path, series=args.series)
    check_output_folder(args.output, needed_bytes=MAP_BYTES_PER_VOXEL * series.data[..., 0].size)
    model = T2Model(
        series.echo_times_ms,
        args.method,
        skip_first_echo=args.skip_first_echo,
        max_te_ms=args.max_te,
        min_echoes=args.min_echoes,
        t2_bounds_ms=tuple(args.t2_bounds),
        sigma=args.sigma,
        refocusing_deg=args.refocusing_deg,
        excitation_deg=args.excitation_deg,
        t1_ms=args.t1_ms,
        echo_spacing_ms=args.echo_spacing_ms,
        slice_profile=None if args.slice_profile == "none" else args.slice_profile,
        min_r2=args.min_r2,
        workers=args.workers,
        chunk_size=args.chunk_size,
    )
    if not quiet:
        logger.info("fitting %r with %s", series, model)
    progress, close = _progress_bar(enabled=not quiet and sys.stderr.isatty())
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t2map = model.fit(series, mask=args.mask, progress=progress)
    finally:
        close()
    for warning in caught:
        logger.warning("%s", warning.message)
    with staged(args.output) as staging:
        written = t2map.save(staging)
    if not quiet:
        valid = t2map.valid()
        counts = t2map.provenance["flag_counts"]
        median = float(np.median(t2map.t2_ms[valid])) if valid.any() else float("nan")
        logger.info(
            "%d voxels fitted in %.1f s: median T2 %.1f ms; %d failed, %d at a bound, "
            "%d below / %d above the resolvable range, %d poor fits",
            t2map.provenance["n_fitted"],
            t2map.provenance["elapsed_s"],
            median,
            counts[FitFlag.FAILED.name],
            counts[FitFlag.AT_BOUND.name],
            counts[FitFlag.T2_BELOW_RANGE.name],
            counts[FitFlag.T2_ABOVE_RANGE.name],
            counts[FitFlag.POOR_FIT.name],
        )
        logger.info("wrote %s", ", ".join(sorted(p.name for p in written.values())))
    return 0


def _progress_bar(enabled: bool) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A tqdm bar fed by the fit's ``progress(done, total)``, or nothing."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="voxel", unit_scale=True, desc="fit", file=sys.stderr, leave=False)

    def update(done: int, total: int) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    return update, bar.close
