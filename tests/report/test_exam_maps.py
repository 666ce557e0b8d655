"""T2-map figures found in a study folder."""

from __future__ import annotations

import json

import pandas as pd

from discT2.io.nifti import save_map
from discT2.report import disc_roi_names, exam_map_figures


def _write_exam(folder, study, level="L4-L5"):
    t2, labels, affine, info = study.sagittal_disc(level=level)
    save_map(t2, affine, folder / "fit" / "t2.nii.gz")
    save_map(labels, affine, folder / "rois" / "rois.nii.gz", dtype="int16")
    return info


def test_disc_roi_names():
    assert disc_roi_names("L5-S1") == {
        51: "AF_anterior",
        52: "NP_anterior",
        53: "NP_central",
        54: "NP_posterior",
        55: "AF_posterior",
    }
    table = {"7": {"level": "L4-L5", "roi": "NP_central"}, "8": {"level": "L3-L4", "roi": "AF"}}
    assert disc_roi_names("L4-L5", table) == {7: "NP_central"}
    assert disc_roi_names("C5-C6") == {}


def test_figures_per_disc_and_visit(study, tmp_path):
    m, _ = study.cohort(n_subjects=2, seed=1)
    m = m[m["level"].isin(["L4-L5", "L2-L3"])]
    _write_exam(tmp_path / "S01" / "M0", study)
    _write_exam(tmp_path / "S01" / "M12", study)
    notes: list[str] = []
    figures = exam_map_figures(tmp_path, m, notes=notes)
    # S01: L4-L5 drawn at both visits; L2-L3 has no labels in these files -> a note each
    assert [f.caption for f in figures] == [
        "Subject S01, L4-L5 (index disc), M0 (0 months)",
        "Subject S01, L4-L5 (index disc), M12 (12 months)",
    ]
    assert all(f.subject == "S01" and f.figure[:4] == b"\x89PNG" for f in figures)
    assert any("S02 visit M0" in n and "no t2.nii.gz" in n for n in notes)
    assert any("disc L2-L3" in n for n in notes)


def test_label_table_of_rois_json_is_used(study, tmp_path):
    _write_exam(tmp_path / "S1" / "M0", study, level="L4-L5")
    # rois.json says these labels belong to L3-L4 (a relabelled level)
    labels = {str(40 + k): {"level": "L3-L4", "roi": r} for k, r in enumerate(study.FIVE, 1)}
    (tmp_path / "S1" / "M0" / "rois" / "rois.json").write_text(json.dumps({"labels": labels}))
    m = pd.DataFrame(study.measurement_rows("S1", "M0", 0, "L3-L4", "index", {"NP": 100.0}))
    figures = exam_map_figures(tmp_path, m)
    assert [f.caption for f in figures] == ["Subject S1, L3-L4 (index disc), M0 (0 months)"]
