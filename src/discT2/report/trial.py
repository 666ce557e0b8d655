"""Per-arm trial tables and the between-arm tests (after unblinding).

One row per visit x endpoint x ROI x arm, from the index (treated) disc of each subject: n, mean,
SD and median of the endpoint, counts and % per change category, and the tests of this arm
against the comparator arm:

* the change itself: Welch's unequal-variance t-test (with the mean difference and its confidence
  interval) and the Mann-Whitney U test, two-sided;
* the categories (an arms x categories table, categories that nobody falls in dropped): Fisher's
  exact test for a 2 x 2 table or when an expected count is below 5 (Freeman-Halton extension for
  2 x 3, by exact enumeration: SciPy's own r x c ``fisher_exact`` is Monte Carlo and would give
  another p-value on every run), the chi-square test of independence otherwise.
  ``category_test`` says which, ``category_statistic_name`` what its statistic is.

Subjects are the unit: each contributes its index disc once. Only scipy.stats is used (imported
on first use: it takes a second or two to load, which ``import discT2`` should not pay).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from discT2.errors import InputError, StudyError
from discT2.report._names import CATEGORIES, TRIAL_COLUMNS, roi_rank
from discT2.report._visits import natural_key
from discT2.report.changes import categorize
from discT2.report.io import check_arms, check_changes

__all__ = [
    "ENDPOINTS",
    "WelchResult",
    "category_statistic_name",
    "category_test",
    "trial_table",
    "welch_from_summary",
]

logger = logging.getLogger(__name__)

#: Endpoints a trial table can summarise (columns of the change table, index-disc rows).
ENDPOINTS: dict[str, str] = {
    "change_pct": "change of the treated disc from baseline (%)",
    "treated_minus_control_pct": "change of the treated disc minus the mean change of its "
    "control discs (percentage points)",
    "ratio_change_pct": "change of the treated-to-control T2 ratio from baseline (%)",
}

#: Expected counts below this make the category test Fisher's exact test (Cochran's rule).
MIN_EXPECTED_FOR_CHI2 = 5.0


@dataclass(frozen=True)
class WelchResult:
    """Welch's unequal-variance t-test of ``mean1 - mean2``.

    Attributes
    ----------
    t : float
        t statistic.
    df : float
        Welch-Satterthwaite degrees of freedom.
    p : float
        Two-sided p-value.
    diff : float
        ``mean1 - mean2``.
    se : float
        Standard error of the difference.
    ci_low, ci_high : float
        Confidence interval of the difference.
    """

    t: float
    df: float
    p: float
    diff: float
    se: float
    ci_low: float
    ci_high: float


def welch_from_summary(
    mean1: float,
    sd1: float,
    n1: int,
    mean2: float,
    sd2: float,
    n2: int,
    *,
    confidence: float = 0.95,
) -> WelchResult:
    """Welch's t-test from summary statistics (mean, SD, n per group), as a published table gives.

    Parameters
    ----------
    mean1, sd1, n1 : float, float, int
        Mean, sample standard deviation (n - 1 denominator) and size of group 1.
    mean2, sd2, n2 : float, float, int
        The same for group 2.
    confidence : float
        Level of the confidence interval of the difference.

    Returns
    -------
    WelchResult
        t, df, two-sided p, difference, its standard error and confidence interval. When both
        SDs are 0 the test is undefined: t, df, p and the interval are NaN.

    Raises
    ------
    InputError
        A group with fewer than 2 subjects, a negative or non-finite SD, a bad confidence level.

    Notes
    -----
    ``se = sqrt(sd1**2/n1 + sd2**2/n2)``, ``t = (mean1 - mean2) / se``, and the degrees of
    freedom ``se**4 / ((sd1**2/n1)**2/(n1-1) + (sd2**2/n2)**2/(n2-1))`` (Welch 1947). t and the
    p-value are ``scipy.stats.ttest_ind_from_stats(..., equal_var=False)``.

    Examples
    --------
    >>> r = welch_from_summary(12.0, 8.0, 20, 4.0, 6.0, 18)
    >>> round(r.t, 4), round(r.df, 2), round(r.p, 5)
    (3.5082, 34.92, 0.00126)
    """
    from scipy import stats

    for name, n in (("n1", n1), ("n2", n2)):
        if not (float(n).is_integer() and n >= 2):
            raise InputError(f"welch_from_summary: {name} must be a whole number >= 2, got {n}")
    for name, sd in (("sd1", sd1), ("sd2", sd2)):
        if not (np.isfinite(sd) and sd >= 0):
            raise InputError(f"welch_from_summary: {name} must be a finite SD >= 0, got {sd}")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must lie between 0 and 1, got {confidence}")
    v1, v2 = sd1**2 / n1, sd2**2 / n2
    se = float(np.sqrt(v1 + v2))
    diff = float(mean1 - mean2)
    if se == 0:
        return WelchResult(np.nan, np.nan, np.nan, diff, 0.0, np.nan, np.nan)
    test = stats.ttest_ind_from_stats(mean1, sd1, n1, mean2, sd2, n2, equal_var=False)
    t, p = float(test.statistic), float(test.pvalue)
    # SciPy gives t and p; the degrees of freedom and the interval follow Welch (1947).
    df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * se
    return WelchResult(float(t), float(df), p, diff, se, diff - half, diff + half)


def category_test(counts: np.ndarray) -> tuple[str, float, float]:
    """Test independence of arm and category in a 2 x k table of counts.

    Categories (columns) that nobody falls in are dropped first. A 2 x 2 table, or any table
    with an expected count below :data:`MIN_EXPECTED_FOR_CHI2`, gets Fisher's exact test
    (``scipy.stats.fisher_exact`` for 2 x 2; for 2 x 3 the Freeman-Halton extension: the sum of
    the probabilities of all tables with the same margins that are no more probable than the
    observed one, enumerated exactly with ``scipy.stats.multivariate_hypergeom``, because SciPy's
    r x c ``fisher_exact`` is a Monte Carlo estimate that changes from run to run). Otherwise
    the chi-square test (``scipy.stats.chi2_contingency``).

    Parameters
    ----------
    counts : array_like of int, shape (2, k)
        Rows: the two arms; columns: the categories.

    Returns
    -------
    test : str
        ``'fisher exact'``, ``'chi-square'``, or ``''`` when no test is possible (one category
        left, or an empty arm).
    statistic : float
        Odds ratio (Fisher 2 x 2; NaN when a zero cell makes it infinite, so that no ``inf`` is
        ever printed), probability of the observed table (Fisher 2 x k), or the chi-square
        statistic (see :func:`category_statistic_name`).
    p : float
        Two-sided p-value (NaN when no test).

    Examples
    --------
    >>> category_test([[8, 0, 2], [1, 0, 5]])
    ('fisher exact', 20.0, 0.034965034965034975)
    """
    from scipy import stats

    table = np.asarray(counts)
    if table.ndim != 2 or table.shape[0] != 2 or np.any(table < 0):
        raise InputError(f"category_test needs a 2 x k table of counts >= 0, got {table!r}")
    table = table[:, table.sum(axis=0) > 0].astype(np.int64)
    if table.shape[1] < 2 or np.any(table.sum(axis=1) == 0):
        return "", np.nan, np.nan
    if table.shape == (2, 2):
        res = stats.fisher_exact(table)
        statistic = float(res.statistic)
        return "fisher exact", statistic if np.isfinite(statistic) else np.nan, float(res.pvalue)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    if np.any(expected < MIN_EXPECTED_FOR_CHI2):
        prob, p = _fisher_freeman_halton(table)
        return "fisher exact", prob, p
    res = stats.chi2_contingency(table)
    return "chi-square", float(res.statistic), float(res.pvalue)


def _fisher_freeman_halton(table: np.ndarray) -> tuple[float, float]:
    """Exact test of a 2 x k table: enumerate every first row with the observed margins.

    Under independence with fixed margins the first row is multivariate hypergeometric
    (``scipy.stats.multivariate_hypergeom``). The p-value sums the probabilities of the tables no
    more probable than the observed one, with the relative tolerance 1e-7 that R's
    ``fisher.test`` uses against float ties.
    """
    from scipy import stats

    columns = table.sum(axis=0)
    n_first = int(table[0].sum())
    ranges = [range(int(c) + 1) for c in columns[:-1]]
    rows = [
        (*head, n_first - sum(head))
        for head in itertools.product(*ranges)
        if 0 <= n_first - sum(head) <= columns[-1]
    ]
    dist = stats.multivariate_hypergeom(m=columns, n=n_first)
    probs = dist.pmf(np.array(rows))
    observed = float(dist.pmf(table[0]))
    p = float(np.sum(probs[probs <= observed * (1.0 + 1e-7)]))
    return observed, min(p, 1.0)


def category_statistic_name(test: str, n_categories: int) -> str:
    """What :func:`category_test`'s statistic is, for a table's header.

    Parameters
    ----------
    test : str
        The test :func:`category_test` returned.
    n_categories : int
        Categories (columns) left in the table after dropping the empty ones.

    Returns
    -------
    str
        ``'odds ratio'``, ``'probability of the observed table'``, ``'chi-square'`` or ``''``.
    """
    if test == "fisher exact":
        return "odds ratio" if n_categories == 2 else "probability of the observed table"
    return "chi-square" if test == "chi-square" else ""


def trial_table(
    changes: pd.DataFrame,
    arms: pd.DataFrame,
    *,
    tau_pct: float = 0.0,
    rounding_pct: float | None = 0.1,
    endpoint: str | Sequence[str] = ("change_pct", "treated_minus_control_pct"),
    rois: Sequence[str] | None = None,
    reference_arm: str | None = None,
    confidence: float = 0.95,
    source: str = "changes",
    arms_source: str = "arms",
) -> pd.DataFrame:
    """Summarise the index discs' changes per visit and arm, with the between-arm tests.

    Parameters
    ----------
    changes : DataFrame
        A change table (:func:`~discT2.report.change_table`); its index-disc rows are used.
    arms : DataFrame
        The allocation, columns ``subject, arm`` (``arms.csv``). Every subject of ``changes``
        must be listed.
    tau_pct, rounding_pct : float
        Category threshold and rounding, applied to the endpoint (see
        :func:`~discT2.report.categorize`).
    endpoint : str or sequence of str
        Which endpoints (:data:`ENDPOINTS`): the treated disc's ``change_pct`` and/or the
        ``treated_minus_control_pct`` (default both), or ``ratio_change_pct``.
    rois : sequence of str, optional
        ROIs to tabulate (default all in ``changes``, in anatomical order).
    reference_arm : str, optional
        With two arms and no reference, each arm's row carries the test against the other.
        With a reference, each other arm is tested against it and the reference rows carry no
        test. Required with more than two arms.
    confidence : float
        Level of the confidence interval of the mean difference.
    source, arms_source : str
        Names of the tables in messages.

    Returns
    -------
    DataFrame
        Columns :data:`discT2.report.TRIAL_COLUMNS`: ``visit, months, endpoint, roi, arm, n``
        (subjects with a value), ``n_missing`` (allocated subjects without one), ``mean_pct,
        sd_pct, median_pct``, ``n_``/``pct_`` per category, ``compared_with`` (the other arm),
        ``diff_mean_pct`` and its CI, ``welch_t, welch_df, welch_p, mannwhitney_u`` (U of this
        arm), ``mannwhitney_p, category_test, category_statistic, category_p, tau_pct``.

    Raises
    ------
    StudyError
        Subjects in ``changes`` that ``arms`` does not list (all named), an unknown reference arm,
        more than two arms without a reference.
    InputError
        An unknown endpoint, or a subject with two index discs.
    """
    c = check_changes(changes, source=source)
    a = check_arms(arms, source=arms_source)
    endpoints = [endpoint] if isinstance(endpoint, str) else list(endpoint)
    unknown = [e for e in endpoints if e not in ENDPOINTS]
    if unknown or not endpoints:
        raise InputError(
            f"unknown endpoint(s) {', '.join(map(repr, unknown)) or '(none given)'}; expected "
            f"one or more of {', '.join(ENDPOINTS)}"
        )
    unlisted = sorted(set(c["subject"]) - set(a["subject"]), key=natural_key)
    if unlisted:
        raise StudyError(
            f"{arms_source}: no arm for subject(s) {', '.join(unlisted)} of {source}; list every "
            "subject with its arm"
        )
    arm_names = sorted(set(a["arm"]), key=natural_key)
    if reference_arm is not None and reference_arm not in arm_names:
        raise StudyError(
            f"{arms_source}: reference arm {reference_arm!r} not found; arms are "
            f"{', '.join(arm_names)}"
        )
    if reference_arm is None and len(arm_names) > 2:
        raise StudyError(
            f"{arms_source}: {len(arm_names)} arms ({', '.join(arm_names)}); name the arm the "
            "others are compared with (reference_arm / --reference-arm)"
        )
    if reference_arm is not None:
        arm_names = [reference_arm] + [x for x in arm_names if x != reference_arm]

    idx = c[c["role"] == "index"]
    twice = idx.groupby(["subject", "visit", "roi"])["level"].nunique()
    if (twice > 1).any():
        subject = twice[twice > 1].index[0][0]
        levels = sorted(set(idx.loc[idx["subject"] == subject, "level"]))
        raise InputError(
            f"{source}: subject {subject} has more than one index disc ({', '.join(levels)}); a "
            "trial table counts one treated disc per subject"
        )
    idx = idx.merge(a, on="subject", how="left")
    allocated = a.groupby("arm")["subject"].nunique()
    roi_names = list(rois) if rois is not None else sorted(set(idx["roi"]), key=roi_rank)
    visits = idx[["visit", "months"]].drop_duplicates().sort_values(["months", "visit"])

    rows = []
    for visit, months in visits.itertuples(index=False):
        at_visit = idx[idx["visit"] == visit]
        for ep in endpoints:
            for roi in roi_names:
                values = {
                    arm: _finite(
                        at_visit.loc[(at_visit["roi"] == roi) & (at_visit["arm"] == arm), ep]
                    )
                    for arm in arm_names
                }
                for arm in arm_names:
                    row = _describe(values[arm], tau_pct, rounding_pct)
                    row.update(
                        visit=visit,
                        months=months,
                        endpoint=ep,
                        roi=roi,
                        arm=arm,
                        n_missing=int(allocated.get(arm, 0)) - row["n"],
                        tau_pct=float(tau_pct),
                    )
                    other = _comparator(arm, arm_names, reference_arm)
                    row.update(_compare(values, arm, other, tau_pct, rounding_pct, confidence))
                    rows.append(row)
    out = pd.DataFrame(rows, columns=list(TRIAL_COLUMNS))
    for column in ("n", "n_missing", "n_regeneration", "n_no_evolution", "n_degeneration"):
        out[column] = out[column].astype("Int64")
    text_columns = ("visit", "endpoint", "roi", "arm", "compared_with", "category_test")
    for column in (*text_columns, "category_statistic_name"):
        out[column] = out[column].astype(object)
    return out


def _finite(values: pd.Series) -> np.ndarray:
    x = values.to_numpy(float)
    return x[np.isfinite(x)]


def _describe(x: np.ndarray, tau_pct: float, rounding_pct: float | None) -> dict:
    n = len(x)
    cats = categorize(x, tau_pct=tau_pct, rounding_pct=rounding_pct)
    row = {
        "n": n,
        "mean_pct": float(np.mean(x)) if n else np.nan,
        "sd_pct": float(np.std(x, ddof=1)) if n > 1 else np.nan,
        "median_pct": float(np.median(x)) if n else np.nan,
        "q1_pct": float(np.percentile(x, 25)) if n else np.nan,
        "q3_pct": float(np.percentile(x, 75)) if n else np.nan,
    }
    for name in CATEGORIES:
        k = int(np.sum(cats == name))
        key = name.replace(" ", "_")
        row[f"n_{key}"] = k
        row[f"pct_{key}"] = 100.0 * k / n if n else np.nan
    return row


def _comparator(arm: str, arm_names: list[str], reference: str | None) -> str | None:
    if reference is None:
        others = [x for x in arm_names if x != arm]
        return others[0] if len(others) == 1 else None
    return None if arm == reference else reference


def _compare(values, arm, other, tau_pct, rounding_pct, confidence) -> dict:
    from scipy import stats

    empty = {
        "compared_with": "" if other is None else other,
        "diff_mean_pct": np.nan,
        "diff_ci_low_pct": np.nan,
        "diff_ci_high_pct": np.nan,
        "welch_t": np.nan,
        "welch_df": np.nan,
        "welch_p": np.nan,
        "mannwhitney_u": np.nan,
        "mannwhitney_p": np.nan,
        "category_test": "",
        "category_statistic": np.nan,
        "category_p": np.nan,
        "category_statistic_name": "",
    }
    if other is None:
        return empty
    x, y = values[arm], values[other]
    out = dict(empty)
    if len(x) and len(y):
        out["diff_mean_pct"] = float(np.mean(x) - np.mean(y))
        mw = stats.mannwhitneyu(x, y, alternative="two-sided")
        out["mannwhitney_u"], out["mannwhitney_p"] = float(mw.statistic), float(mw.pvalue)
        counts = np.array(
            [
                [
                    np.sum(categorize(v, tau_pct=tau_pct, rounding_pct=rounding_pct) == name)
                    for name in CATEGORIES
                ]
                for v in (x, y)
            ]
        )
        test, statistic, p = category_test(counts)
        out.update(
            category_test=test,
            category_statistic=statistic,
            category_p=p,
            category_statistic_name=category_statistic_name(
                test, int(np.sum(counts.sum(axis=0) > 0))
            ),
        )
    if len(x) >= 2 and len(y) >= 2:
        w = welch_from_summary(
            np.mean(x),
            np.std(x, ddof=1),
            len(x),
            np.mean(y),
            np.std(y, ddof=1),
            len(y),
            confidence=confidence,
        )
        out.update(
            diff_ci_low_pct=w.ci_low,
            diff_ci_high_pct=w.ci_high,
            welch_t=w.t,
            welch_df=w.df,
            welch_p=w.p,
        )
    return out
