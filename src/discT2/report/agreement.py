"""Reader agreement: two sets of ROI measurements of the same discs (two readers, one reader
twice, or test-retest exams).

Per ROI (all discs and visits pooled) and per disc level and ROI:

* **ICC(2,1)** (two-way random effects, absolute agreement, single measurement) and **ICC(3,1)**
  (two-way mixed, consistency) with their 95 % confidence intervals, from the two-way ANOVA mean
  squares (Shrout & Fleiss 1979; McGraw & Wong 1996), F quantiles from ``scipy.stats.f``;
* **Bland-Altman**: bias (mean of B - A), SD of the differences and the 95 % limits of agreement
  ``bias ± 1.96 SD`` (Bland & Altman 1986);
* **within-subject SD and CV**: ``sw = sqrt(mean(d**2) / 2)`` and the root-mean-square CV
  ``sqrt(mean(d**2 / (2 m**2)))`` of the pairs (d the difference, m the mean of a pair; Gluer et
  al. 1995), and the **minimal detectable change** ``MDC95 = 1.96 * sqrt(2) * sw`` (in ms and, from
  the CV, in %).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from discT2.errors import InputError
from discT2.report._names import level_rank, roi_rank
from discT2.report._visits import natural_key

__all__ = [
    "AGREEMENT_COLUMNS",
    "ICCResult",
    "agreement_table",
    "bland_altman",
    "icc",
    "pair_measurements",
    "plot_bland_altman",
    "read_reader_measurements",
    "render_agreement_report",
]

logger = logging.getLogger(__name__)

#: ``1.96 * sqrt(2)``: the MDC95 per unit of within-subject SD.
MDC_FACTOR = 1.959963984540054 * np.sqrt(2.0)

#: Columns of ``agreement.csv``.
AGREEMENT_COLUMNS: tuple[str, ...] = (
    "level",
    "roi",
    "n_pairs",
    "mean_a_ms",
    "mean_b_ms",
    "icc21",
    "icc21_ci_low",
    "icc21_ci_high",
    "icc31",
    "icc31_ci_low",
    "icc31_ci_high",
    "bias_ms",
    "sd_diff_ms",
    "loa_low_ms",
    "loa_high_ms",
    "within_sd_ms",
    "within_cv_pct",
    "mdc_ms",
    "mdc_pct",
)

_KEYS = ("subject", "visit", "level", "roi")


@dataclass(frozen=True)
class ICCResult:
    """Intraclass correlation coefficients of an n targets x k raters table.

    Attributes
    ----------
    icc21, icc21_ci : float, tuple of float
        ICC(2,1), two-way random effects, absolute agreement, single rater; its CI.
    icc31, icc31_ci : float, tuple of float
        ICC(3,1), two-way mixed effects, consistency, single rater; its CI.
    f : float
        ``BMS / EMS``, the F statistic of the targets.
    n, k : int
        Targets and raters.
    """

    icc21: float
    icc21_ci: tuple[float, float]
    icc31: float
    icc31_ci: tuple[float, float]
    f: float
    n: int
    k: int


def icc(ratings: np.ndarray, *, confidence: float = 0.95) -> ICCResult:
    """ICC(2,1) and ICC(3,1) with confidence intervals (Shrout & Fleiss 1979).

    Parameters
    ----------
    ratings : array_like, shape (n, k)
        One row per target (disc, ROI, visit), one column per rater; no missing values.
    confidence : float
        Level of the intervals.

    Returns
    -------
    ICCResult
        The coefficients, their intervals and the F statistic. NaN when the table has no
        variance to split (every value equal).

    Raises
    ------
    InputError
        Fewer than 2 targets or raters, a non-finite value, a bad confidence level.

    Notes
    -----
    From the two-way ANOVA mean squares of targets (BMS), raters (JMS) and residual (EMS):
    ``ICC(2,1) = (BMS - EMS) / (BMS + (k-1) EMS + k (JMS - EMS) / n)`` and ``ICC(3,1) = (BMS -
    EMS) / (BMS + (k-1) EMS)``. The ICC(3,1) interval inverts the exact F distribution of
    ``BMS/EMS``; the ICC(2,1) interval uses Satterthwaite's approximate degrees of freedom
    (Shrout & Fleiss 1979, eqs. 6-7; McGraw & Wong 1996, Table 7).

    Examples
    --------
    Shrout & Fleiss (1979), Table 2 (6 targets, 4 judges):

    >>> r = icc([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9],
    ...          [6, 2, 4, 7]])
    >>> round(r.icc21, 2), round(r.icc31, 2)
    (0.29, 0.71)
    """
    from scipy import stats

    y = np.asarray(ratings, dtype=float)
    if y.ndim != 2 or y.shape[0] < 2 or y.shape[1] < 2:
        raise InputError(f"icc needs a targets x raters table with >= 2 of each, got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise InputError("icc: the ratings table holds missing or non-finite values")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must lie between 0 and 1, got {confidence}")
    n, k = y.shape
    grand = y.mean()
    ss_rows = k * np.sum((y.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((y.mean(axis=0) - grand) ** 2)
    ss_err = np.sum((y - grand) ** 2) - ss_rows - ss_cols
    bms, jms = ss_rows / (n - 1), ss_cols / (k - 1)
    ems = max(ss_err, 0.0) / ((n - 1) * (k - 1))
    nan_pair = (np.nan, np.nan)
    if ems == 0 and bms == 0:
        return ICCResult(np.nan, nan_pair, np.nan, nan_pair, np.nan, n, k)
    icc3 = (bms - ems) / (bms + (k - 1) * ems)
    icc2 = (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
    q = 0.5 + confidence / 2.0
    if ems == 0:  # perfect agreement: intervals collapse onto 1
        return ICCResult(float(icc2), (1.0, 1.0), float(icc3), (1.0, 1.0), np.nan, n, k)
    f0 = bms / ems
    df1, df2 = n - 1, (n - 1) * (k - 1)
    f_low = f0 / stats.f.ppf(q, df1, df2)
    f_high = f0 * stats.f.ppf(q, df2, df1)
    ci3 = ((f_low - 1) / (f_low + k - 1), (f_high - 1) / (f_high + k - 1))
    a = k * icc2 / (n * (1 - icc2)) if icc2 < 1 else np.inf
    b = 1 + k * icc2 * (n - 1) / (n * (1 - icc2)) if icc2 < 1 else np.inf
    if np.isfinite(a) and np.isfinite(b):
        v = (a * jms + b * ems) ** 2 / ((a * jms) ** 2 / (k - 1) + (b * ems) ** 2 / df2)
        f_star = stats.f.ppf(q, n - 1, v)
        f_2star = stats.f.ppf(q, v, n - 1)
        c = k * jms + (k * n - k - n) * ems
        ci2 = (
            n * (bms - f_star * ems) / (f_star * c + n * bms),
            n * (f_2star * bms - ems) / (c + n * f_2star * bms),
        )
    else:
        ci2 = nan_pair
    return ICCResult(
        float(icc2),
        (float(ci2[0]), float(ci2[1])),
        float(icc3),
        (float(ci3[0]), float(ci3[1])),
        float(f0),
        n,
        k,
    )


def bland_altman(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Bland-Altman statistics and within-subject variability of paired measurements.

    Parameters
    ----------
    a, b : array_like
        The same targets measured by A and by B (same units, > 0 for the CV).

    Returns
    -------
    dict
        ``bias`` (mean of ``b - a``), ``sd_diff``, ``loa_low``/``loa_high`` (bias ± 1.96 SD),
        ``within_sd`` (``sqrt(mean(d**2) / 2)``), ``within_cv_pct`` (root-mean-square CV of the
        pairs, %), ``mdc`` and ``mdc_pct`` (1.96 √2 times within SD and CV).

    Raises
    ------
    InputError
        Unequal lengths, fewer than 2 pairs, non-finite values.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise InputError(f"bland_altman needs two equal-length series of >= 2 pairs, got {x.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputError("bland_altman: missing or non-finite values")
    d = y - x
    m = (x + y) / 2.0
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    within_sd = float(np.sqrt(np.mean(d**2) / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = float(np.sqrt(np.mean(d**2 / (2.0 * m**2)))) * 100.0 if np.all(m > 0) else np.nan
    half = 1.959963984540054 * sd
    return {
        "bias": bias,
        "sd_diff": sd,
        "loa_low": bias - half,
        "loa_high": bias + half,
        "within_sd": within_sd,
        "within_cv_pct": cv,
        "mdc": MDC_FACTOR * within_sd,
        "mdc_pct": MDC_FACTOR * cv,
    }


def read_reader_measurements(path: str | os.PathLike, *, statistic: str = "mean") -> pd.DataFrame:
    """One reader's measurements: a study folder (``measurements.csv``) or a measurement CSV.

    Parameters
    ----------
    path : path-like
        A folder that ``discT2 run`` wrote, or a CSV that ``discT2 run``/``discT2 measure`` wrote.
    statistic : {'mean', 'median'}
        Which ROI T2 column to compare.

    Returns
    -------
    DataFrame
        Columns: those of ``subject, visit, level, roi`` the file has, and ``t2_ms``.

    Raises
    ------
    InputError
        No such file, or a table without ``level``, ``roi`` and the T2 column.
    """
    if statistic not in ("mean", "median"):
        raise InputError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    path = Path(path)
    if path.is_dir():
        path = path / "measurements.csv"
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected a study folder or a measurements CSV)")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV table ({exc})") from exc
    column = f"t2_{statistic}_ms"
    missing = [c for c in ("level", "roi", column) if c not in raw.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    keys = [c for c in _KEYS if c in raw.columns]
    out = raw[keys].apply(lambda s: s.str.strip())
    out["t2_ms"] = pd.to_numeric(raw[column].replace("", None), errors="coerce")
    dup = out.duplicated(keys, keep=False)
    if dup.any():
        raise InputError(f"{path}: duplicate rows for {'/'.join(keys)}")
    return out


def pair_measurements(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Match two readers' measurements on subject, visit, level and ROI (those both have).

    Parameters
    ----------
    a, b : DataFrame
        :func:`read_reader_measurements` tables.

    Returns
    -------
    pairs : DataFrame
        The keys, ``t2_a_ms`` and ``t2_b_ms``, rows where both are finite.
    notes : list of str
        What could not be paired (counts), for the report.
    """
    keys = [c for c in _KEYS if c in a.columns and c in b.columns]
    merged = a.merge(b, on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    notes = []
    only_a = int((merged["_merge"] == "left_only").sum())
    only_b = int((merged["_merge"] == "right_only").sum())
    if only_a or only_b:
        notes.append(f"{only_a} ROI rows only in A and {only_b} only in B were left out")
    both = merged[merged["_merge"] == "both"]
    finite = np.isfinite(both["t2_ms_a"].to_numpy(float)) & np.isfinite(
        both["t2_ms_b"].to_numpy(float)
    )
    if (~finite).any():
        notes.append(f"{int((~finite).sum())} paired ROI rows without T2 in A or B were left out")
    pairs = both[finite].rename(columns={"t2_ms_a": "t2_a_ms", "t2_ms_b": "t2_b_ms"})
    return pairs[[*keys, "t2_a_ms", "t2_b_ms"]].reset_index(drop=True), notes


def agreement_table(pairs: pd.DataFrame, *, rois: Sequence[str] | None = None) -> pd.DataFrame:
    """ICC, Bland-Altman, within-subject CV and MDC per ROI and per disc level and ROI.

    Parameters
    ----------
    pairs : DataFrame
        :func:`pair_measurements` output (``level, roi, t2_a_ms, t2_b_ms``).
    rois : sequence of str, optional
        ROIs to report (default all, in anatomical order).

    Returns
    -------
    DataFrame
        Columns :data:`AGREEMENT_COLUMNS`; ``level`` is ``all`` for the rows that pool every
        disc. Groups with fewer than 3 pairs are left out (no interval can be computed).
    """
    roi_names = list(rois) if rois is not None else sorted(set(pairs["roi"]), key=roi_rank)
    levels = sorted(set(pairs["level"]), key=lambda v: (level_rank(v), natural_key(v)))
    rows = []
    for level in ["all", *levels]:
        for roi in roi_names:
            sel = pairs["roi"] == roi
            if level != "all":
                sel &= pairs["level"] == level
            group = pairs[sel]
            if len(group) < 3:
                continue
            a, b = group["t2_a_ms"].to_numpy(float), group["t2_b_ms"].to_numpy(float)
            r = icc(np.column_stack([a, b]))
            ba = bland_altman(a, b)
            rows.append(
                {
                    "level": level,
                    "roi": roi,
                    "n_pairs": len(group),
                    "mean_a_ms": float(a.mean()),
                    "mean_b_ms": float(b.mean()),
                    "icc21": r.icc21,
                    "icc21_ci_low": r.icc21_ci[0],
                    "icc21_ci_high": r.icc21_ci[1],
                    "icc31": r.icc31,
                    "icc31_ci_low": r.icc31_ci[0],
                    "icc31_ci_high": r.icc31_ci[1],
                    "bias_ms": ba["bias"],
                    "sd_diff_ms": ba["sd_diff"],
                    "loa_low_ms": ba["loa_low"],
                    "loa_high_ms": ba["loa_high"],
                    "within_sd_ms": ba["within_sd"],
                    "within_cv_pct": ba["within_cv_pct"],
                    "mdc_ms": ba["mdc"],
                    "mdc_pct": ba["mdc_pct"],
                }
            )
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS))


