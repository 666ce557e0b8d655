"""Trial tables in the published layout (RESPINE Table 3): HTML, CSV and XLSX agree."""

from __future__ import annotations

import csv
import re

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from discT2.errors import InputError
from discT2.report import (
    CATEGORIES,
    TRIAL_COLUMNS,
    category_test,
    change_table,
    pooled_outside_parts,
    primary_table,
    published_table,
    read_trial_table,
    render_report,
    trial_table,
    write_published_csv,
    write_published_xlsx,
    write_table,
)

MEASURES = [
    "n with a value",
    "regeneration (> 0 %), n (%)",
    "no evolution, n (%)",
    "degeneration (< 0 %), n (%)",
    "% change, mean ± SD",
    "% change, median [IQR]",
]


@pytest.fixture
def simulated(study, tmp_path):
    """A 2-arm study of 10 subjects and 3 visits; the tables written as the CLI writes them."""
    effects = {f"S{s:02d}": e for s, e in enumerate([12, 18, 6, -3, 15, -6, -2, 1, -9, 4], 1)}
    m, _ = study.cohort(
        n_subjects=10, visits=(("M0", 0), ("M3", 3), ("M6", 6)), seed=5, effect_pct=effects
    )
    changes = change_table(m)
    arms = pd.DataFrame({"subject": list(effects), "arm": ["MSC"] * 5 + ["placebo"] * 5})
    trial = trial_table(changes, arms)
    write_table(trial, tmp_path / "trial_table.csv", kind="trial")
    long = read_trial_table(tmp_path / "trial_table.csv")
    endpoints = published_table(long)
    primary = primary_table(long)
    write_published_csv(tmp_path / "trial_endpoints.csv", endpoints)
    write_published_xlsx(
        tmp_path / "trial_endpoints.xlsx", primary, endpoints, long, title="UNBLINDED", notes=["n"]
    )
    return changes, arms, long, endpoints, primary, tmp_path


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", text)]


def test_layout_is_the_published_one(simulated):
    _, _, _, endpoints, primary, _ = simulated
    arms = ["MSC (n = 5)", "placebo (n = 5)"]
    assert list(endpoints.columns) == [
        "endpoint",
        "visit",
        "months",
        "roi",
        "measure",
        *arms,
        "MSC − placebo, mean (95 % CI)",
        "p (MSC vs placebo)",
        "test (MSC vs placebo)",
    ]
    # 2 endpoints x 2 follow-ups x 8 ROIs, 6 rows each
    assert len(endpoints) == 2 * 2 * 8 * 6
    block = endpoints.iloc[:6]
    assert block["measure"].tolist() == MEASURES
    assert set(primary["roi"]) == {"NP"} and set(primary["endpoint"]) == {"change_pct"}
    assert primary["visit"].tolist() == ["M3"] * 6 + ["M6"] * 6
    # each p on its own comparison's row, never repeated on the other rows
    p = block["p (MSC vs placebo)"].tolist()
    assert p[0] == p[2] == p[3] == "" and p[1] and p[4] and p[5]
    assert block["test (MSC vs placebo)"].tolist()[4:] == ["Welch's t-test", "Mann–Whitney U"]
    assert not endpoints.apply(lambda col: col.str.contains("inf|nan", case=False)).any().any()


def test_every_number_equals_the_long_form_csv(simulated):
    _, _, _, endpoints, _, tmp_path = simulated
    with (tmp_path / "trial_table.csv").open(newline="") as fh:
        raw = list(csv.DictReader(fh))
    assert list(raw[0]) == list(TRIAL_COLUMNS)
    key = ["endpoint", "visit", "roi", "arm"]
    by_key = {tuple(r[k] for k in key): r for r in raw}
    for _, row in endpoints.iterrows():
        for arm in ("MSC", "placebo"):
            r = by_key[(row["endpoint"], row["visit"], row["roi"], arm)]
            cell = _numbers(row[f"{arm} (n = 5)"])
            measure = row["measure"]
            if measure == "n with a value":
                assert cell == [float(r["n"])]
            elif measure.endswith("n (%)"):
                cat = next(c for c in CATEGORIES if measure.startswith(c)).replace(" ", "_")
                assert cell[0] == float(r[f"n_{cat}"])
                assert cell[1] == pytest.approx(float(r[f"pct_{cat}"]), abs=0.05 + 1e-9)
            elif "mean" in measure:
                expected = [float(r["mean_pct"]), float(r["sd_pct"])]
                assert cell == pytest.approx(expected, abs=0.05 + 1e-9)
            else:
                expected = [float(r[c]) for c in ("median_pct", "q1_pct", "q3_pct")]
                assert cell == pytest.approx(expected, abs=0.05 + 1e-9)
        r = by_key[(row["endpoint"], row["visit"], row["roi"], "MSC")]
        p = row["p (MSC vs placebo)"]
        column = {
            "mean": "welch_p",
            "median": "mannwhitney_p",
            "regeneration": "category_p",
        }
        for word, name in column.items():
            if word in row["measure"] and p:
                value = float(r[name])
                assert p == ("<0.001" if value < 0.001 else f"{value:.3f}")
        if "mean" in row["measure"]:
            diff = _numbers(row["MSC − placebo, mean (95 % CI)"])
            expected = [
                float(r[c]) for c in ("diff_mean_pct", "diff_ci_low_pct", "diff_ci_high_pct")
            ]
            assert diff == pytest.approx(expected, abs=0.05 + 1e-9)


