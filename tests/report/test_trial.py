"""Trial tables and tests against scipy.stats on hand-made numbers."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from discT2.errors import InputError, StudyError
from discT2.report import (
    TRIAL_COLUMNS,
    category_test,
    change_table,
    trial_table,
    welch_from_summary,
)

# Hand-made changes (%) of the treated disc, per arm.
ACTIVE = [12.5, 3.1, 8.4, -2.2, 15.0, 7.7, 0.04, 9.9]
SHAM = [1.2, -4.5, 2.8, 0.6, -1.9, 5.5, -0.06]


def _changes(values: dict[str, list[float]], *, roi="NP", visit="M12", months=12.0):
    """A change table with only index-disc rows holding the given changes (subjects A1.., B1..)."""
    rows = []
    for prefix, arm_values in values.items():
        for n, change in enumerate(arm_values, start=1):
            rows.append(
                {
                    "subject": f"{prefix}{n}",
                    "level": "L4-L5",
                    "role": "index",
                    "roi": roi,
                    "visit": visit,
                    "months": months,
                    "baseline_t2_ms": 100.0,
                    "t2_ms": 100.0 + change,
                    "pct_of_baseline": 100.0 + change,
                    "change_pct": change,
                    "category": "",
                    "treated_minus_control_pct": change - 1.0,
                }
            )
    return pd.DataFrame(rows)


def _arms(values: dict[str, list[float]], names=("active", "sham")):
    return pd.DataFrame(
        [
            {"subject": f"{prefix}{n}", "arm": name}
            for (prefix, arm_values), name in zip(values.items(), names, strict=True)
            for n in range(1, len(arm_values) + 1)
        ]
    )


@pytest.mark.parametrize(
    "summary",
    [
        (12.0, 8.0, 20, 4.0, 6.0, 18),
        (-3.5, 15.2, 58, 1.1, 9.8, 56),  # a published-table-like case: mean, SD, n per arm
        (0.0, 1.0, 2, 0.0, 50.0, 3),
        (5.0, 0.0, 4, 2.0, 3.0, 4),
    ],
)
def test_welch_from_summary_equals_scipy(summary):
    got = welch_from_summary(*summary)
    ref = stats.ttest_ind_from_stats(*summary, equal_var=False)
    assert got.t == pytest.approx(ref.statistic, rel=1e-12, abs=1e-15)
    assert got.p == pytest.approx(ref.pvalue, rel=1e-10)


def test_welch_from_summary_equals_scipy_on_raw_numbers():
    x, y = np.array(ACTIVE), np.array(SHAM)
    got = welch_from_summary(x.mean(), x.std(ddof=1), x.size, y.mean(), y.std(ddof=1), y.size)
    ref = stats.ttest_ind(x, y, equal_var=False)
    assert got.t == pytest.approx(ref.statistic, rel=1e-12)
    assert got.p == pytest.approx(ref.pvalue, rel=1e-10)
    assert got.df == pytest.approx(ref.df, rel=1e-12)
    ci = ref.confidence_interval(0.95)
    assert (got.ci_low, got.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_welch_from_summary_refuses_bad_input():
    with pytest.raises(InputError, match="n1 must be a whole number >= 2"):
        welch_from_summary(1.0, 1.0, 1, 0.0, 1.0, 5)
    with pytest.raises(InputError, match="sd2 must be a finite SD"):
        welch_from_summary(1.0, 1.0, 3, 0.0, -1.0, 5)
    zero = welch_from_summary(1.0, 0.0, 3, 0.0, 0.0, 5)
    assert np.isnan(zero.p) and zero.diff == 1.0


def test_trial_table_against_scipy():
    values = {"A": ACTIVE, "B": SHAM}
    t = trial_table(_changes(values), _arms(values), endpoint="change_pct")
    assert tuple(t.columns) == TRIAL_COLUMNS
    assert len(t) == 2
    a, b = (t[t["arm"] == arm].iloc[0] for arm in ("active", "sham"))
    x, y = np.array(ACTIVE), np.array(SHAM)
    assert a["n"] == 8 and b["n"] == 7 and a["n_missing"] == 0
    assert a["mean_pct"] == pytest.approx(x.mean()) and a["sd_pct"] == pytest.approx(x.std(ddof=1))
    assert a["median_pct"] == pytest.approx(np.median(x))
    ref = stats.ttest_ind(x, y, equal_var=False)
    assert a["welch_p"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert a["welch_t"] == pytest.approx(ref.statistic, rel=1e-10)
    assert b["welch_t"] == pytest.approx(-ref.statistic, rel=1e-10)
    assert a["diff_mean_pct"] == pytest.approx(x.mean() - y.mean())
    mw = stats.mannwhitneyu(x, y, alternative="two-sided")
    assert a["mannwhitney_u"] == mw.statistic and a["mannwhitney_p"] == pytest.approx(mw.pvalue)
    assert b["mannwhitney_u"] == x.size * y.size - mw.statistic
    # categories by hand (tau 0, rounding 0.1): 0.04 -> 0.0 no evolution, -0.06 -> -0.1
    assert (a["n_regeneration"], a["n_no_evolution"], a["n_degeneration"]) == (6, 1, 1)
    assert (b["n_regeneration"], b["n_no_evolution"], b["n_degeneration"]) == (4, 0, 3)
    assert a["pct_regeneration"] == pytest.approx(75.0)
    # expected counts < 5 in a 2 x 3 table: Fisher (Freeman-Halton)
    assert a["category_test"] == "fisher exact"
    assert a["category_p"] == pytest.approx(_brute_force_exact_p([[6, 1, 1], [4, 0, 3]]))
    assert a["compared_with"] == "sham" and b["compared_with"] == "active"


def test_categories_follow_tau():
    values = {"A": ACTIVE, "B": SHAM}
    t = trial_table(_changes(values), _arms(values), endpoint="change_pct", tau_pct=5.0)
    a = t[t["arm"] == "active"].iloc[0]
    # > 5: 12.5, 8.4, 15.0, 7.7, 9.9; |x| <= 5: 3.1, -2.2, 0.04
    assert (a["n_regeneration"], a["n_no_evolution"], a["n_degeneration"]) == (5, 3, 0)
    assert a["tau_pct"] == 5.0


def test_two_by_two_uses_fisher_and_large_tables_chi_square():
    # only regeneration / degeneration occur: a 2 x 2 table -> Fisher's exact test
    values = {"A": [5.0] * 6 + [-5.0] * 2, "B": [5.0] * 2 + [-5.0] * 6}
    a = trial_table(_changes(values), _arms(values), endpoint="change_pct").iloc[0]
    assert a["category_test"] == "fisher exact"
    assert a["category_p"] == pytest.approx(stats.fisher_exact([[6, 2], [2, 6]]).pvalue)
    # 2 x 3 with every expected count >= 5 -> chi-square
    values = {"A": [5.0] * 20 + [0.0] * 10 + [-5.0] * 10, "B": [5.0] * 8 + [0.0] * 12 + [-5.0] * 20}
    a = trial_table(_changes(values), _arms(values), endpoint="change_pct").iloc[0]
    assert a["category_test"] == "chi-square"
    ref = stats.chi2_contingency([[20, 10, 10], [8, 12, 20]])
    assert a["category_p"] == pytest.approx(ref.pvalue)
    assert a["category_statistic"] == pytest.approx(ref.statistic)


def _brute_force_exact_p(table):
    """Exact test by counting: every way to pick arm 1's subjects from the pooled categories."""
    table = np.asarray(table)
    pooled = np.repeat(np.arange(table.shape[1]), table.sum(axis=0))
    n1 = int(table[0].sum())
    counts = {}
    for chosen in itertools.combinations(range(pooled.size), n1):
        row = tuple(np.bincount(pooled[list(chosen)], minlength=table.shape[1]))
        counts[row] = counts.get(row, 0) + 1
    total = comb(pooled.size, n1)
    observed = counts[tuple(table[0])] / total
    return sum(c / total for c in counts.values() if c / total <= observed * (1 + 1e-7))


