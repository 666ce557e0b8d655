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
from typing import Any

from discT2.cli._choices import EPG_DEFAULTS, FIT_DEFAULTS, FIT_METHODS
from discT2.cli._dicom_out import add_dicom_options, write_results
from discT2.cli._parser import Example
from discT2.errors import InputError

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)

#: The model's own defaults (tests/cli/test_startup.py checks they are the library's).
_DEFAULTS = FIT_DEFAULTS
_EPG = EPG_DEFAULTS

#: Shown by ``discT2 fit --help`` and on the command-line reference page.
EXAMPLES = (
    Example(
        "discT2 fit sample_data/S01/baseline/dicom -o fit/",
        "T2 maps of the one multi-echo series in a DICOM folder: the stimulated-echo (EPG) "
        "model with the slice profile and a smooth B1 field, background masked",
    ),
    Example(
        "discT2 fit sample_data/S02/baseline/dicom -o fit_t1/ --t1-ms 1200 --refocusing-deg 160",
        "the same with the tissue's T1 and the protocol's refocusing angle given",
    ),
    Example(
        "discT2 fit sample_data/S01/baseline/dicom -o fit_nlls/ --method nlls --max-te 100",
        "a mono-exponential fit of the echoes up to 100 ms, to compare with older studies",
    ),
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``discT2 fit``."""
    p = subparsers.add_parser(
        "fit",
        examples=EXAMPLES,
        help="fit T2 maps to one multi-echo series",
        description="Fit per-voxel T2 maps to one multi-echo series (DICOM folder or NIfTI).",
    )
    p.add_argument("path", help="DICOM folder or file, or a 4-D NIfTI with its JSON sidecar")
    p.add_argument("-o", "--output", required=True, help="folder for the maps and fit.json")
    p.add_argument(
        "--method",
        choices=FIT_METHODS,
        default=_DEFAULTS["method"],
        help=f"default: {_DEFAULTS['method']} (stimulated-echo model with slice profile and a "
        "smooth B1 field)",
    )
    p.add_argument("--series", help="which series to fit when PATH holds several")
    p.add_argument("--skip-first-echo", action="store_true", help="leave out the first echo")
    p.add_argument("--max-te", type=float, metavar="MS", help="leave out echoes later than this")
    p.add_argument(
        "--min-echoes",
        type=int,
        default=_DEFAULTS["min_echoes"],
        help="fewest echoes a fit may use",
    )
    low, high = _DEFAULTS["t2_bounds_ms"]
    p.add_argument(
        "--t2-bounds",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=(low, high),
        help=f"T2 bounds in ms (default {low:g} {high:g})",
    )
    p.add_argument(
        "--mask",
        default="auto",
        help="'auto' (drop the background; default), 'none', or a NIfTI mask on the same grid",
    )
    p.add_argument(
        "--sigma",
        type=float,
        help="noise SD per channel (ncexp: else from the background, or the fit residuals)",
    )
    p.add_argument(
        "--refocusing-deg",
        type=float,
        help="epg: nominal refocusing angle (default: from the header, else 180)",
    )
    p.add_argument("--excitation-deg", type=float, help="epg: nominal excitation angle (90)")
    p.add_argument(
        "--t1-ms",
        default=str(_EPG["t1_ms"]),
        metavar="MS_OR_NIFTI",
        help=f"epg: assumed T1, in ms or a NIfTI T1 map (ms) on the series' grid "
        f"(default {_EPG['t1_ms']:g} ms, for disc tissue)",
    )
    p.add_argument("--echo-spacing-ms", type=float, help="epg: echo spacing")
    p.add_argument(
        "--slice-profile",
        choices=("auto", "none", "sinc"),
        default=str(_EPG["slice_profile"]),
        help="epg: 'auto' (default) models the slice profile of 2-D acquisitions "
        "(windowed-sinc pulses) and a uniform slice otherwise; 'none' a uniform slice",
    )
    p.add_argument(
        "--b1",
        default=str(_EPG["b1"]),
        metavar="smooth|voxel|VALUE",
        help="epg: B1 as a smooth field (default), free per voxel, or one fixed value",
    )
    p.add_argument(
        "--b1-fwhm-mm",
        type=float,
        default=_EPG["b1_fwhm_mm"],
        help=f"epg: width of the B1 smoothing (default {_EPG['b1_fwhm_mm']:g} mm)",
    )
    p.add_argument(
        "--min-r2",
        type=float,
        default=_DEFAULTS["min_r2"],
        help="R² below which POOR_FIT is set",
    )
    p.add_argument("--workers", type=int, help="threads (default: all cores)")
    p.add_argument(
        "--chunk-size", type=int, default=_DEFAULTS["chunk_size"], help="voxels per chunk"
    )
    p.add_argument(
        "--quiet", dest="fit_quiet", action="store_true", help="no progress bar or summary"
    )
    add_dicom_options(p, source=False)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Load, fit, write; returns the exit status."""
    import numpy as np

    from discT2._outputs import MAP_BYTES_PER_VOXEL, check_output_folder, staged
    from discT2.fit import EPGOptions, T2Model
    from discT2.io import load_series
    from discT2.maps import FitFlag

    quiet = bool(getattr(args, "quiet", False) or args.fit_quiet)
    series = load_series(args.path, series=args.series)
    check_output_folder(args.output, needed_bytes=MAP_BYTES_PER_VOXEL * series.data[..., 0].size)
    epg = EPGOptions(
        refocusing_deg=args.refocusing_deg,
        excitation_deg=args.excitation_deg,
        t1_ms=_t1(args.t1_ms, series),
        echo_spacing_ms=args.echo_spacing_ms,
        slice_profile=None if args.slice_profile == "none" else args.slice_profile,
        b1=_b1(args.b1),
        b1_fwhm_mm=args.b1_fwhm_mm,
    )
    model = T2Model(
        series.echo_times_ms,
        args.method,
        skip_first_echo=args.skip_first_echo,
        max_te_ms=args.max_te,
        min_echoes=args.min_echoes,
        t2_bounds_ms=tuple(args.t2_bounds),
        sigma=args.sigma,
        epg=epg,
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
    if args.dicom_out is not None:
        series_uid = t2map.meta.get("series_instance_uid")
        write_results(args, args.path, series_uid or args.series, t2map=t2map)
    if not quiet:
        valid = t2map.valid()
        counts = t2map.provenance["flag_counts"]
        median = float(np.median(t2map.t2_ms[valid])) if valid.any() else float("nan")
        prov = t2map.provenance
        logger.info(
            "%d voxels fitted (%s) in %.1f s: median T2 %.1f ms; %d failed, %d at a bound, "
            "%d below / %d above the resolvable range, %d poor fits%s",
            prov["n_fitted"],
            _model_summary(prov),
            prov["elapsed_s"],
            median,
            counts[FitFlag.FAILED.name],
            counts[FitFlag.AT_BOUND.name],
            counts[FitFlag.T2_BELOW_RANGE.name],
            counts[FitFlag.T2_ABOVE_RANGE.name],
            counts[FitFlag.POOR_FIT.name],
            f", {counts[FitFlag.OFFSET_UNRESOLVED.name]} with an unresolved offset"
            if args.method == "offset"
            else "",
        )
        logger.info("wrote %s", ", ".join(sorted(p.name for p in written.values())))
    return 0


def _model_summary(prov: dict) -> str:
    """The method and, for epg, where its assumptions came from, in a few words."""
    if prov["method"] != "epg":
        return prov["method"]
    t1 = prov.get("t1_ms_assumed")
    t1_text = f"T1 {t1:g} ms" if isinstance(t1, (int, float)) else "T1 map"
    return (
        f"epg: refocusing {prov['refocusing_deg_used']:g} deg ({prov['refocusing_source']}), "
        f"{t1_text}, B1 {prov['b1_mode']}, slice profile "
        f"{prov['slice_profile_used'].split(':')[0]}"
    )


def _t1(value: str, series: Any) -> Any:
    """``--t1-ms``: a number of ms, or a NIfTI T1 map (ndarray) on the series' grid."""
    import numpy as np

    from discT2.io.nifti import load_map

    try:
        return float(value)
    except ValueError:
        pass
    t1, affine = load_map(value)
    if t1.ndim == 4 and t1.shape[3] == 1:
        t1 = t1[..., 0]
    if t1.shape != series.shape:
        raise InputError(
            f"{value}: T1 map has shape {t1.shape}; the series' voxel grid is {series.shape} "
            "(--t1-ms takes a number of ms or a T1 map on the series' grid)"
        )
    if not np.allclose(affine, series.affine, atol=1e-3):
        raise InputError(f"{value}: the T1 map's affine differs from the series' (--t1-ms)")
    return np.asarray(t1, dtype=np.float64)


def _b1(value: str) -> str | float:
    """``--b1``: 'smooth', 'voxel' or a number."""
    if value in ("smooth", "voxel"):
        return value
    try:
        return float(value)
    except ValueError:
        raise InputError(f"--b1 must be 'smooth', 'voxel' or a number; got {value!r}") from None


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
