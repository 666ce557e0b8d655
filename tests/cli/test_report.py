"""``discT2 report DIR``: blinded and unblinded reports, tau changes, reruns, refusals."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from discT2.cli import main
from discT2.io.nifti import save_map
from discT2.report import (
    CHANGE_COLUMNS,
    TRIAL_COLUMNS,
    read_changes,
    read_trial_table,
    trial_table,
    write_table,
)


def _study_module():
    path = Path(__file__).resolve().parents[1] / "report" / "_study.py"
    spec = importlib.util.spec_from_file_location("discT2_tests_report_study_cli", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


study = _study_module()


@pytest.fixture
def study_dir(tmp_path):
    m, _ = study.cohort(n_subjects=4, visits=(("M0", 0), ("M12", 12)), seed=11)
    write_table(m, tmp_path / "measurements.csv", kind="measurements")
    exams = pd.DataFrame(
        {
            "subject": [s for s in ("S01", "S02", "S03", "S04") for _ in range(2)],
            "visit": ["M0", "M12"] * 4,
            "months": [0, 12] * 4,
            "vendor": ["Siemens"] * 8,
            "echo_times_ms": ["10;20;30"] * 7 + ["9;18;27"],
            "acquisition_time": ["08:00"] * 8,
        }
    )
    write_table(exams, tmp_path / "exams.csv", kind="exams")
    errors = pd.DataFrame(
        {"subject": ["S05"], "visit": ["M0"], "stage": ["load"], "error": ["not a DICOM file"]}
    )
    write_table(errors, tmp_path / "errors.csv", kind="errors")
    t2, labels, affine, _ = study.sagittal_disc()
    save_map(t2, affine, tmp_path / "S01" / "M0" / "t2.nii.gz")
    save_map(labels, affine, tmp_path / "S01" / "M0" / "rois.nii.gz", dtype="int16")
    arms = tmp_path / "arms.csv"
    arms.write_text("subject,arm\nS01,MSC\nS02,sham\nS03,MSC\nS04,sham\n")
    return tmp_path


def test_blinded_report(study_dir, capsys):
    assert main(["report", str(study_dir)]) == 0
    out = capsys.readouterr().out
    assert str(study_dir / "report_BLINDED.html") in out and str(study_dir / "changes.csv") in out
    assert not (study_dir / "trial_table.csv").exists()
    header = (study_dir / "changes.csv").read_text().splitlines()[0]
    assert header == ",".join(CHANGE_COLUMNS)
    changes = read_changes(study_dir / "changes.csv")
    assert set(changes.loc[changes["subject"] == "S04", "protocol_flags"]) == {"echo_times"}
    html = (study_dir / "report_BLINDED.html").read_text()
    assert "<h1>Disc T2 change report — BLINDED</h1>" in html and "banner blinded" in html
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert not re.search("arm", text, flags=re.IGNORECASE)
    assert "not a DICOM file" in html and "echo times 3 echoes 10-30 ms" in html
    assert "Subject S01, L4-L5 (index disc), M0" in html  # the T2 map figure
    assert "T2-map figures: 1 drawn" in html  # the other exams have no maps


def test_unblinded_report_and_trial_table(study_dir, capsys):
    assert main(["report", str(study_dir), "--arms", str(study_dir / "arms.csv")]) == 0
    path = study_dir / "trial_table.csv"
    assert path.read_text().splitlines()[0] == ",".join(TRIAL_COLUMNS)
    table = read_trial_table(path)
    expected = trial_table(
        read_changes(study_dir / "changes.csv"), pd.read_csv(study_dir / "arms.csv", dtype=str)
    )
    assert len(table) == len(expected)
    pd.testing.assert_series_equal(
        table["welch_p"], expected["welch_p"], rtol=1e-5, check_dtype=False
    )
    assert table["n"].tolist() == expected["n"].tolist()
    html = (study_dir / "report_UNBLINDED.html").read_text()
    assert "<h1>Disc T2 change report — UNBLINDED</h1>" in html and "banner unblinded" in html
    assert "MSC (n = 2)" in html and "Trial tables (unblinded)" in html
    for name in ("trial_endpoints.csv", "trial_endpoints.xlsx"):
        assert (study_dir / name).is_file()


def test_tau_change_recomputes_and_rerun_is_identical(study_dir):
    assert main(["-q", "report", str(study_dir), "--no-maps"]) == 0
    first = (study_dir / "changes.csv").read_bytes()
    mtime = (study_dir / "changes.csv").stat().st_mtime_ns
    assert main(["-q", "report", str(study_dir), "--no-maps"]) == 0
    assert (study_dir / "changes.csv").stat().st_mtime_ns == mtime  # reused, not rewritten
    assert main(["-q", "report", str(study_dir), "--tau", "5", "--no-maps"]) == 0
    changes = read_changes(study_dir / "changes.csv")
    assert set(changes["tau_pct"]) == {5.0}
    assert (study_dir / "changes.csv").read_bytes() != first
    assert main(["-q", "report", str(study_dir), "--tau", "0", "--no-maps"]) == 0
    assert (study_dir / "changes.csv").read_bytes() == first


def test_stale_changes_are_recomputed(study_dir):
    assert main(["-q", "report", str(study_dir), "--no-maps"]) == 0
    m = pd.read_csv(study_dir / "measurements.csv", dtype={"subject": str})
    m.loc[(m["subject"] == "S01") & (m["visit"] == "M12"), "t2_mean_ms"] *= 1.5
    m.to_csv(study_dir / "measurements.csv", index=False)
    later = (study_dir / "changes.csv").stat().st_mtime + 5
    os.utime(study_dir / "measurements.csv", (later, later))
    assert main(["-q", "report", str(study_dir), "--no-maps"]) == 0
    c = read_changes(study_dir / "changes.csv")
    assert (c.loc[c["subject"] == "S01", "category"] == "regeneration").all()


def test_missing_measurements(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "measurements.csv: no such file" in capsys.readouterr().err


def test_subjects_without_arm(study_dir, capsys):
    arms = study_dir / "arms.csv"
    arms.write_text("subject,arm\nS01,MSC\nS02,sham\n")
    assert main(["report", str(study_dir), "--arms", str(arms)]) == 2
    err = capsys.readouterr().err
    assert "no arm for subject(s) S03, S04" in err and "arms.csv" in err
    assert not (study_dir / "trial_table.csv").exists()


def test_bad_measurement_value_names_file_column_and_row(study_dir, capsys):
    m = pd.read_csv(study_dir / "measurements.csv", dtype=str)
    m.loc[2, "t2_mean_ms"] = "n/d ms"
    m.to_csv(study_dir / "measurements.csv", index=False)
    assert main(["report", str(study_dir)]) == 2
    err = capsys.readouterr().err
    assert "measurements.csv: column 't2_mean_ms' must hold numbers; found row 3: 'n/d ms'" in err


def test_review_notes_survive_unblinding(study_dir):
    run = {
        "exams": [
            {"subject": "S02", "visit": "M12", "status": "ok", "review": ["L4-L5 propagated"]},
            {"subject": "S03", "visit": "M12", "status": "failed", "review": ["L4-L5 auto"]},
        ]
    }
    (study_dir / "run.json").write_text(json.dumps(run))
    for extra, name in (([], "report_BLINDED.html"), (["--arms"], "report_UNBLINDED.html")):
        args = ["-q", "report", str(study_dir), "--no-maps"]
        if extra:
            args += ["--arms", str(study_dir / "arms.csv")]
        assert main(args) == 0
        html = (study_dir / name).read_text()
        assert "S02/M12: review the ROIs: L4-L5 propagated." in html
        assert "S03/M12" not in html  # failed exams have nothing measured to review
