"""``discT2 demo``: the whole pipeline on the bundled sample study, unblinded report at the end."""

from __future__ import annotations

import csv
import json
import re

import pytest

from discT2 import sample_study
from discT2.cli import main

pytestmark = pytest.mark.slow  # 8 exams with propagation and two reports: ~20-40 s


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    status = main(["-q", "demo", "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    report = (out / "report_UNBLINDED.html").resolve()
    assert f"The report (open it in a browser): {report}" in printed
    assert "8 exams: 8 ok" in printed
    for name in ("measurements.csv", "changes.csv", "errors.csv", "exams.csv", "run.json",
                 "trial_table.csv", "trial_endpoints.csv", "trial_endpoints.xlsx"):  # fmt: skip
        assert (out / name).is_file(), name
    with (sample_study() / "arms.csv").open(newline="") as fh:
        arms = {r["subject"]: r["arm"] for r in csv.DictReader(fh)}
    html = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", report.read_text())
    assert "Trial tables (unblinded)" in html and 'class="banner unblinded"' in html
    # the ROI review notes of the run survive unblinding
    reviewed = [e for e in json.loads((out / "run.json").read_text())["exams"] if e["review"]]
    for exam in reviewed:
        assert f"{exam['subject']}/{exam['visit']}: review the ROIs" in html
    for arm in set(arms.values()):
        assert arm in html
    with (out / "trial_table.csv").open(newline="") as fh:
        trial = list(csv.DictReader(fh))
    assert {r["arm"] for r in trial} == set(arms.values())
    # the treated discs of the sample change by +8 to +25 % (MSC) and -2 to -10 % (sham) in
    # the nucleus: the arms separate in the measured NP change
    np_change = {
        r["arm"]: float(r["mean_pct"])
        for r in trial
        if r["roi"] == "NP" and r["endpoint"] == "change_pct"
    }
    assert np_change["MSC"] > 5 > 0 > np_change["sham"]
    # A second demo with nothing changed reuses every exam and warns about nothing (it used to
    # say it removed the trial table "made from earlier measurements").
    assert main(["-q", "demo", "--out", str(out)]) == 0
    assert "WARNING" not in capsys.readouterr().err
    assert (out / "trial_table.csv").is_file()
