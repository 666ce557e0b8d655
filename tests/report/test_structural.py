"""Structural endpoints: disc height index from the disc geometry, reader grades per visit."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from discT2 import sample_study
from discT2.cli import main
from discT2.errors import InputError
from discT2.report.structural import (
    STRUCTURAL_COLUMNS,
    disc_height_table,
    read_grades,
    structural_table,
)
from discT2.roi import DiscGeometry
from discT2.roi.discs_io import load_discs


def _box(level: str, top: float, height: float) -> DiscGeometry:
    """A disc 30 mm deep whose superior endplate is at z = top (RAS: y anterior, z superior)."""
    return DiscGeometry(
        level=level,
        corners_ras_mm={
            "AS": [0.0, 15.0, top],
            "PS": [0.0, -15.0, top],
            "AI": [0.0, 15.0, top - height],
            "PI": [0.0, -15.0, top - height],
        },
    )


def test_dhi_from_neighbouring_discs_by_hand():
    # L3-L4 8 mm high, a 26 mm body (L4), L4-L5 10 mm, a 28 mm body (L5), L5-S1 12 mm
    discs = [_box("L3-L4", 100.0, 8.0), _box("L4-L5", 66.0, 10.0), _box("L5-S1", 28.0, 12.0)]
    t = disc_height_table(discs).set_index("level")
    assert t.loc["L4-L5", "height_mean_mm"] == pytest.approx(10.0)
    assert t.loc["L4-L5", "vertebral_height_mm"] == pytest.approx((26.0 + 28.0) / 2)
    assert t.loc["L4-L5", "dhi"] == pytest.approx(10.0 / 27.0)
    assert t.loc["L3-L4", "dhi"] == pytest.approx(8.0 / 26.0)  # no disc above: L4 only
    assert t.loc["L5-S1", "dhi"] == pytest.approx(12.0 / 28.0)  # L5 only, never the sacrum
    assert set(t["dhi_source"]) == {"adjacent discs"}
    alone = disc_height_table([_box("L4-L5", 66.0, 10.0)])
    assert np.isnan(alone["dhi"].iloc[0]) and alone["dhi_source"].iloc[0] == ""


def test_reader_vertebra_corners_take_precedence():
    body = {"AS": [0, 15, 90], "PS": [0, -15, 90], "AI": [0, 15, 66], "PI": [0, -15, 66]}
    disc = _box("L4-L5", 66.0, 10.0)
    disc.vertebra_corners_ras_mm = {"upper": {k: np.array(v, float) for k, v in body.items()}}
    t = disc_height_table([_box("L3-L4", 100.0, 8.0), disc]).set_index("level")
    assert t.loc["L4-L5", "dhi"] == pytest.approx(10.0 / 24.0)
    assert t.loc["L4-L5", "dhi_source"] == "vertebra corners"


def test_disc_heights_match_the_phantom_truth():
    for truth in sorted(sample_study().glob("S*/*/truth")):
        table = disc_height_table(load_discs(truth / "discs.json")).set_index("level")
        doc = json.loads((truth / "truth.json").read_text())
        for disc in doc["discs"]:
            row = table.loc[disc["level"]]
            # the truth's height is the mean of the anterior and posterior heights (corners
            # stored to 1e-4 mm)
            measured = (row["height_anterior_mm"] + row["height_posterior_mm"]) / 2
            assert measured == pytest.approx(disc["geometry"]["height_mm"], abs=2e-3)
            assert 0.2 < row["dhi"] < 0.6  # lumbar discs are a quarter to half a body high


def _study_folder(tmp_path):
    """Two sample subjects, baseline and 12 months, with the true disc geometry per exam."""
    rows = []
    for subject in ("S01", "S02"):
        for visit, months in (("baseline", 0), ("m12", 12)):
            exam = tmp_path / subject / visit
            exam.mkdir(parents=True)
            shutil.copy(sample_study() / subject / visit / "truth" / "discs.json", exam)
            for level in ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"):
                role = "index" if level == {"S01": "L5-S1", "S02": "L3-L4"}[subject] else "other"
                rows.append(
                    {
                        "subject": subject,
                        "visit": visit,
                        "months": months,
                        "level": level,
                        "role": role,
                        "roi": "NP",
                        "t2_mean_ms": 100.0,
                    }
                )
    return pd.DataFrame(rows)


GRADES = """subject,visit,level,pfirrmann,pfirrmann_modified,reader,graded_on
S01,baseline,L5-S1,3,4,reader A,2026-01-12
S01,m12,L5-S1,3,3,reader A,2027-01-15
S02,baseline,L3-L4,4,,reader B,2026-02-02
"""


def test_structural_table_of_a_study(tmp_path):
    measurements = _study_folder(tmp_path)
    (tmp_path / "grades.csv").write_text(GRADES)
    t = structural_table(tmp_path, measurements, grades=read_grades(tmp_path / "grades.csv"))
    assert list(t.columns) == list(STRUCTURAL_COLUMNS)
    assert len(t) == 2 * 2 * 5
    # the sample repositions the spine rigidly between visits: the DHI does not change
    follow_up = t[t["visit"] == "m12"]
    assert np.abs(follow_up["dhi_change_pct"]).max() < 0.01
    assert t.loc[t["visit"] == "baseline", "dhi_change_pct"].isna().all()
    s01 = t[(t["subject"] == "S01") & (t["level"] == "L5-S1")].set_index("visit")
    assert s01.loc["m12", "pfirrmann_modified"] == 3 and s01.loc["baseline", "pfirrmann"] == 3
    assert s01.loc["m12", "reader"] == "reader A" and s01.loc["m12", "graded_on"] == "2027-01-15"
    assert s01.loc["m12", "role"] == "index"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("S01,baseline,L5-S1,6,,A,2026-01-12", "not a Pfirrmann grade 1-5"),
        ("S01,baseline,L5-S1,,9,A,2026-01-12", "not a modified Pfirrmann .Griffith. grade 1-8"),
        ("S01,baseline,L5-S1,3,,,2026-01-12", "a grade needs its reader"),
        ("S01,baseline,L5-S1,3,,A,12/01/2026", "not a date YYYY-MM-DD"),
        ("S01,baseline,L5-S1,,,A,2026-01-12", "no grade"),
    ],
)
def test_bad_grades_are_refused(tmp_path, line, message):
    path = tmp_path / "grades.csv"
    path.write_text(GRADES.splitlines()[0] + "\n" + line + "\n")
    with pytest.raises(InputError, match=message):
        read_grades(path)


def test_report_shows_the_structural_endpoints(tmp_path, capsys):
    measurements = _study_folder(tmp_path)
    measurements.to_csv(tmp_path / "measurements.csv", index=False)
    (tmp_path / "grades.csv").write_text(GRADES)
    (tmp_path / "arms.csv").write_text("subject,arm\nS01,MSC\nS02,sham\n")
    assert main(["-q", "report", str(tmp_path), "--no-maps"]) == 0
    assert (tmp_path / "structural.csv").is_file()
    html = (tmp_path / "report_BLINDED.html").read_text()
    assert "Structural endpoints" in html and "modified Pfirrmann" in html
    assert "reader A" in html and "2027-01-15" in html
    arms = str(tmp_path / "arms.csv")
    assert main(["-q", "report", str(tmp_path), "--no-maps", "--arms", arms]) == 0
    html = (tmp_path / "report_UNBLINDED.html").read_text()
    assert "Per arm (mean ± SD; grades as median [IQR])" in html
    assert "3 [3; 3]" in html  # S01's Pfirrmann grade, the only treated disc of arm MSC
