"""Change from baseline per disc and ROI, treated disc versus its controls, and change categories.

The arithmetic (docs/methods/reporting.md):

* % of baseline ``P = 100 * T2_t / T2_0`` and change ``P - 100``, per subject, disc, ROI and
  follow-up visit. The derived ROIs ``NP``, ``AF`` and ``disc`` use their own (voxel-weighted) T2,
  not the mean of the ROIs' % changes.
* On the index (treated) disc's rows: ``control_change_pct`` = mean change of the control discs,
  ``treated_minus_control_pct`` = change of the index disc minus that mean, and
  ``ratio_change_pct`` = ``100 * ((T2_T / mean T2_C) at t / (same at baseline) - 1)``. The controls
  used are those measured at both visits, named in ``control_levels``.
* Category: ``regeneration`` if the change, rounded to ``rounding_pct``, is above ``+tau``,
  ``degeneration`` if below ``-tau``, ``no evolution`` otherwise.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from discT2.errors import InputError
from discT2.report._names import (
    CATEGORIES,
    CHANGE_COLUMNS,
    DERIVED_ROIS,
    level_rank,
    roi_rank,
)
from discT2.report._visits import baseline_visits, rank_map
from discT2.report.drift import protocol_drift
from discT2.report.io import check_measurements

__all__ = ["add_derived_rois", "categorize", "change_table", "pooled_outside_parts", "round_pct"]

logger = logging.getLogger(__name__)

_KEY = ["subject", "visit", "level", "roi"]


def round_pct(values: np.ndarray | float, step: float = 0.1) -> np.ndarray:
    """Round percentages to the nearest multiple of ``step``, halves away from zero.

    Float noise is ignored at the half: a change computed as 0.04999999999999716 % is the
    arithmetic 0.05 % and rounds to 0.1 %, as it would by hand.

    Parameters
    ----------
    values : array_like
        Percentages (NaN passes through).
    step : float
        Rounding step in %; 0 or None returns the values unchanged.

    Returns
    -------
    ndarray
        The rounded values.

    Examples
    --------
    >>> round_pct([0.05, -0.05, 0.04, 1.26, -1.25], 0.1).tolist()
    [0.1, -0.1, 0.0, 1.3, -1.3]
    """
    x = np.asarray(values, dtype=float)
    if not step:
        return x
    if step < 0:
        raise InputError(f"rounding step must be >= 0 %, got {step}")
    steps = np.floor(np.round(np.abs(x) / step, 9) + 0.5)
    # round() again so that 3 * 0.1 prints as 0.3, not 0.30000000000000004
    decimals = max(0, int(np.ceil(-np.log10(step))) + 2)
    return np.round(np.sign(x) * steps * step, decimals) + 0.0


def categorize(
    change_pct: np.ndarray | float, *, tau_pct: float = 0.0, rounding_pct: float | None = 0.1
) -> np.ndarray:
    """Classify changes as ``regeneration``, ``no evolution`` or ``degeneration``.

    Parameters
    ----------
    change_pct : array_like
        Changes from baseline (%).
    tau_pct : float
        Threshold tau (%, >= 0): regeneration if the rounded change is above ``+tau``,
        degeneration if below ``-tau``, no evolution otherwise.
    rounding_pct : float or None
        Round the change to this step (%) before comparing (see :func:`round_pct`); None or 0
        compares the exact values.

    Returns
    -------
    ndarray of object
        One of :data:`CATEGORIES` per value; ``''`` where the change is NaN.

    Examples
    --------
    >>> categorize([0.04, 0.05, -0.2, 3.0], tau_pct=0.0).tolist()
    ['no evolution', 'regeneration', 'degeneration', 'regeneration']
    >>> categorize([3.0, -5.04], tau_pct=5.0).tolist()
    ['no evolution', 'no evolution']
    """
    if not (np.isfinite(tau_pct) and tau_pct >= 0):
        raise InputError(f"tau_pct must be a number >= 0 (%), got {tau_pct}")
    x = round_pct(change_pct, rounding_pct or 0.0)
    # A tiny margin so that a rounded value equal to tau (up to float noise) is "no evolution".
    eps = 1e-9 * max(1.0, tau_pct)
    out = np.full(x.shape, "", dtype=object)
    out[x > tau_pct + eps] = CATEGORIES[0]
    out[np.abs(x) <= tau_pct + eps] = CATEGORIES[1]
    out[x < -tau_pct - eps] = CATEGORIES[2]
    return out


def add_derived_rois(measurements: pd.DataFrame) -> pd.DataFrame:
    """Add the derived ROIs ``NP``, ``AF`` and ``disc`` where a disc has only the five ROIs.

    The derived T2 is the voxel-weighted mean of the ROI means (``sum n_k T2_k / sum n_k``), which
    is the mean over the pooled voxels. Rows that already exist are kept as they are; a derived
    ROI is only added when all its parts have a mean T2 and a voxel count. Medians and SDs cannot
    be pooled from ROI summaries and are left empty.

    Parameters
    ----------
    measurements : DataFrame
        Checked measurements (:func:`discT2.report.io.check_measurements`).

    Returns
    -------
    DataFrame
        The same table with the missing derived rows appended.
    """
    m = measurements
    have = set(zip(m["subject"], m["visit"], m["level"], m["roi"], strict=True))
    parts = m[m["roi"].isin(DERIVED_ROIS["disc"])]
    new_rows = []
    for (subject, visit, level), disc in parts.groupby(["subject", "visit", "level"], sort=False):
        by_roi = disc.set_index("roi")
        for name, members in DERIVED_ROIS.items():
            if (subject, visit, level, name) in have or not set(members) <= set(by_roi.index):
                continue
            sub = by_roi.loc[list(members)]
            n = sub["n_voxels"].astype(float).to_numpy()
            t2 = sub["t2_mean_ms"].to_numpy(float)
            if not (np.all(np.isfinite(n)) and np.all(np.isfinite(t2))) or n.sum() <= 0:
                continue
            excluded = sub["n_excluded"].astype(float).to_numpy()
            first = sub.iloc[0]
            new_rows.append(
                {
                    "subject": subject,
                    "visit": visit,
                    "months": first["months"],
                    "level": level,
                    "role": first["role"],
                    "roi": name,
                    "n_voxels": int(n.sum()),
                    "n_excluded": int(excluded.sum()) if np.all(np.isfinite(excluded)) else pd.NA,
                    "t2_mean_ms": float(np.sum(n * t2) / n.sum()),
                    "t2_median_ms": np.nan,
                    "t2_sd_ms": np.nan,
                    "method": "+".join(sorted(set(sub["method"]) - {""})),
                }
            )
    if not new_rows:
        return m
    added = pd.DataFrame(new_rows).astype({"n_voxels": "Int64", "n_excluded": "Int64"})
    return pd.concat([m, added], ignore_index=True)


def change_table(
    measurements: pd.DataFrame,
    *,
    tau_pct: float = 0.0,
    rounding_pct: float | None = 0.1,
    statistic: str = "mean",
    exams: pd.DataFrame | None = None,
    max_time_shift_h: float = 2.0,
    baseline: str | None = None,
    missing_baseline: str = "raise",
    source: str = "measurements",
) -> pd.DataFrame:
    """Change from baseline for every subject x disc x ROI x follow-up visit.

    Parameters
    ----------
    measurements : DataFrame
        The ``measurements.csv`` table (docs/reference/formats.md): ``subject, visit, months, level,
        role, roi`` and the T2 statistic column (``t2_mean_ms`` or ``t2_median_ms``); ``role``
        is ``index``, ``control`` or ``other``. The baseline of a subject is its one visit with
        ``months == 0``. Derived ROIs missing from the table are added from the five ROIs
        (:func:`add_derived_rois`, mean statistic only).
    tau_pct : float
        Category threshold tau in % (default 0: any rounded change counts).
    rounding_pct : float or None
        Changes are rounded to this step (%) before they are categorised (default 0.1 %, as
        the trial tables print them). The stored changes are not rounded.
    statistic : {'mean', 'median'}
        Which ROI T2 summary to use.
    exams : DataFrame, optional
        Exam metadata (:data:`discT2.report.io.EXAM_COLUMNS`) for the protocol-drift flags. The
        fit method is always compared, from the ``method`` column of ``measurements``.
    max_time_shift_h : float
        Acquisition time-of-day shift (hours) beyond which a follow-up is flagged.
    baseline : str, optional
        Name of the visit that is every subject's baseline (default: the visit with months 0).
    missing_baseline : {'raise', 'skip'}
        A subject without a baseline visit: raise (default), or leave it out with a note.
    source : str
        Name of the table in messages.

    Returns
    -------
    DataFrame
        The ``changes.csv`` columns (:data:`discT2.report.CHANGE_COLUMNS`), sorted by subject,
        level, ROI and months. ``control_*``, ``treated_minus_control_pct`` and
        ``ratio_change_pct`` are filled on index-disc rows only; ``control_levels`` names the
        control discs used (``;``-separated). ``protocol_flags`` lists the drift flags of the
        follow-up exam. ``result.attrs["notes"]`` holds a line for every row that could not be
        made (a disc missing at baseline, a missing T2) and every subject left out; each is also
        logged as a warning.

    Raises
    ------
    InputError
        An unusable table (see :func:`discT2.report.io.check_measurements`), a subject with two
        baseline visits or none (unless ``missing_baseline='skip'``), or a disc whose role
        differs between baseline and follow-up.

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame({
    ...     "subject": "S1", "visit": ["M0", "M0", "M12", "M12"], "months": [0, 0, 12, 12],
    ...     "level": ["L4-L5", "L2-L3"] * 2, "role": ["index", "control"] * 2,
    ...     "roi": "NP", "t2_mean_ms": [80.0, 120.0, 88.0, 114.0]})
    >>> c = change_table(m)
    >>> c[["level", "change_pct", "category", "treated_minus_control_pct"]].round(6)
       level  change_pct      category  treated_minus_control_pct
    0  L2-L3        -5.0  degeneration                        NaN
    1  L4-L5        10.0  regeneration                       15.0
    """
    notes: list[str] = []
    m = check_measurements(measurements, source=source, statistic=statistic)
    if statistic == "mean":
        m = add_derived_rois(m)
    m = m.assign(t2=m[f"t2_{statistic}_ms"].astype(float))
    bad = m["t2"] <= 0
    if bad.any():
        for _, r in m[bad].iterrows():
            notes.append(
                f"subject {r['subject']} visit {r['visit']} {r['level']} {r['roi']}: T2 "
                f"{r['t2']:g} ms is not a T2; treated as not measured."
            )
        m.loc[bad, "t2"] = np.nan

    base_of = baseline_visits(
        m, source=source, baseline=baseline, missing=missing_baseline, notes=notes
    )
    m = m[m["subject"].isin(base_of)]
    is_base = m["visit"].to_numpy() == m["subject"].map(base_of).to_numpy()
    base = m.loc[is_base, ["subject", "level", "roi", "role", "t2"]].rename(
        columns={"role": "baseline_role", "t2": "baseline_t2_ms"}
    )
    fu = m.loc[~is_base, ["subject", "visit", "months", "level", "role", "roi", "t2", "method"]]
    merged = fu.merge(base, on=["subject", "level", "roi"], how="left", indicator=True)

    lacking = merged[merged["_merge"] == "left_only"]
    for (subject, visit, level), g in lacking.groupby(["subject", "visit", "level"], sort=True):
        rois = ", ".join(sorted(set(g["roi"]), key=roi_rank))
        notes.append(
            f"subject {subject} visit {visit} disc {level}: {rois} not measured at baseline; "
            "no change computed."
        )
    merged = merged[merged["_merge"] == "both"].drop(columns="_merge")

    mismatch = merged["role"] != merged["baseline_role"]
    if mismatch.any():
        r = merged[mismatch].iloc[0]
        raise InputError(
            f"{source}: subject {r['subject']} disc {r['level']} is '{r['baseline_role']}' at "
            f"baseline but '{r['role']}' at visit {r['visit']}; a disc keeps its role (fix the "
            "index_disc/control_discs of the study manifest)"
        )

    t2, t2_0 = merged["t2"].to_numpy(float), merged["baseline_t2_ms"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * t2 / t2_0
    merged["t2_ms"] = t2
    merged["pct_of_baseline"] = pct
    merged["change_pct"] = pct - 100.0
    merged["category"] = categorize(
        merged["change_pct"], tau_pct=tau_pct, rounding_pct=rounding_pct
    )
    empty = merged[~np.isfinite(pct)]
    for (subject, visit, level), g in empty.groupby(["subject", "visit", "level"], sort=True):
        rois = ", ".join(sorted(set(g["roi"]), key=roi_rank))
        notes.append(
            f"subject {subject} visit {visit} disc {level}: {rois} without T2 at baseline or "
            "follow-up; change left empty."
        )

    merged = _treated_vs_control(merged, notes)
    merged["tau_pct"] = float(tau_pct)
    merged["protocol_flags"] = _flags(m, exams, max_time_shift_h, baseline, base_of, merged)

    subject_rank = rank_map(merged["subject"])
    merged = merged.assign(
        _s=merged["subject"].map(subject_rank),
        _l=merged["level"].map(level_rank),
        _r=merged["roi"].map(roi_rank),
    ).sort_values(["_s", "_l", "level", "_r", "months"], kind="stable")
    out = merged[list(CHANGE_COLUMNS)].reset_index(drop=True)
    for note in notes:
        logger.warning("%s", note)
    out.attrs["notes"] = notes
    return out


def _treated_vs_control(merged: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Add the control mean, difference and ratio columns on the index discs' rows."""
    ok = (
        (merged["role"] == "control")
        & np.isfinite(merged["t2_ms"])
        & np.isfinite(merged["baseline_t2_ms"])
    )
    controls = merged[ok].assign(_rank=merged.loc[ok, "level"].map(level_rank))
    controls = controls.sort_values(["_rank", "level"], kind="stable")
    agg = controls.groupby(["subject", "visit", "roi"], sort=False).agg(
        control_change_pct=("change_pct", "mean"),
        _control_t2=("t2_ms", "mean"),
        _control_t2_0=("baseline_t2_ms", "mean"),
        control_levels=("level", ";".join),
    )
    merged = merged.merge(agg.reset_index(), on=["subject", "visit", "roi"], how="left")
    index = (merged["role"] == "index").to_numpy()
    for column in ("control_change_pct", "_control_t2", "_control_t2_0"):
        merged.loc[~index, column] = np.nan
    merged["control_levels"] = np.where(index, merged["control_levels"].fillna(""), "")
    merged["treated_minus_control_pct"] = merged["change_pct"] - merged["control_change_pct"]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio_t = merged["t2_ms"] / merged["_control_t2"]
        ratio_0 = merged["baseline_t2_ms"] / merged["_control_t2_0"]
        merged["ratio_change_pct"] = 100.0 * (ratio_t / ratio_0 - 1.0)
    no_control = (
        merged[index].groupby(["subject", "visit"])["control_levels"].agg(lambda s: (s == "").all())
    )
    for subject, visit in no_control[no_control].index:
        notes.append(
            f"subject {subject} visit {visit}: no control disc measured at both visits; "
            "treated-vs-control left empty."
        )
    return merged.drop(columns=["_control_t2", "_control_t2_0"])


