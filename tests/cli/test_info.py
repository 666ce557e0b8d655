"""``discT2 info``: one line per series, through ``main([...])``."""

import numpy as np
import pydicom
import pytest

from discT2 import MultiEchoSeries
from discT2.cli import main
from discT2.io import save_nifti_series
from discT2.io.dicom_write import write_dicom_series


def _series(n_echoes=4, seed=0):
    rng = np.random.default_rng(seed)
    affine = np.array([[0, 0, 4.0, -10], [-0.7, 0, 0, 50], [0, -0.7, 0, 80], [0, 0, 0, 1]])
    te = 9.5 * np.arange(1, n_echoes + 1)
    return MultiEchoSeries(np.rint(rng.uniform(0, 3000, (16, 12, 3, n_echoes))), te, affine)


def test_info_lists_each_series(tmp_path, capsys):
    write_dicom_series(_series(), tmp_path / "a", vendor="siemens", series_number=4,
                       series_description="T2 MAP SAG", uid_seed="a")  # fmt: skip
    write_dicom_series(_series(6, 1), tmp_path / "b", vendor="philips", series_number=11,
                       series_description="MESE 6E", uid_seed="b")  # fmt: skip
    (tmp_path / "notes.txt").write_text("x")
    assert main(["info", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        "series 4 'T2 MAP SAG': siemens, 4 echoes 9.5-38 ms (every 9.5 ms), 16x12, 3 slices, "
        "0.7x0.7x4 mm, sagittal",
        "series 11 'MESE 6E': philips, 6 echoes 9.5-57 ms (every 9.5 ms), 16x12, 3 slices, "
        "0.7x0.7x4 mm, sagittal",
    ]
    assert main(["info", "--notes", str(tmp_path)]) == 0
    assert "skipped: 1 not DICOM" in capsys.readouterr().out


def test_info_marks_what_cannot_be_loaded(tmp_path, capsys):
    files = write_dicom_series(_series(), tmp_path, vendor="ge", uid_seed="c")
    files[5].unlink()
    assert main(["info", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "NOT LOADABLE: incomplete slice x echo grid" in out


def test_info_on_nifti_and_errors(tmp_path, capsys):
    path = save_nifti_series(_series(), tmp_path / "mese.nii.gz")
    assert main(["info", str(path)]) == 0
    assert "4 echoes 9.5-38 ms" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "missing")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["info", str(tmp_path / "empty")]) == 2


@pytest.mark.realdata
def test_info_on_real_data(realdata, capsys):
    assert main(["info", str(realdata / "knee_ge_mr750_3T_8echo")]) == 0
    assert capsys.readouterr().out.strip() == (
        "series 8 (no description): ge, 8 echoes 6.312-50.496 ms (every 6.312 ms), 256x256, "
        "24 slices, 0.625x0.625x4 mm, sagittal"
    )


def test_info_explains_a_folder_without_multi_echo_series(tmp_path, capsys):
    files = write_dicom_series(_series(2), tmp_path, vendor="siemens", series_number=3,
                               series_description="T1 SAG", uid_seed="s")  # fmt: skip
    for f in files:
        if f.name.endswith(("0004.IMA", "0005.IMA", "0006.IMA")):  # the second echo
            f.unlink()
    assert main(["info", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "note: series 3 'T1 SAG' has a single echo (TE 9.5 ms)" in out


def test_main_leaves_the_callers_logging_as_it_was(tmp_path, caplog):
    """Called from Python, the command's own log handler is removed when it returns."""
    import logging

    log = logging.getLogger("discT2")
    before = (log.handlers[:], log.level, log.propagate)
    assert main(["info", str(tmp_path / "missing")]) == 2
    assert (log.handlers, log.level, log.propagate) == before
    with caplog.at_level(logging.INFO, logger="discT2"):
        logging.getLogger("discT2.study").info("seen by the caller")
    assert "seen by the caller" in caplog.text


def test_info_on_a_single_echo_folder_says_it_once(tmp_path, capsys):
    folder = tmp_path / "first_echo"
    folder.mkdir()
    files = write_dicom_series(_series(n_echoes=2), tmp_path / "both", vendor="siemens")
    for f in files:
        if int(pydicom.dcmread(f, stop_before_pixels=True).EchoNumbers) == 1:
            f.rename(folder / f.name)
    assert main(["info", str(folder)]) == 1
    captured = capsys.readouterr()
    both = captured.out + captured.err
    assert both.count("has a single echo") == 1
    assert "no multi-echo series that can be loaded" in captured.err