@pytest.mark.parametrize(
    "table",
    [[[3, 1, 2], [0, 4, 2]], [[5, 0, 1], [1, 3, 2]], [[2, 2, 2], [2, 2, 2]], [[4, 1], [0, 5]]],
)
def test_exact_category_test_matches_brute_force(table):
    test, _, p = category_test(table)
    assert test == "fisher exact"
    assert p == pytest.approx(_brute_force_exact_p(table), rel=1e-9)


def test_exact_test_agrees_with_scipy_monte_carlo():
    table = np.array([[3, 1, 2], [0, 4, 2]])
    mc = stats.fisher_exact(table, method=stats.MonteCarloMethod(rng=np.random.default_rng(1)))
    _, _, p = category_test(table)
    assert p == pytest.approx(mc.pvalue, abs=0.02)  # 9999 resamples: SE about 0.0034


def test_category_test_without_contrast():
    assert category_test([[3, 0, 0], [2, 0, 0]])[0] == ""  # one category only
    assert category_test([[0, 0, 0], [2, 1, 0]])[0] == ""  # an empty arm


def test_both_endpoints_and_visits():
    values = {"A": ACTIVE, "B": SHAM}
    c = pd.concat([_changes(values), _changes(values, visit="M24", months=24.0)])
    t = trial_table(c, _arms(values))
    assert len(t) == 2 * 2 * 2  # visits x endpoints x arms
    assert t["visit"].tolist()[:4] == ["M12"] * 4
    tmc = t[(t["endpoint"] == "treated_minus_control_pct") & (t["arm"] == "active")]
    assert tmc["mean_pct"].iloc[0] == pytest.approx(np.mean(ACTIVE) - 1.0)


