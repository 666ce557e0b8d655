"""A real scanner series through the runner: a knee (no lumbar disc) is fitted, then fails at the
ROI step with a clear reason, and its maps are kept."""

from __future__ import annotations

import json

import pytest

from discT2.study import run_study

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_knee_fails_at_rois_and_keeps_its_maps(realdata, tmp_path):
    manifest = tmp_path / "study.csv"
    manifest.write_text(
        "subject,visit,months,dicom,index_disc,control_discs\n"
        f"K1,baseline,0,{realdata / 'knee_ge_mr750_3T_8echo'},L4-L5,L2-L3\n"
    )
    result = run_study(manifest, tmp_path / "out", report=False)
    assert result.exit_status == 1
    (exam,) = result.exams
    assert (exam.status, exam.stage) == ("failed", "rois")
    assert "no disc found automatically" in exam.error
    folder = tmp_path / "out" / "K1" / "baseline"
    doc = json.loads((folder / "exam.json").read_text())
    assert {"t2.nii.gz", "b1.nii.gz", "fit.json"} <= set(doc["outputs"])
    assert doc["series"]["vendor"] == "ge" and doc["series"]["shape"] == [256, 256, 24]
    assert "acquisition_date" not in (folder / "fit.json").read_text()
    assert "no disc found" in (tmp_path / "out" / "errors.csv").read_text()
    assert len(result.measurements) == 0 and len(result.changes) == 0
