"""``discT2 simulate`` through ``main([...])``."""

import csv

from discT2.cli import main


def test_simulate_writes_a_study(tmp_path, capsys):
    out = tmp_path / "study"
    code = main(["-q", "simulate", str(out), "--preset", "sample", "--subjects", "1",
                 "--seed", "4", "--nifti"])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out / "study.csv")
    with open(out / "study.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["subject"], r["visit"]) for r in rows] == [("S01", "baseline"), ("S01", "m12")]
    assert (out / "S01" / "m12" / "nifti" / "mese.nii.gz").is_file()
    assert len(list((out / "S01" / "baseline" / "dicom").iterdir())) == 30
    readme = (out / "README.md").read_text()
    assert "discT2 simulate study --preset sample --subjects 1 --seed 4 --nifti" in readme


def test_simulate_keeps_an_existing_study(tmp_path, capsys):
    (tmp_path / "study.csv").write_text("subject\n")
    assert main(["simulate", str(tmp_path), "--preset", "sample", "--subjects", "1"]) == 2
    assert "already holds a study" in capsys.readouterr().err
    assert (tmp_path / "study.csv").read_text() == "subject\n"


def test_simulate_refuses_bad_visits(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "s"), "--visits", "0,twelve"]) == 2
    assert "--visits must be months" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "s"), "--visits", "6,12"]) == 2
    assert "start at 0" in capsys.readouterr().err
