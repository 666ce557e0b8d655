"""Change arithmetic: % of baseline, treated vs control, categories, baselines, notes."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from discT2.errors import InputError
from discT2.report import CHANGE_COLUMNS, add_derived_rois, categorize, change_table, round_pct


def _rows(study, subject, visit, months, level, role, t2, roi="NP", **kw):
    return study.measurement_rows(subject, visit, months, level, role, {roi: t2}, **kw)


@pytest.fixture
def trio(study):
    """Index 80 -> 88 ms (+10 %), controls 120 -> 114 (-5 %) and 100 -> 103 (+3 %)."""
    rows = []
    for visit, months, t2 in (("M0", 0, (80.0, 120.0, 100.0)), ("M12", 12, (88.0, 114.0, 103.0))):
        for level, role, value in zip(
            ("L4-L5", "L2-L3", "L3-L4"), ("index", "control", "control"), t2, strict=True
        ):
            rows += _rows(study, "S1", visit, months, level, role, value)
    return pd.DataFrame(rows)


def test_pct_of_baseline_and_change(trio):
    c = change_table(trio).set_index("level")
    assert c.loc["L4-L5", "pct_of_baseline"] == pytest.approx(100 * 88 / 80, rel=1e-12)
    assert c.loc["L4-L5", "change_pct"] == pytest.approx(100 * 88 / 80 - 100, abs=1e-12)
    assert c.loc["L2-L3", "change_pct"] == pytest.approx(100 * 114 / 120 - 100, abs=1e-12)
    assert c.loc["L3-L4", "change_pct"] == pytest.approx(100 * 103 / 100 - 100, abs=1e-12)
    assert c.loc["L4-L5", "baseline_t2_ms"] == 80.0 and c.loc["L4-L5", "t2_ms"] == 88.0


def test_treated_vs_control_difference_and_ratio(trio):
    c = change_table(trio).set_index("level")
    idx = c.loc["L4-L5"]
    control_mean_change = ((114 / 120 - 1) + (103 / 100 - 1)) / 2 * 100  # -1 %
    assert idx["control_change_pct"] == pytest.approx(control_mean_change, abs=1e-12)
    assert idx["treated_minus_control_pct"] == pytest.approx(10 - control_mean_change, abs=1e-9)
    ratio_t = 88 / ((114 + 103) / 2)
    ratio_0 = 80 / ((120 + 100) / 2)
    assert idx["ratio_change_pct"] == pytest.approx(100 * (ratio_t / ratio_0 - 1), abs=1e-9)
    assert idx["control_levels"] == "L2-L3;L3-L4"
    # controls carry no treated-vs-control values
    for level in ("L2-L3", "L3-L4"):
        assert np.isnan(c.loc[level, "treated_minus_control_pct"])
        assert np.isnan(c.loc[level, "ratio_change_pct"])
        assert c.loc[level, "control_levels"] == ""


def test_columns_are_the_changes_csv_contract(trio):
    c = change_table(trio, tau_pct=2.5)
    assert tuple(c.columns) == CHANGE_COLUMNS
    assert tuple(c.columns[:11]) == (
        "subject",
        "level",
        "role",
        "roi",
        "visit",
        "months",
        "baseline_t2_ms",
        "t2_ms",
        "pct_of_baseline",
        "change_pct",
        "category",
    )
    assert (c["tau_pct"] == 2.5).all()


def test_control_missing_at_follow_up_uses_the_other_one(study, trio):
    m = trio[~((trio["visit"] == "M12") & (trio["level"] == "L3-L4"))]
    c = change_table(m).set_index("level")
    idx = c.loc["L4-L5"]
    assert idx["control_levels"] == "L2-L3"
    assert idx["control_change_pct"] == pytest.approx(100 * (114 / 120 - 1), abs=1e-12)
    assert idx["ratio_change_pct"] == pytest.approx(100 * ((88 / 114) / (80 / 120) - 1), abs=1e-9)


def test_no_control_leaves_treated_vs_control_empty(trio):
    c = change_table(trio[trio["role"] == "index"])
    assert c["control_levels"].tolist() == [""]
    assert np.isnan(c["treated_minus_control_pct"]).all()
    assert any("no control disc" in n for n in c.attrs["notes"])


@pytest.mark.parametrize(
    ("follow_up", "tau", "expected"),
    [
        (100.04, 0.0, "no evolution"),  # +0.04 % rounds to 0.0
        (100.05, 0.0, "regeneration"),  # +0.05 % rounds (half away from zero) to +0.1
        (99.95, 0.0, "degeneration"),  # -0.05 % -> -0.1
        (99.96, 0.0, "no evolution"),
        (100.0, 0.0, "no evolution"),
        (105.04, 5.0, "no evolution"),  # +5.04 -> 5.0, not above tau
        (105.05, 5.0, "regeneration"),  # +5.05 -> 5.1
        (94.95, 5.0, "degeneration"),  # -5.05 -> -5.1, below -tau
        (94.96, 5.0, "no evolution"),  # -5.04 -> -5.0
    ],
)
def test_categories_with_rounding_at_the_boundary(study, follow_up, tau, expected):
    rows = _rows(study, "S1", "M0", 0, "L4-L5", "index", 100.0)
    rows += _rows(study, "S1", "M12", 12, "L4-L5", "index", follow_up)
    c = change_table(pd.DataFrame(rows), tau_pct=tau)
    change = c["change_pct"].iloc[0]
    assert change == pytest.approx(follow_up - 100.0, abs=1e-9)
    assert c["category"].iloc[0] == expected


def test_categorize_and_round_pct_directly():
    assert round_pct([0.25, -0.25, 0.35, 2.449999], 0.1).tolist() == [0.3, -0.3, 0.4, 2.4]
    assert round_pct([1.5, 2.5, -0.5], 1.0).tolist() == [2.0, 3.0, -1.0]
    assert round_pct([0.123], None).tolist() == [0.123]
    got = categorize([np.nan, 0.3, -0.3, 0.29], tau_pct=0.3, rounding_pct=0.1)
    assert got.tolist() == ["", "no evolution", "no evolution", "no evolution"]
    got = categorize([0.31, -0.31], tau_pct=0.3, rounding_pct=None)
    assert got.tolist() == ["regeneration", "degeneration"]
    with pytest.raises(InputError, match="tau_pct"):
        categorize([1.0], tau_pct=-1.0)


def test_derived_rois_use_their_own_t2_not_mean_of_percentages(study):
    # NP_central doubles, the other two NP ROIs stay; NP's own T2 (given) rises less.
    base = {"NP_anterior": 100.0, "NP_central": 100.0, "NP_posterior": 100.0, "NP": 100.0}
    follow = {"NP_anterior": 100.0, "NP_central": 200.0, "NP_posterior": 100.0, "NP": 130.0}
    rows = study.measurement_rows("S1", "M0", 0, "L4-L5", "index", base)
    rows += study.measurement_rows("S1", "M12", 12, "L4-L5", "index", follow)
    c = change_table(pd.DataFrame(rows)).set_index("roi")
    assert c.loc["NP", "change_pct"] == pytest.approx(30.0)  # from NP's T2, not (0+100+0)/3


def test_add_derived_rois_is_voxel_weighted(study):
    t2 = dict(zip(study.FIVE, (50.0, 100.0, 120.0, 110.0, 70.0), strict=True))
    rows = study.measurement_rows("S1", "M0", 0, "L4-L5", "index", t2)
    n = (10, 20, 30, 40, 50)
    for row, count in zip(rows, n, strict=True):
        row["n_voxels"] = count
    from discT2.report.io import check_measurements

    m = add_derived_rois(check_measurements(pd.DataFrame(rows))).set_index("roi")
    assert m.loc["NP", "t2_mean_ms"] == pytest.approx((20 * 100 + 30 * 120 + 40 * 110) / 90)
    assert m.loc["AF", "t2_mean_ms"] == pytest.approx((10 * 50 + 50 * 70) / 60)
    assert m.loc["disc", "n_voxels"] == sum(n)
    assert np.isnan(m.loc["disc", "t2_median_ms"])


def test_cohort_matches_truth(study):
    m, truth = study.cohort(n_subjects=5, visits=(("M0", 0), ("M6", 6), ("M12", 12)), seed=3)
    c = change_table(m)
    assert len(c) == 5 * 3 * 8 * 2  # subjects x discs x ROIs x follow-ups
    for r in c.itertuples():
        assert r.pct_of_baseline == pytest.approx(
            truth[(r.subject, r.level, r.roi, r.visit)], rel=1e-12
        )


def test_sorted_by_subject_level_roi_months(study):
    m, _ = study.cohort(n_subjects=3, visits=(("M0", 0), ("M24", 24), ("M12", 12)))
    m["subject"] = m["subject"].map({"S01": "S10", "S02": "S2", "S03": "S1"})
    c = change_table(m.sample(frac=1.0, random_state=1))
    assert list(dict.fromkeys(c["subject"])) == ["S1", "S2", "S10"]
    first = c[(c["subject"] == "S1")]
    assert list(dict.fromkeys(first["level"])) == ["L2-L3", "L3-L4", "L4-L5"]
    disc = first[first["level"] == "L2-L3"]
    assert list(dict.fromkeys(disc["roi"]))[:3] == ["AF_anterior", "NP_anterior", "NP_central"]
    assert disc[disc["roi"] == "NP"]["months"].tolist() == [12.0, 24.0]


def test_disc_missing_at_baseline_gives_no_row_and_a_note(study, trio, caplog):
    extra = pd.DataFrame(_rows(study, "S1", "M12", 12, "L5-S1", "other", 90.0))
    with caplog.at_level(logging.WARNING, logger="discT2.report"):
        c = change_table(pd.concat([trio, extra]))
    assert "L5-S1" not in set(c["level"])
    assert any("L5-S1" in n and "not measured at baseline" in n for n in c.attrs["notes"])
    assert "L5-S1" in caplog.text


def test_missing_t2_keeps_the_row_empty(study, trio):
    m = trio.copy()
    m.loc[(m["visit"] == "M12") & (m["level"] == "L2-L3"), "t2_mean_ms"] = np.nan
    c = change_table(m).set_index("level")
    assert np.isnan(c.loc["L2-L3", "change_pct"]) and c.loc["L2-L3", "category"] == ""
    assert c.loc["L4-L5", "control_levels"] == "L3-L4"  # the unmeasured control is not used
    assert any("M12 disc L2-L3: NP without T2" in n for n in c.attrs["notes"])


def test_no_baseline_is_an_error_or_skipped(study, trio):
    s2 = pd.DataFrame(_rows(study, "S2", "M12", 12, "L4-L5", "index", 90.0))
    m = pd.concat([trio, s2])
    with pytest.raises(InputError, match=r"no baseline visit .* S2"):
        change_table(m)
    c = change_table(m, missing_baseline="skip")
    assert set(c["subject"]) == {"S1"}
    assert any("S2" in n for n in c.attrs["notes"])


def test_two_baselines_is_an_error(study, trio):
    again = pd.DataFrame(_rows(study, "S1", "screening", 0, "L4-L5", "index", 81.0))
    with pytest.raises(InputError, match=r"more than one baseline .* S1: M0, screening"):
        change_table(pd.concat([trio, again]))


def test_named_baseline_visit(study, trio):
    screening = pd.DataFrame(_rows(study, "S1", "screening", 0, "L4-L5", "index", 70.0))
    c = change_table(pd.concat([trio, screening]), baseline="M0")
    assert set(c["visit"]) == {"M12", "screening"}  # index disc only at screening
    row = c[(c["visit"] == "screening")].iloc[0]
    assert row["change_pct"] == pytest.approx(100 * 70 / 80 - 100)
    with pytest.raises(InputError, match=r"no baseline visit \(visit V0\) for subject\(s\) S1"):
        change_table(trio, baseline="V0")


def test_role_change_between_visits_is_an_error(trio):
    m = trio.copy()
    m.loc[(m["visit"] == "M12") & (m["level"] == "L2-L3"), "role"] = "index"
    with pytest.raises(InputError, match=r"L2-L3 is 'control' at baseline but 'index'"):
        change_table(m)


def test_median_statistic(study):
    rows = study.measurement_rows("S1", "M0", 0, "L4-L5", "index", {"NP": 100.0})
    rows += study.measurement_rows("S1", "M12", 12, "L4-L5", "index", {"NP": 100.0})
    m = pd.DataFrame(rows)
    m["t2_median_ms"] = [90.0, 99.0]
    c = change_table(m, statistic="median")
    assert c["change_pct"].iloc[0] == pytest.approx(10.0)


def test_method_drift_is_flagged_from_the_measurements(study, trio):
    m = trio.copy()
    m.loc[m["visit"] == "M12", "method"] = "epg"
    c = change_table(m)
    assert set(c["protocol_flags"]) == {"fit_method"}
    assert set(change_table(trio)["protocol_flags"]) == {""}


def test_exam_metadata_flags_every_row_of_the_exam(trio):
    exams = pd.DataFrame(
        {
            "subject": ["S1", "S1"],
            "visit": ["M0", "M12"],
            "months": [0, 12],
            "vendor": ["Siemens", "SIEMENS"],
            "acquisition_time": ["08:00:00", "13:30:00"],
        }
    )
    c = change_table(trio, exams=exams)
    assert set(c["protocol_flags"]) == {"time_of_day"}
    assert set(change_table(trio, exams=exams, max_time_shift_h=6.0)["protocol_flags"]) == {""}
