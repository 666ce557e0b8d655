"""Table files: fixed columns and formats, atomic byte-identical writes, clear refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from discT2.errors import InputError, StudyError
from discT2.report import (
    CHANGE_COLUMNS,
    MEASUREMENT_COLUMNS,
    change_table,
    read_arms,
    read_changes,
    read_measurements,
    write_table,
)
from discT2.report.io import check_measurements


def test_measurements_round_trip(study, tmp_path):
    m, _ = study.cohort(n_subjects=2, seed=4)
    path = write_table(m, tmp_path / "measurements.csv", kind="measurements")
    assert path.read_text().splitlines()[0] == ",".join(MEASUREMENT_COLUMNS)
    back = read_measurements(path)
    assert back["t2_mean_ms"].to_numpy() == pytest.approx(m["t2_mean_ms"].to_numpy(), abs=5e-4)
    assert back["n_voxels"].tolist() == m["n_voxels"].tolist()
    write_table(back, tmp_path / "again.csv", kind="measurements")
    assert (tmp_path / "again.csv").read_bytes() == path.read_bytes()


def test_changes_round_trip_is_byte_identical(study, tmp_path):
    m, _ = study.cohort(n_subjects=3, seed=4)
    c = change_table(m)
    first = write_table(c, tmp_path / "changes.csv", kind="changes").read_bytes()
    back = read_changes(tmp_path / "changes.csv")
    assert tuple(back.columns) == CHANGE_COLUMNS
    assert back["control_levels"].tolist() == c["control_levels"].tolist()
    assert np.allclose(back["change_pct"], c["change_pct"], atol=1e-4)
    write_table(back, tmp_path / "changes2.csv", kind="changes")
    assert (tmp_path / "changes2.csv").read_bytes() == first
    assert not list(tmp_path.glob(".*.tmp"))


def test_subject_codes_stay_text(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        "subject,visit,months,level,role,roi,t2_mean_ms\n"
        "007,0,0,L4-L5,index,NP,100\n007,12,12,L4-L5,index,NP,110\n"
    )
    m = read_measurements(path)
    assert m["subject"].tolist() == ["007", "007"] and m["visit"].tolist() == ["0", "12"]
    assert change_table(m)["subject"].tolist() == ["007"]


def test_extra_columns_are_dropped(study):
    m, _ = study.cohort(n_subjects=1)
    m["PatientID"] = "12345678"
    assert tuple(check_measurements(m).columns) == MEASUREMENT_COLUMNS


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.drop(columns=["roi"]), r"missing column\(s\) 'roi'"),
        (lambda m: m.drop(columns=["t2_mean_ms"]), r"missing column 't2_mean_ms'"),
        (lambda m: m.assign(role="treated"), r"column 'role' has 'treated'; expected one of"),
        (lambda m: m.assign(roi="nucleus"), r"column 'roi' has 'nucleus'"),
        (lambda m: m.assign(months=np.nan), r"column 'months' is empty in row\(s\) 1, 2"),
        (lambda m: pd.concat([m, m.iloc[[0]]]), r"duplicate rows for subject/visit/level/roi"),
        (lambda m: m.assign(n_voxels=2.5), r"'n_voxels' must hold whole numbers"),
        (lambda m: m.assign(subject=""), r"column 'subject' is empty"),
    ],
)
def test_measurement_refusals_name_the_table_and_column(study, edit, message):
    m, _ = study.cohort(n_subjects=1)
    with pytest.raises(InputError, match=message) as info:
        check_measurements(edit(m), source="study/measurements.csv")
    assert "study/measurements.csv" in str(info.value)


def test_visit_with_two_months_is_refused(study):
    m, _ = study.cohort(n_subjects=1)
    m.loc[0, "months"] = 1.0
    with pytest.raises(InputError, match="S01 visit M0 has rows with different 'months'"):
        check_measurements(m)


def test_arms_file(tmp_path):
    good = tmp_path / "arms.csv"
    good.write_text("subject, arm\n01,MSC\n02,sham\n")
    assert read_arms(good).to_dict("list") == {"subject": ["01", "02"], "arm": ["MSC", "sham"]}
    dup = tmp_path / "dup.csv"
    dup.write_text("subject,arm\n01,MSC\n01,sham\n")
    with pytest.raises(StudyError, match=r"dup.csv: subject\(s\) 01 listed more than once"):
        read_arms(dup)
    with pytest.raises(StudyError, match=r"missing column\(s\) 'arm'"):
        bad = tmp_path / "bad.csv"
        bad.write_text("subject,group\n01,MSC\n")
        read_arms(bad)
    with pytest.raises(StudyError, match="no such file"):
        read_arms(tmp_path / "none.csv")


def test_unknown_category_in_changes_is_refused(study, tmp_path):
    m, _ = study.cohort(n_subjects=1)
    c = change_table(m)
    write_table(c, tmp_path / "changes.csv", kind="changes")
    text = (tmp_path / "changes.csv").read_text().replace("regeneration", "better", 1)
    text = text.replace("no evolution", "better", 1).replace("degeneration", "better", 1)
    (tmp_path / "changes.csv").write_text(text)
    with pytest.raises(InputError, match="column 'category' has 'better'"):
        read_changes(tmp_path / "changes.csv")
