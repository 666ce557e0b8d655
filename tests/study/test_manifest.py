"""The study manifest: parsing, path resolution, and a clear StudyError for every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from discT2 import StudyError
from discT2.study import ExamSpec, Study, read_study

HEADER = "subject,visit,months,dicom,index_disc,control_discs,discs"
GOOD = [
    "S1,M0,0,S1/M0,L4-L5,L2-L3;L3-L4,S1/M0/discs.json",
    "S1,M12,12,S1/M12,L4/5,L2-L3; l3-4,",
    "S2,M0,0,/data/S2/M0,L5-S1,L2-L3,",
    "S2,M6,6.5,S2/M6,L5-S1,L2-L3,",
]


def write(tmp_path: Path, lines, header=HEADER, name="study.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def test_reads_and_resolves(tmp_path):
    study = read_study(write(tmp_path, GOOD))
    assert len(study) == 4 and study.subjects == ["S1", "S2"]
    m0 = study.exam("S1", "M0")
    assert m0.dicom == tmp_path / "S1" / "M0"
    assert m0.discs == tmp_path / "S1" / "M0" / "discs.json"
    assert m0.dicom_text == "S1/M0" and m0.line == 2
    m12 = study.exam("S1", "M12")
    assert m12.index_disc == "L4-L5" and m12.control_discs == ("L2-L3", "L3-L4")
    assert m12.discs is None and m12.months == 12.0
    assert study.exam("S2", "M0").dicom == Path("/data/S2/M0")
    assert study.exam("S2", "M6").months == 6.5
    assert [e.visit for e in study.visits("S2")] == ["M0", "M6"]
    assert study.baseline("S1").visit == "M0" and study.baseline("S1").is_baseline
    assert [e.key for e in study] == [("S1", "M0"), ("S1", "M12"), ("S2", "M0"), ("S2", "M6")]
    assert m12.role("L4-L5") == "index" and m12.role("L3-L4") == "control"
    assert m12.role("L1-L2") == "other"
    assert Study.read(tmp_path) is not None  # a folder holding study.csv


def test_optional_columns_blank_lines_and_extra_columns(tmp_path):
    header = "visit,subject,months,dicom,index_disc,control_discs,series,PatientName"
    lines = ["M0,S10,0,a,L4-L5,,7,Doe^John", "", "M0,S2,0,b,L4-L5,L2-L3,Sag T2,Roe^Jane"]
    study = read_study(write(tmp_path, lines, header=header))
    assert study.subjects == ["S2", "S10"]  # natural order
    assert study.exam("S10", "M0").series == 7
    assert study.exam("S10", "M0").control_discs == ()
    assert study.exam("S2", "M0").series == "Sag T2"
    assert study.exam("S2", "M0").discs is None
    assert "Doe" not in repr(study.exams)


def test_bom_is_accepted(tmp_path):
    path = tmp_path / "study.csv"
    path.write_bytes(("\ufeff" + "\n".join([HEADER, GOOD[0]]) + "\n").encode("utf-8"))
    assert read_study(path).subjects == ["S1"]


@pytest.mark.parametrize(
    ("lines", "header", "match"),
    [
        (GOOD, "subject,visit,dicom,index_disc,control_discs", r"missing column\(s\) months"),
        (GOOD, HEADER + ",visit", r"visit appear more than once"),
        ([*GOOD, "S1,M12,12,x,L4-L5,L2-L3;L3-L4,"], HEADER, r"line 6: subject S1 visit M12 is "
         r"already on line 3"),
        (["S1,M0,0,a,L9-L10,L2-L3,"], HEADER, r"line 2, column 'index_disc': unknown disc level "
         r"'L9-L10'"),
        (["S1,M0,0,a,L4-L5,L2-L3;Lumbar,"], HEADER, r"line 2, column 'control_discs': unknown"),
        (["S1,M0,0,a,L4-L5,L4/L5,"], HEADER, r"column 'control_discs': L4-L5 is the index"),
        (["S1,M0,0,a,L4-L5,L2-L3;L2/3,"], HEADER, r"L2-L3 is listed twice"),
        (["S1,M0,zero,a,L4-L5,L2-L3,"], HEADER, r"line 2, column 'months': 'zero' is not a num"),
        (["S1,M0,-3,a,L4-L5,L2-L3,"], HEADER, r"column 'months': '-3'; months since baseline"),
        (["S1,M0,nan,a,L4-L5,L2-L3,"], HEADER, r"column 'months'"),
        (["S1,M3,3,a,L4-L5,L2-L3,", "S1,M6,6,b,L4-L5,L2-L3,"], HEADER,
         r"subject S1 has no baseline \(no row with months 0; lines 2, 3\)"),
        (["S1,M0,0,a,L4-L5,L2-L3,", "S1,M0b,0,b,L4-L5,L2-L3,"], HEADER,
         r"subject S1 has 2 baselines \(months 0 on lines 2, 3\)"),
        (["S1,M0,0,a,L4-L5,L2-L3,", "S1,M6,6,b,L3-L4,L2-L3,"], HEADER,
         r"line 3, column 'index_disc': L3-L4 differs from the baseline's L4-L5 \(line 2\)"),
        (["S1,M0,0,a,L4-L5,L2-L3,", "S1,M6,6,b,L4-L5,L1-L2,"], HEADER,
         r"line 3, column 'control_discs': L1-L2 differs"),
        ([",M0,0,a,L4-L5,L2-L3,"], HEADER, r"line 2, column 'subject': empty"),
        (["S1,M0,0,,L4-L5,L2-L3,"], HEADER, r"line 2, column 'dicom': empty"),
        (["S1/x,M0,0,a,L4-L5,L2-L3,"], HEADER, r"column 'subject': 'S1/x' cannot name an output"),
        (["S1,..,0,a,L4-L5,L2-L3,"], HEADER, r"column 'visit': '..' cannot name"),
        (["S1,M0,0,a,L4-L5,L2-L3,,extra"], HEADER, r"line 2: 8 cells but the header has 7"),
        ([], HEADER, r"no exams"),
    ],
)  # fmt: skip
def test_refusals_name_file_line_and_column(tmp_path, lines, header, match):
    path = write(tmp_path, lines, header=header)
    with pytest.raises(StudyError, match=match) as info:
        read_study(path)
    assert str(path) in str(info.value)


def test_missing_or_unreadable_file(tmp_path):
    with pytest.raises(StudyError, match=r"no such study manifest"):
        read_study(tmp_path / "nope.csv")
    with pytest.raises(StudyError, match=r"folder without study.csv"):
        read_study(tmp_path)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(StudyError, match=r"not a readable UTF-8"):
        read_study(tmp_path / "bin.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(StudyError, match=r"empty file"):
        read_study(tmp_path / "empty.csv")


def test_missing_dicom_is_not_a_manifest_error(tmp_path):
    # a missing folder makes that exam fail in the run, not the whole manifest
    study = read_study(write(tmp_path, GOOD))
    assert not study.exam("S1", "M0").dicom.exists()


def test_study_object_checks_and_lookups():
    exams = [ExamSpec("S1", "M0", 0.0, Path("a"), "L4-L5", ())]
    study = Study(exams)
    assert "1 subjects, 1 exams" in repr(study)
    with pytest.raises(StudyError, match="no exam S1/M9"):
        study.exam("S1", "M9")
    with pytest.raises(StudyError, match="no subject 'S9'"):
        study.visits("S9")
    with pytest.raises(StudyError, match="has no baseline"):
        Study([ExamSpec("S1", "M3", 3.0, Path("a"), "L4-L5", ())])
