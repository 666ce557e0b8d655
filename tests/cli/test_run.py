"""``discT2 run``: a small study end to end through the command line, exit statuses, refusals."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest

from discT2.cli import SUBCOMMANDS, main
from discT2.phantom.study import PRESETS, make_study, plan_study


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    """Two subjects, baseline and 12 months, with a discs file at every visit (fast)."""
    root = tmp_path_factory.mktemp("cli_study")
    protocol = replace(PRESETS["sample"]["protocol"], supersample=1, n_echoes=8)
    study = make_study(root, plan_study(2, visits_months=(0, 12), seed=5, protocol=protocol))
    rows = read_csv(study.study_csv)
    for row in rows:
        row["discs"] = f"{row['subject']}/{row['visit']}/truth/discs.json"
    with study.study_csv.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return study


def test_subcommand_order():
    assert SUBCOMMANDS == (
        "info",
        "fit",
        "rois",
        "measure",
        "run",
        "report",
        "agreement",
        "demo",
        "simulate",
    )


def test_run_writes_the_study_folder(small_study, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["-q", "run", str(small_study.study_csv), "-o", str(out), "--tau", "5"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "4 exams: 4 ok" in printed
    assert f"report: {out / 'report_BLINDED.html'}" in printed
    for name in ("measurements.csv", "changes.csv", "exams.csv", "errors.csv",
                 "report_BLINDED.html", "run.json"):  # fmt: skip
        assert (out / name).is_file(), name
    for s in ("S01", "S02"):
        for v in ("baseline", "m12"):
            assert (out / s / v / "exam.json").is_file()
            assert (out / s / v / "t2.nii.gz").is_file()
    changes = read_csv(out / "changes.csv")
    assert {r["tau_pct"] for r in changes} == {"5"}
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["ok"] == 4 and run["tau_pct"] == 5.0

    # a rerun reuses everything; a different method recomputes
    assert main(["-q", "run", str(small_study.study_csv), "-o", str(out), "--no-report"]) == 0
    assert "4 reused" in capsys.readouterr().out
    assert main(["-q", "run", str(small_study.study_csv), "-o", str(out), "--method", "nlls",
                 "--skip-first-echo", "--no-report"]) == 0  # fmt: skip
    assert "reused" not in capsys.readouterr().out
    exam = json.loads((out / "S01" / "m12" / "exam.json").read_text())
    assert exam["options"]["method"] == "nlls"
    assert exam["options"]["fit"] == {"skip_first_echo": True}


def test_failed_exam_gives_exit_status_1(small_study, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    text = small_study.study_csv.read_text().replace("S02/m12/dicom", str(empty))
    manifest = small_study.folder / "study_broken.csv"
    manifest.write_text(text)
    out = tmp_path / "out"
    status = main(["-q", "run", str(manifest), "-o", str(out), "--no-report"])
    assert status == 1
    printed = capsys.readouterr().out
    assert "3 ok" in printed and "1 failed" in printed
    assert f"exams not completed: {out / 'errors.csv'}" in printed
    errors = read_csv(out / "errors.csv")
    assert [(e["subject"], e["visit"], e["stage"]) for e in errors] == [("S02", "m12", "load")]
    assert "no DICOM MR images found" in errors[0]["error"]
    assert str(empty) in errors[0]["error"]
    assert not (out / "report_BLINDED.html").exists()


def test_bad_manifest_gives_exit_status_2(tmp_path, capsys):
    manifest = tmp_path / "study.csv"
    manifest.write_text("subject,visit,months,dicom,index_disc,control_discs\nS1,M0,0,a,L9,\n")
    assert main(["run", str(manifest), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "line 2, column 'index_disc': unknown disc level 'L9'" in err
    assert main(["run", str(tmp_path / "none.csv"), "-o", str(tmp_path / "out")]) == 2
    assert "no such study manifest" in capsys.readouterr().err


def test_output_into_the_manifest_folder_is_refused(small_study, capsys):
    status = main(["run", str(small_study.study_csv), "-o", str(small_study.folder)])
    assert status == 2
    assert "output folder is the manifest's folder" in capsys.readouterr().err


def test_bad_option_values(small_study, tmp_path, capsys):
    assert main(["run", str(small_study.study_csv), "-o", str(tmp_path), "--workers", "0"]) == 2
    assert "workers must be" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", str(small_study.study_csv), "-o", str(tmp_path), "--method", "magic"])


def test_no_patient_fields_in_logs_or_outputs(small_study, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["-v", "run", str(small_study.study_csv), "-o", str(out), "--no-report"]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    text += "".join(p.read_text() for p in out.rglob("*.log"))
    text += "".join(p.read_text() for p in out.rglob("*.json"))
    text += "".join(p.read_text() for p in out.rglob("*.csv"))
    assert "stage fit" in text  # the debugging detail reached the exam logs
    for subject in small_study.plan.subjects:
        for value in subject.patient.values():
            if len(value) > 1:  # PatientSex is one letter
                assert value not in text
    assert "PHANTOM" not in text


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = capsys.readouterr().out
    for option in ("--workers", "--method", "--force", "--tau", "--no-report", "--slices"):
        assert option in help_text
