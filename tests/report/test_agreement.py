"""Reader agreement: ICCs against Shrout & Fleiss (1979), Bland-Altman by hand, the CLI on two
readers' ROI sets of the sample study."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest

from discT2 import sample_study
from discT2.cli import main
from discT2.errors import InputError
from discT2.report.agreement import AGREEMENT_COLUMNS, bland_altman, icc

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]


def test_shrout_fleiss_table_2():
    r = icc(SHROUT_FLEISS)
    # the published values (Shrout & Fleiss 1979, Table 4): ICC(2,1) = .29, ICC(3,1) = .71
    assert round(r.icc21, 2) == 0.29 and round(r.icc31, 2) == 0.71
    assert r.f == pytest.approx(11.03, abs=0.005)
    # the intervals R's psych::ICC prints for the same table (its documented example):
    # ICC2 0.019 to 0.76, ICC3 0.342 to 0.95
    assert r.icc21_ci == pytest.approx((0.019, 0.76), abs=0.005)
    assert r.icc31_ci == pytest.approx((0.342, 0.95), abs=0.005)


def _anova_by_least_squares(y: np.ndarray) -> tuple[float, float, float]:
    """BMS, JMS, EMS of a two-way additive model from nested least-squares fits."""
    n, k = y.shape
    rows = np.repeat(np.eye(n), k, axis=0)
    cols = np.tile(np.eye(k), (n, 1))
    flat = y.ravel()

    def rss(design):
        beta, *_ = np.linalg.lstsq(design, flat, rcond=None)
        return float(np.sum((flat - design @ beta) ** 2))

    ones = np.ones((n * k, 1))
    full = rss(np.hstack([rows, cols]))
    without_targets = rss(np.hstack([ones, cols]))
    without_raters = rss(np.hstack([ones, rows]))
    return (
        (without_targets - full) / (n - 1),
        (without_raters - full) / (k - 1),
        full / ((n - 1) * (k - 1)),
    )


@pytest.mark.parametrize("shape", [(12, 2), (30, 2), (9, 3)])
def test_icc_equals_an_independent_anova(shape):
    rng = np.random.default_rng(sum(shape))
    n, k = shape
    y = 100 + rng.normal(0, 15, (n, 1)) + rng.normal(0, 3, (1, k)) + rng.normal(0, 5, (n, k))
    bms, jms, ems = _anova_by_least_squares(y)
    r = icc(y)
    assert r.icc31 == pytest.approx((bms - ems) / (bms + (k - 1) * ems), rel=1e-9)
    assert r.icc21 == pytest.approx(
        (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n), rel=1e-9
    )
    assert r.icc31_ci[0] < r.icc31 < r.icc31_ci[1]
    assert r.icc21_ci[0] < r.icc21 < r.icc21_ci[1]


def test_icc_refuses_bad_tables():
    with pytest.raises(InputError, match=">= 2 of each"):
        icc([[1.0, 2.0]])
    with pytest.raises(InputError, match="non-finite"):
        icc([[1.0, np.nan], [2.0, 3.0]])


def test_bland_altman_by_hand():
    a = np.array([100.0, 110.0, 120.0, 90.0])
    b = np.array([102.0, 108.0, 124.0, 92.0])
    r = bland_altman(a, b)
    d = np.array([2.0, -2.0, 4.0, 2.0])
    assert r["bias"] == pytest.approx(1.5)
    assert r["sd_diff"] == pytest.approx(np.sqrt(np.sum((d - 1.5) ** 2) / 3))
    assert r["loa_high"] - r["loa_low"] == pytest.approx(2 * 1.959963984540054 * r["sd_diff"])
    assert r["within_sd"] == pytest.approx(np.sqrt(np.mean(d**2) / 2))
    means = (a + b) / 2
    assert r["within_cv_pct"] == pytest.approx(100 * np.sqrt(np.mean(d**2 / (2 * means**2))))
    assert r["mdc"] == pytest.approx(1.959963984540054 * np.sqrt(2) * r["within_sd"])


def _reader_measurements(folder, jitter_mm: float, seed: int):
    """Place and measure every sample exam's discs on its true T2 map from the true corners,
    moved by a reader's hand (Gaussian jitter of each corner, SD ``jitter_mm``)."""
    from discT2.maps import T2Map
    from discT2.measure import measure
    from discT2.roi import place_rois

    rng = np.random.default_rng(seed)
    frames = []
    for truth in sorted(sample_study().glob("S*/*/truth")):
        doc = json.loads((truth / "discs.json").read_text())
        for disc in doc["discs"]:
            disc.pop("outline_ras_mm", None)
            for corner, xyz in disc["corners_ras_mm"].items():
                disc["corners_ras_mm"][corner] = [
                    xyz[0],
                    xyz[1] + rng.normal(0, jitter_mm),
                    xyz[2] + rng.normal(0, jitter_mm),
                ]
        t2map = T2Map.load(truth / "t2.nii.gz")
        rois = place_rois(t2map, doc, reader=f"reader-{seed}")
        table = measure(t2map, rois)
        table.insert(0, "visit", truth.parent.name)
        table.insert(0, "subject", truth.parent.parent.name)
        frames.append(table)
    folder.mkdir()
    pd.concat(frames).to_csv(folder / "measurements.csv", index=False)


def test_agreement_of_two_readers_on_the_sample_study(tmp_path, capsys):
    _reader_measurements(tmp_path / "A", jitter_mm=0.5, seed=1)
    _reader_measurements(tmp_path / "B", jitter_mm=0.5, seed=2)
    out = tmp_path / "agreement"
    args = ["agreement", str(tmp_path / "A"), str(tmp_path / "B"), "-o", str(out)]
    assert main([*args, "--label-a", "reader 1", "--label-b", "reader 2"]) == 0
    with (out / "agreement.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(AGREEMENT_COLUMNS)
    pairs = pd.read_csv(out / "agreement_pairs.csv")
    for row in rows:
        sel = pairs["roi"] == row["roi"]
        if row["level"] != "all":
            sel &= pairs["level"] == row["level"]
        y = pairs.loc[sel, ["t2_a_ms", "t2_b_ms"]].to_numpy()
        assert int(row["n_pairs"]) == len(y)
        bms, jms, ems = _anova_by_least_squares(y)
        n = len(y)
        assert float(row["icc31"]) == pytest.approx((bms - ems) / (bms + ems), rel=1e-4)
        assert float(row["icc21"]) == pytest.approx(
            (bms - ems) / (bms + ems + 2 * (jms - ems) / n), rel=1e-4
        )
    pooled = {r["roi"]: r for r in rows if r["level"] == "all"}
    # 8 exams x 6 lumbar discs; the readers move corners by 0.5 mm on 1.875 mm pixels: T2
    # between discs varies far more than between readers
    assert int(pooled["disc"]["n_pairs"]) >= 40
    assert float(pooled["disc"]["icc21"]) > 0.9
    html = (out / "agreement.html").read_text()
    assert "reader 1" in html and "ICC(2,1) (95 % CI)" in html
    assert html.count("data:image/png;base64,") == 1  # the Bland-Altman figure


def test_agreement_without_pairs_is_an_error(tmp_path, capsys):
    for name, subject in (("A", "S01"), ("B", "S02")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "measurements.csv").write_text(
            f"subject,visit,level,roi,t2_mean_ms\n{subject},M0,L4-L5,NP,120\n"
        )
    args = ["agreement", str(tmp_path / "A"), str(tmp_path / "B"), "-o", str(tmp_path / "o")]
    assert main(args) == 2
    assert "fewer than 3 paired ROI values" in capsys.readouterr().err
