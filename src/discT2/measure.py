"""ROI statistics of a T2 map: one row per disc x ROI, the five ROIs and NP, AF, whole disc."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from discT2.errors import GeometryError, InputError
from discT2.maps import FitFlag, T2Map
from discT2.roi.levels import DERIVED_ROIS, ROI_NAMES, label_value
from discT2.roi.rois import DiscROIs

__all__ = ["DEFAULT_T2_RANGE_MS", "MEASURE_COLUMNS", "measure"]

logger = logging.getLogger(__name__)

#: Plausible T2 in discs: outside it a voxel is excluded.
DEFAULT_T2_RANGE_MS: tuple[float, float] = (5.0, 1000.0)

#: The first columns of the table, as ``measurements.csv`` (docs/reference/formats.md) without the
#: exam columns (subject, visit, months, role) that the study runner adds in front.
MEASURE_COLUMNS: tuple[str, ...] = (
    "level",
    "roi",
    "n_voxels",
    "n_excluded",
    "t2_mean_ms",
    "t2_median_ms",
    "t2_sd_ms",
    "method",
)

_EXTRA_COLUMNS: tuple[str, ...] = (
    "t2_sem_ms",
    "t2_fit_se_ms",
    "n_failed",
    "n_out_of_range",
    "slice",
    "n_slices",
    "made_by",
    "reader",
    "pfirrmann",
    "qa_flags",
)

_DEFAULT_EXCLUDE = FitFlag.FAILED | FitFlag.MASKED | FitFlag.POOR_FIT


def measure(
    t2map: T2Map,
    rois: DiscROIs,
    *,
    t2_range_ms: tuple[float, float] = DEFAULT_T2_RANGE_MS,
    exclude_flags: int = int(_DEFAULT_EXCLUDE),
    min_r2: float | None = None,
    levels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """T2 statistics of every disc ROI.

    Parameters
    ----------
    t2map : T2Map
        The fitted map, on the grid the ROIs were placed on.
    rois : DiscROIs
        The labelled ROIs (:func:`discT2.place_rois`).
    t2_range_ms : (float, float)
        Plausible T2 range; voxels outside it are excluded (default 5-1000 ms).
    exclude_flags : int
        :class:`~discT2.maps.FitFlag` bits that exclude a voxel (default failed, masked and
        poor fit). NaN T2 is always excluded.
    min_r2 : float, optional
        Also exclude voxels whose fit R² is below this.
    levels : sequence of str, optional
        Only these discs (default all).

    Returns
    -------
    pandas.DataFrame
        One row per disc x ROI: the five ROIs (anterior to posterior), then ``NP`` (ROIs 2-4),
        ``AF`` (1 and 5) and ``disc`` (1-5), each pooling its voxels (voxel-weighted). Columns
        ``level, roi, n_voxels, n_excluded, t2_mean_ms, t2_median_ms, t2_sd_ms, method`` (as
        ``measurements.csv``), then ``t2_sem_ms`` (SD / sqrt n), ``t2_fit_se_ms`` (error of the
        mean from the voxels' own fit SDs, sqrt(sum sd²) / n), ``n_failed`` (failed, masked or
        NaN), ``n_out_of_range`` (implausible T2 or R²), ``slice``, ``n_slices``, ``made_by``,
        ``reader``, ``pfirrmann`` and ``qa_flags`` (``;``-separated). ``n_voxels`` counts the
        voxels used; ``n_voxels + n_excluded`` is the ROI's size. The SD is the sample SD
        (ddof 1); statistics of an ROI with no usable voxel are NaN.

    Raises
    ------
    GeometryError
        The map and the ROIs are on different grids.
    InputError
        A bad T2 range.

    Examples
    --------
    >>> import numpy as np
    >>> from discT2 import T2Map, DiscGeometry, place_rois, measure
    >>> affine = np.array([[0, 0, 4.0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    >>> t2 = np.full((60, 40, 1), 100.0)
    >>> m = T2Map(t2_ms=t2, s0=t2, t2_sd_ms=t2 * 0, r2=t2 * 0 + 1, rmse=t2 * 0,
    ...           flags=np.zeros(t2.shape), affine=affine)
    >>> disc = DiscGeometry("L4-L5", corners_ras_mm={
    ...     "AS": [0, 50, 25], "PS": [0, 10, 25], "AI": [0, 50, 15], "PI": [0, 10, 15]})
    >>> table = measure(m, place_rois(m, [disc]))
    >>> table.loc[table.roi == "NP", ["n_voxels", "t2_mean_ms"]].values.tolist()
    [[216.0, 100.0]]
    """
    lo, hi = (float(v) for v in t2_range_ms)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise InputError(f"t2_range_ms must be (low, high) with low < high; got {t2_range_ms}")
    if tuple(t2map.shape) != tuple(rois.shape) or not np.allclose(
        t2map.affine, rois.affine, atol=1e-3
    ):
        raise GeometryError(
            f"the T2 map (shape {t2map.shape}) and the ROIs (shape {rois.shape}) are not on the "
            "same grid; place the ROIs on the fitted series (or its T2 map)"
        )
    t2 = np.asarray(t2map.t2_ms, dtype=np.float64)
    flags = np.asarray(t2map.flags, dtype=np.uint16)
    failed = ~np.isfinite(t2) | ((flags & np.uint16(exclude_flags)) != 0)
    with np.errstate(invalid="ignore"):
        implausible = (t2 < lo) | (t2 > hi)
        if min_r2 is not None and t2map.r2 is not None:
            r2 = np.asarray(t2map.r2, dtype=np.float64)
            implausible |= np.isfinite(r2) & (r2 < float(min_r2))
    implausible &= ~failed
    sd_map = None if t2map.t2_sd_ms is None else np.asarray(t2map.t2_sd_ms, np.float64)
    wanted = None if levels is None else {rois.disc(lv).level for lv in levels}
    rows = []
    labels = rois.labels
    for disc in rois.discs:
        if wanted is not None and disc.level not in wanted:
            continue
        qa = disc.qa or {}
        common = {
            "slice": disc.slice,
            "n_slices": len(qa.get("slices", [])) or None,
            "made_by": disc.method,
            "reader": disc.reader,
            "pfirrmann": disc.pfirrmann,
            "qa_flags": ";".join(qa.get("flags", [])),
        }
        groups = [(name, (k,)) for k, name in enumerate(ROI_NAMES, 1)]
        groups += list(DERIVED_ROIS.items())
        for name, members in groups:
            values = [label_value(disc.level, k) for k in members]
            in_roi = np.isin(labels, values)
            rows.append(
                {
                    "level": disc.level,
                    "roi": name,
                    **_stats(t2, sd_map, in_roi, failed, implausible),
                    "method": t2map.method,
                    **common,
                }
            )
    table = pd.DataFrame(rows, columns=[*MEASURE_COLUMNS, *_EXTRA_COLUMNS])
    for col in ("n_voxels", "n_excluded", "n_failed", "n_out_of_range"):
        table[col] = table[col].astype("int64")
    for col in ("slice", "n_slices", "pfirrmann"):
        table[col] = table[col].astype("Int64")
    return table


def _stats(
    t2: np.ndarray,
    sd_map: np.ndarray | None,
    in_roi: np.ndarray,
    failed: np.ndarray,
    implausible: np.ndarray,
) -> dict[str, float | int]:
    n_failed = int(np.count_nonzero(in_roi & failed))
    n_range = int(np.count_nonzero(in_roi & implausible))
    use = in_roi & ~failed & ~implausible
    values = t2[use]
    n = int(values.size)
    out: dict[str, float | int] = {
        "n_voxels": n,
        "n_excluded": n_failed + n_range,
        "t2_mean_ms": float(values.mean()) if n else np.nan,
        "t2_median_ms": float(np.median(values)) if n else np.nan,
        "t2_sd_ms": float(values.std(ddof=1)) if n > 1 else np.nan,
        "n_failed": n_failed,
        "n_out_of_range": n_range,
    }
    out["t2_sem_ms"] = out["t2_sd_ms"] / np.sqrt(n) if n > 1 else np.nan
    if sd_map is not None and n:
        sd = sd_map[use]
        out["t2_fit_se_ms"] = (
            float(np.sqrt(np.sum(sd * sd)) / n) if np.all(np.isfinite(sd)) else np.nan
        )
    else:
        out["t2_fit_se_ms"] = np.nan
    return out
