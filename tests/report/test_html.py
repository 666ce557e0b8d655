"""The HTML report: self-contained, tables present, blinded without any allocation, no PHI."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest

from discT2.report import (
    MapFigure,
    change_table,
    plot_t2_rois,
    protocol_drift,
    render_report,
    trial_table,
    write_report,
)

DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


def _text(html: str) -> str:
    """The report without its embedded images (base64 can spell any word by chance)."""
    return DATA_URI.sub("", html)


@pytest.fixture
def cohort(study):
    m, _ = study.cohort(n_subjects=4, visits=(("M0", 0), ("M12", 12)), seed=7)

    m.loc[(m["subject"] == "S02") & (m["visit"] == "M12"), "method"] = "epg"
    c = change_table(m)
    arms = pd.DataFrame({"subject": ["S01", "S02", "S03", "S04"], "arm": ["MSC", "sham"] * 2})
    errors = pd.DataFrame(
        {
            "subject": ["S05"],
            "visit": ["M12"],
            "stage": ["load"],
            "error": ["no echoes found in the DICOM folder"],
        }
    )
    return m, c, arms, errors


def test_blinded_report_has_no_allocation(cohort):
    m, c, _, errors = cohort
    html = render_report(c, measurements=m, errors=errors)
    text = _text(html)
    assert not re.search(r"arm", text, flags=re.IGNORECASE)
    assert 'title="arm"' not in html and "trial" not in text.lower()
    assert "MSC" not in text and "sham" not in text


def test_report_holds_the_tables_and_settings(cohort):
    m, c, _, errors = cohort
    html = render_report(c, measurements=m, errors=errors, trajectory_rois=())
    row = c[(c["subject"] == "S03") & (c["level"] == "L4-L5") & (c["roi"] == "NP")].iloc[0]
    assert f"{row['change_pct']:.1f}" in html
    assert f"{row['treated_minus_control_pct']:.1f}" in html
    assert f"{row['baseline_t2_ms']:.1f}" in html
    assert f"{row['pct_of_baseline']:.1f}" in html and repr(row["pct_of_baseline"]) not in html
    for column in (
        "change_pct",
        "treated_minus_control_pct",
        "ratio_change_pct",
        "control_levels",
        "category",
    ):
        assert f'title="{column}"' in html
    assert "Subject S03" in html and "L2-L3;L3-L4" in html
    assert "Threshold tau" in html and "nlls" in html
    assert "fit_method" in html  # S02's follow-up was fitted with another method
    assert "no echoes found in the DICOM folder" in html and "S05" in html
    assert "smallest change detectable" in html  # tau = 0 is below measurement noise


def test_self_contained(cohort, study, tmp_path):
    m, c, _, _ = cohort
    t2, labels, affine, _ = study.sagittal_disc()
    maps = [
        MapFigure(
            "S01", "Subject S01, L4-L5 (index disc), M0", plot_t2_rois(t2, labels, affine=affine)
        )
    ]
    path = write_report(tmp_path / "report.html", c, measurements=m, map_figures=maps)
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    images = DATA_URI.findall(html)
    assert len(images) == 4 + 1  # a trajectory figure per subject and the map
    for uri in images:
        assert base64.b64decode(uri.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Subject S01, L4-L5 (index disc), M0" in html
    assert not list(tmp_path.glob(".*tmp"))  # written atomically, nothing left behind


def test_unblinded_report_has_the_trial_tables(cohort):
    m, c, arms, _ = cohort
    html = render_report(c, measurements=m, arms=arms, trajectory_rois=(), box_rois=("NP",))
    assert "Trial tables (unblinded)" in html and "UNBLINDED" in html
    assert "MSC (n = 2)" in html and "sham (n = 2)" in html  # arms as columns
    assert "Primary endpoint: Change of the treated disc from baseline, NP" in html
    t = trial_table(c, arms)
    row = t[(t["roi"] == "NP") & (t["arm"] == "MSC") & (t["endpoint"] == "change_pct")].iloc[0]
    assert f"{row['mean_pct']:.1f}" in html
    assert "MSC: 2" in html and "sham: 2" in html
    assert len(DATA_URI.findall(html)) == 2  # one box plot per endpoint


def test_drift_details(cohort):
    m, c, _, _ = cohort
    exams = pd.DataFrame(
        {
            "subject": ["S01", "S01"],
            "visit": ["M0", "M12"],
            "months": [0, 12],
            "vendor": ["Siemens", "Philips"],
        }
    )
    html = render_report(c, measurements=m, drift=protocol_drift(exams), trajectory_rois=())
    assert "vendor Siemens -&gt; Philips" in html


def test_no_phi_passes_through(study, tmp_path):
    m, _ = study.cohort(n_subjects=2, seed=1)
    m["PatientName"] = "DOE^JANE"
    m["PatientBirthDate"] = "19610203"
    c = change_table(m)
    assert "PatientName" not in c.columns
    html = render_report(c, measurements=m, trajectory_rois=())
    assert "DOE" not in html and "19610203" not in html


def test_html_escapes_text(study):
    m, _ = study.cohort(n_subjects=1, seed=1)
    m["subject"] = "<b>S1</b>"
    html = render_report(change_table(m), measurements=m, trajectory_rois=())
    assert "<b>S1</b>" not in html and "&lt;b&gt;S1&lt;/b&gt;" in html