def test_xlsx_reads_back_as_the_csv(simulated):
    _, _, long, endpoints, primary, tmp_path = simulated
    wb = load_workbook(tmp_path / "trial_endpoints.xlsx", read_only=True)
    assert wb.sheetnames == ["Primary endpoint", "Endpoints", "Long form"]
    with (tmp_path / "trial_endpoints.csv").open(newline="", encoding="utf-8") as fh:
        csv_rows = list(csv.reader(fh))
    for sheet, table in (("Endpoints", csv_rows), ("Primary endpoint", None)):
        rows = [
            [("" if v is None else v) for v in r] for r in wb[sheet].iter_rows(values_only=True)
        ]
        assert "UNBLINDED" in rows[0][0]
        header = rows[2][: len(endpoints.columns)]
        assert header == list(endpoints.columns)
        body = [r[: len(header)] for r in rows[3:] if any(r)]
        body = body[:-1]  # the note line under the table
        if table is not None:
            assert [header, *body] == table
        else:
            assert body == primary.astype(str).to_numpy().tolist()
    long_rows = list(wb["Long form"].iter_rows(values_only=True))
    assert list(long_rows[0]) == list(TRIAL_COLUMNS)
    for got, (_, want) in zip(long_rows[1:], long.iterrows(), strict=True):
        for name, value in zip(TRIAL_COLUMNS, got, strict=True):
            expected = want[name]
            if expected is pd.NA or (isinstance(expected, float) and np.isnan(expected)):
                assert value in (None, ""), name
            elif isinstance(value, (int, float)):
                assert value == pytest.approx(float(expected), rel=1e-12), name
            else:
                assert value == str(expected), name


def test_html_shows_the_primary_table_first(simulated):
    changes, arms, long, _, _, _ = simulated
    html = render_report(changes, arms=arms, trial=long, trajectory_rois=(), box_rois=())
    trial_part = html[html.index('id="trial"') :]
    assert trial_part.index("Primary endpoint") < trial_part.index("<h4>M3 (3 months)</h4>")
    assert "MSC (n = 5)</th><th>placebo (n = 5)</th>" in trial_part
    assert "regeneration (&gt; 0 %), n (%)" in trial_part
    assert "inf" not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", trial_part)


def test_a_zero_cell_prints_no_infinite_odds_ratio():
    test, statistic, p = category_test([[5, 0], [2, 3]])
    assert test == "fisher exact" and np.isnan(statistic) and 0 < p <= 1


def test_unknown_primary_roi_is_refused(simulated):
    with pytest.raises(InputError, match="primary ROI 'XX'"):
        primary_table(simulated[2], roi="XX")


def test_pooled_disc_change_outside_its_parts(study):
    # nucleus +10 %, annulus +2 %, but the follow-up ROI holds more nucleus voxels: disc +12 %
    rows = []
    for visit, months, np_t2, af_t2, disc_t2 in (
        ("M0", 0, 120.0, 60.0, 90.0),
        ("M12", 12, 132.0, 61.2, 100.8),
    ):
        rows += study.measurement_rows(
            "S01", visit, months, "L4-L5", "index", {"NP": np_t2, "AF": af_t2, "disc": disc_t2}
        )
    changes = change_table(pd.DataFrame(rows))
    outside = pooled_outside_parts(changes)
    assert len(outside) == 1
    assert outside["change_pct"].iloc[0] == pytest.approx(12.0)
    assert (outside["parts_low_pct"].iloc[0], outside["parts_high_pct"].iloc[0]) == pytest.approx(
        (2.0, 10.0)
    )
    html = render_report(changes, trajectory_rois=())
    assert html.count('<sup class="mark"') == 2  # the index table and the all-ROI table
    assert "outside the range of their own nucleus and annulus changes" in html