def _flags(
    m: pd.DataFrame,
    exams: pd.DataFrame | None,
    max_time_shift_h: float,
    baseline: str | None,
    base_of: dict[str, str],
    merged: pd.DataFrame,
) -> np.ndarray:
    """Protocol-drift flags of each row's follow-up exam (the fit method from the measurements)."""
    methods = (
        m.groupby(["subject", "visit"], sort=False)
        .agg(
            months=("months", "first"), method=("method", lambda s: "+".join(sorted(set(s) - {""})))
        )
        .reset_index()
    )
    if exams is not None:
        table = exams.copy()
        table["subject"] = table["subject"].astype(str)
        table["visit"] = table["visit"].astype(str)
        if "method" in table.columns:
            table = table.drop(columns="method")
        table = table.merge(
            methods[["subject", "visit", "method"]], on=["subject", "visit"], how="left"
        )
        table["method"] = table["method"].fillna("")
    else:
        table = methods
    table = table[table["subject"].isin(set(base_of))]
    # Exam metadata without a subject's baseline exam gives that subject no flags (not an error:
    # the change table does not depend on it).
    drift = protocol_drift(
        table,
        max_time_shift_h=max_time_shift_h,
        baseline=baseline,
        missing_baseline="skip",
        source="exams",
    )
    flags = dict(
        zip(
            zip(drift["subject"], drift["visit"], strict=True), drift["protocol_flags"], strict=True
        )
    )
    return np.array(
        [flags.get((s, v), "") for s, v in zip(merged["subject"], merged["visit"], strict=True)],
        dtype=object,
    )