def plot_bland_altman(pairs: pd.DataFrame, *, rois: Sequence[str] = ("NP", "AF", "disc")):
    """Bland-Altman plots, one panel per ROI: difference B - A against the mean of A and B.

    Parameters
    ----------
    pairs : DataFrame
        :func:`pair_measurements` output.
    rois : sequence of str
        ROIs drawn (those without 3 pairs are skipped).

    Returns
    -------
    matplotlib.figure.Figure
        The bias (solid) and the limits of agreement (dashed) on each panel.

    Raises
    ------
    InputError
        None of the ROIs has 3 pairs.
    """
    from matplotlib.figure import Figure

    shown = [r for r in rois if int((pairs["roi"] == r).sum()) >= 3]
    if not shown:
        raise InputError(f"no ROI of {', '.join(rois)} has 3 pairs to draw")
    fig = Figure(figsize=(3.6 * len(shown), 3.3), layout="constrained")
    axes = fig.subplots(1, len(shown), squeeze=False)[0]
    for ax, roi in zip(axes, shown, strict=True):
        group = pairs[pairs["roi"] == roi]
        a, b = group["t2_a_ms"].to_numpy(float), group["t2_b_ms"].to_numpy(float)
        ba = bland_altman(a, b)
        ax.scatter((a + b) / 2, b - a, s=14, color="#1f5f8b", alpha=0.8)
        ax.axhline(ba["bias"], color="#222", lw=1.2)
        for limit in (ba["loa_low"], ba["loa_high"]):
            ax.axhline(limit, color="#b2182b", lw=1, ls="--")
        ax.axhline(0, color="#999", lw=0.6, ls=":")
        ax.set_title(
            f"{roi}: bias {ba['bias']:+.1f} ms, LoA {ba['loa_low']:+.1f} to {ba['loa_high']:+.1f}",
            fontsize=8.5,
        )
        ax.set_xlabel("mean of A and B, T2 (ms)", fontsize=8)
        ax.set_ylabel("B − A (ms)", fontsize=8)
        ax.tick_params(labelsize=7.5)
    return fig


