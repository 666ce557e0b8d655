"""The runner's helpers: measurement tables round-trip byte for byte, exam logs are captured and
the logger restored, input fingerprints follow content."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from discT2.report import MEASUREMENT_COLUMNS
from discT2.study._files import input_fingerprint, remove_temporaries, write_text
from discT2.study._logs import capture_exam_log
from discT2.study._tables import (
    ALL_COLUMNS,
    read_exam_measurements,
    sort_measurements,
    write_measurements,
)


def _table():
    return pd.DataFrame(
        {
            "subject": ["S10", "S2", "S2"],
            "visit": ["M0", "M12", "M0"],
            "months": [0, 12, 0],
            "level": ["L4-L5", "L5-S1", "L2-L3"],
            "role": ["index", "control", "other"],
            "roi": ["NP", "AF_anterior", "disc"],
            "n_voxels": [20, 8, 0],
            "n_excluded": [1, 0, 3],
            "t2_mean_ms": [101.23456, 55.5, np.nan],
            "t2_median_ms": [100.0, 55.0, np.nan],
            "t2_sd_ms": [4.0, 2.0, np.nan],
            "method": "epg",
            "qa_flags": ["small_roi;thin_disc", "", 'odd,"value"'],
            "slice": [1, 1, pd.NA],
        }
    )


def test_measurements_round_trip(tmp_path):
    path = write_measurements(_table(), tmp_path / "m.csv")
    text = path.read_text()
    assert text.splitlines()[0] == ",".join(ALL_COLUMNS)
    assert text.splitlines()[0].startswith(",".join(MEASUREMENT_COLUMNS))
    assert "101.235" in text and ",,," in text
    back = read_exam_measurements(path)
    assert back.loc[2, "qa_flags"] == 'odd,"value"'
    assert back["n_voxels"].tolist() == [20, 8, 0]
    again = write_measurements(back, tmp_path / "again.csv")
    assert again.read_bytes() == path.read_bytes()


def test_sort_is_natural_and_anatomical():
    s = sort_measurements(_table())
    order = list(zip(s.subject, s.visit, strict=True))
    assert order == [("S2", "M0"), ("S2", "M12"), ("S10", "M0")]


def test_exam_log_captures_and_restores():
    logger = logging.getLogger("discT2")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    handler = logging.NullHandler()
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING)
    logger.propagate = True
    try:
        with capture_exam_log(logging.INFO) as log:
            logging.getLogger("discT2.fit").info("fitting")
            warnings.warn("few echoes", UserWarning, stacklevel=1)
        assert any("INFO" in line and "fitting" in line for line in log.lines)
        assert any("UserWarning: few echoes" in line for line in log.lines)
        assert log.warnings == ["UserWarning: few echoes"]
        assert logger.handlers == [handler] and logger.level == logging.WARNING
        assert logger.propagate
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


def test_fingerprint_follows_content(tmp_path):
    folder = tmp_path / "dicom"
    (folder / "sub").mkdir(parents=True)
    write_text(folder / "a.dcm", "one")
    write_text(folder / "sub" / "b.dcm", "two")
    first = input_fingerprint(folder)
    assert first["n_files"] == 2 and first["bytes"] == 6
    assert input_fingerprint(folder) == first
    write_text(folder / "sub" / "b.dcm", "TWO")
    assert input_fingerprint(folder)["sha256"] != first["sha256"]
    nifti = tmp_path / "x.nii.gz"
    nifti.write_bytes(b"nii")
    write_text(tmp_path / "x.json", "{}")
    assert input_fingerprint(nifti)["n_files"] == 2
    (folder / ".a.dcm.12.tmp").write_text("x")
    remove_temporaries(folder, ["a.dcm"])
    assert sorted(p.name for p in folder.iterdir()) == ["sub"]