def test_subjects_without_arm_are_listed():
    values = {"A": ACTIVE, "B": SHAM}
    arms = _arms(values)
    arms = arms[~arms["subject"].isin(["A3", "B7"])]
    with pytest.raises(StudyError, match=r"no arm for subject\(s\) A3, B7"):
        trial_table(_changes(values), arms)


def test_missing_values_are_counted_per_arm():
    values = {"A": ACTIVE, "B": SHAM}
    c = _changes(values)
    c.loc[c["subject"] == "A2", "change_pct"] = np.nan
    arms = pd.concat([_arms(values), pd.DataFrame({"subject": ["B99"], "arm": ["sham"]})])
    t = trial_table(c, arms, endpoint="change_pct").set_index("arm")
    assert (t.loc["active", "n"], t.loc["active", "n_missing"]) == (7, 1)
    assert (t.loc["sham", "n"], t.loc["sham", "n_missing"]) == (7, 1)


def test_three_arms_need_a_reference():
    values = {"A": ACTIVE, "B": SHAM, "C": [1.0, 2.0, 3.0]}
    arms = _arms(values, names=("high", "sham", "low"))
    with pytest.raises(StudyError, match="name the arm"):
        trial_table(_changes(values), arms)
    t = trial_table(_changes(values), arms, reference_arm="sham", endpoint="change_pct")
    assert t["arm"].tolist() == ["sham", "high", "low"]
    ref = t.set_index("arm")
    assert np.isnan(ref.loc["sham", "welch_p"]) and ref.loc["sham", "compared_with"] == ""
    assert ref.loc["low", "compared_with"] == "sham"
    expected = stats.ttest_ind([1.0, 2.0, 3.0], SHAM, equal_var=False).pvalue
    assert ref.loc["low", "welch_p"] == pytest.approx(expected)
    with pytest.raises(StudyError, match="reference arm 'placebo' not found"):
        trial_table(_changes(values), arms, reference_arm="placebo")


def test_two_index_discs_are_refused():
    values = {"A": ACTIVE[:2], "B": SHAM[:2]}
    c = _changes(values)
    c = pd.concat([c, c.iloc[[0]].assign(level="L5-S1")])
    with pytest.raises(InputError, match=r"A1 has more than one index disc \(L4-L5, L5-S1\)"):
        trial_table(c, _arms(values))


def test_unknown_endpoint():
    values = {"A": ACTIVE, "B": SHAM}
    with pytest.raises(InputError, match="unknown endpoint"):
        trial_table(_changes(values), _arms(values), endpoint="pfirrmann")


def test_from_a_change_table(study):
    m, _ = study.cohort(n_subjects=6, seed=5)
    c = change_table(m)
    arms = pd.DataFrame({"subject": sorted(set(m["subject"])), "arm": ["x", "y"] * 3})
    t = trial_table(c, arms, rois=["NP", "disc"])
    assert set(t["roi"]) == {"NP", "disc"} and (t["n"] == 3).all()
    np_x = c[
        (c["role"] == "index")
        & (c["roi"] == "NP")
        & c["subject"].isin(arms.loc[arms["arm"] == "x", "subject"])
    ]["change_pct"]
    row = t[(t["roi"] == "NP") & (t["arm"] == "x") & (t["endpoint"] == "change_pct")].iloc[0]
    assert row["mean_pct"] == pytest.approx(np_x.mean())