def render_agreement_report(
    table: pd.DataFrame,
    pairs: pd.DataFrame,
    *,
    label_a: str,
    label_b: str,
    notes: Sequence[str] = (),
    statistic: str = "mean",
) -> str:
    """The agreement report: one self-contained HTML page (tables, Bland-Altman figure).

    Parameters
    ----------
    table : DataFrame
        :func:`agreement_table` output.
    pairs : DataFrame
        :func:`pair_measurements` output (for the figure).
    label_a, label_b : str
        Names of the two sets (readers, sessions, runs).
    notes : sequence of str
        Lines listed under the tables (what could not be paired).
    statistic : str
        ROI statistic compared (stated on the page).

    Returns
    -------
    str
        The HTML page.
    """
    import html as _html

    from discT2._version import __version__
    from discT2.report.html import _CSS, _img

    def fmt(value: object, digits: int) -> str:
        x = float(value)  # type: ignore[arg-type]
        return f"{x:.{digits}f}" if np.isfinite(x) else ""

    def rows(part: pd.DataFrame) -> str:
        out = []
        for r in part.itertuples(index=False):
            cells = [
                r.level,
                r.roi,
                str(r.n_pairs),
                f"{fmt(r.mean_a_ms, 1)} / {fmt(r.mean_b_ms, 1)}",
                f"{fmt(r.icc21, 2)} ({fmt(r.icc21_ci_low, 2)} to {fmt(r.icc21_ci_high, 2)})",
                f"{fmt(r.icc31, 2)} ({fmt(r.icc31_ci_low, 2)} to {fmt(r.icc31_ci_high, 2)})",
                f"{fmt(r.bias_ms, 1)} ({fmt(r.loa_low_ms, 1)} to {fmt(r.loa_high_ms, 1)})",
                fmt(r.within_cv_pct, 1),
                f"{fmt(r.mdc_ms, 1)} ({fmt(r.mdc_pct, 1)} %)",
            ]
            tds = "".join(
                f'<td class="{"t" if i < 2 else ""}">{_html.escape(c)}</td>'
                for i, c in enumerate(cells)
            )
            out.append(f"<tr>{tds}</tr>")
        return "".join(out)

    head = "".join(
        f'<th class="{"t" if i < 2 else ""}">{_html.escape(h)}</th>'
        for i, h in enumerate(
            [
                "disc",
                "ROI",
                "pairs",
                "mean T2 A / B (ms)",
                "ICC(2,1) (95 % CI)",
                "ICC(3,1) (95 % CI)",
                "bias B − A, ms (95 % LoA)",
                "within-subject CV (%)",
                "MDC95, ms (%)",
            ]
        )
    )
    pooled, per_level = table[table["level"] == "all"], table[table["level"] != "all"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Reader agreement</title><style>{_CSS}</style></head><body>",
        "<h1>Reader agreement</h1>",
        f'<p class="meta">Made by discT2 {_html.escape(__version__)}. A: '
        f"{_html.escape(label_a)}; B: {_html.escape(label_b)}. ROI T2 {_html.escape(statistic)} "
        "compared per subject, visit, disc and ROI.</p>",
        "<p>ICC(2,1): two-way random effects, absolute agreement, single measurement; "
        "ICC(3,1): two-way mixed effects, consistency (Shrout &amp; Fleiss 1979), 95 % "
        "intervals from the F distribution. Bias and 95 % limits of agreement (Bland &amp; "
        "Altman 1986). Within-subject CV: root mean square of the pairs' CVs; MDC95 = 1.96 √2 "
        "× within-subject SD (or CV): the smallest change in one disc that exceeds the "
        "measurement error with 95 % confidence.</p>",
        "<h2>Per ROI, all discs</h2>",
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows(pooled)}</tbody></table>",
    ]
    try:
        fig = plot_bland_altman(pairs)
        parts.append(_img(fig, "Bland-Altman plots", "Bland–Altman: B − A against the mean of A "
                          "and B; solid: bias, dashed: 95 % limits of agreement."))  # fmt: skip
    except InputError as exc:
        parts.append(f"<p>No Bland–Altman figure: {_html.escape(str(exc))}.</p>")
    if len(per_level):
        parts += [
            "<h2>Per disc level and ROI</h2>",
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows(per_level)}</tbody></table>",
        ]
    if notes:
        parts.append(
            "<p>Notes:</p><ul>" + "".join(f"<li>{_html.escape(n)}</li>" for n in notes) + "</ul>"
        )
    parts.append(
        "<h2>References</h2><ol><li>Shrout PE, Fleiss JL. Intraclass correlations: uses in "
        "assessing rater reliability. Psychol Bull 1979;86(2):420–428.</li><li>McGraw KO, Wong "
        "SP. Forming inferences about some intraclass correlation coefficients. Psychol Methods "
        "1996;1(1):30–46.</li><li>Bland JM, Altman DG. Statistical methods for assessing "
        "agreement between two methods of clinical measurement. Lancet 1986;1:307–310.</li>"
        "<li>Glüer CC et al. Accurate assessment of precision errors: how to measure the "
        "reproducibility of bone densitometry techniques. Osteoporos Int 1995;5:262–270.</li>"
        "</ol></body></html>"
    )
    return "\n".join(parts)