def pooled_outside_parts(changes: pd.DataFrame, *, roi: str = "disc") -> pd.DataFrame:
    """Pooled ROI changes that fall outside the range of their parts' changes.

    The whole ``disc`` pools the voxels of the nucleus (``NP``) and the annulus (``AF``), each
    visit with its own voxel counts. When the share of nucleus voxels differs between the two
    visits, the pooled change can lie outside both parts' changes (a compositional effect, as
    in Simpson's paradox), e.g. NP +10 % and AF +2 % but disc +12 % because the follow-up ROI
    holds relatively more of the brighter nucleus. The number is right; it needs a note.

    Parameters
    ----------
    changes : DataFrame
        A change table (:func:`change_table`) with the pooled ROI and its parts.
    roi : str
        The pooled ROI: ``disc`` (parts ``NP`` and ``AF``), or ``NP``/``AF`` (parts: their five
        ROIs).

    Returns
    -------
    DataFrame
        One row per pooled value outside its parts: ``subject, level, visit, change_pct``
        (pooled), ``parts_low_pct, parts_high_pct`` (the range of the parts' changes) and
        ``note`` (one sentence for the report). Empty when there is none.
    """
    parts = ("NP", "AF") if roi == "disc" else DERIVED_ROIS.get(roi)
    columns = ["subject", "level", "visit", "change_pct", "parts_low_pct", "parts_high_pct", "note"]
    if parts is None:
        raise InputError(f"{roi!r} is not a pooled ROI; expected disc, NP or AF")
    key = ["subject", "level", "visit"]
    pooled = changes.loc[changes["roi"] == roi, [*key, "change_pct"]]
    of_parts = changes[changes["roi"].isin(parts)]
    span = of_parts.groupby(key)["change_pct"].agg(["min", "max", "count"]).reset_index()
    merged = pooled.merge(span, on=key, how="inner")
    merged = merged[merged["count"] == len(parts)]
    # Changes are printed to 0.1 %: a difference below half of that is not visible and not noted.
    tolerance = 0.05
    outside = (merged["change_pct"] < merged["min"] - tolerance) | (
        merged["change_pct"] > merged["max"] + tolerance
    )
    rows = merged[outside.to_numpy()]
    names = " and ".join(parts) if roi == "disc" else ", ".join(parts)
    notes = [
        f"pooled {roi} change {c:+.1f} % lies outside its parts' changes ({names}: {lo:+.1f} to "
        f"{hi:+.1f} %): the ROI pools voxels, and the share of each part differs between the "
        "visits (a compositional effect, not an error)"
        for c, lo, hi in zip(rows["change_pct"], rows["min"], rows["max"], strict=True)
    ]
    out = pd.DataFrame(
        {
            "subject": rows["subject"].to_numpy(),
            "level": rows["level"].to_numpy(),
            "visit": rows["visit"].to_numpy(),
            "change_pct": rows["change_pct"].to_numpy(float),
            "parts_low_pct": rows["min"].to_numpy(float),
            "parts_high_pct": rows["max"].to_numpy(float),
            "note": notes,
        },
        columns=columns,
    )
    return out.reset_index(drop=True)
