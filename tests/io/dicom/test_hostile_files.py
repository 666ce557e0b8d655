"""Files that must never hang or exhaust the reader: FIFOs, devices, link loops, huge headers."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from discT2 import find_series, load_series
from discT2.errors import DicomSeriesError, InputError
from discT2.io.dicom import scan_dicom

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX file types")


def test_fifo_named_like_dicom_is_skipped_and_counted(tmp_path, dcm):
    dcm.write(dcm.make_series(seed=1), tmp_path, vendor="siemens")
    os.mkfifo(tmp_path / "MR.9999.0001.IMA")  # opening it would block forever
    scan = scan_dicom(tmp_path)
    assert scan.skipped == {"not a regular file (FIFO, device or socket)": 1}
    series = load_series(tmp_path)
    assert series.meta["skipped_files"] == scan.skipped


def test_link_to_an_endless_device_is_skipped(tmp_path, dcm):
    dcm.write(dcm.make_series(seed=2), tmp_path, vendor="ge")
    (tmp_path / "E1S1I999.MR.dcm").symlink_to("/dev/zero")
    assert load_series(tmp_path).data.shape == (12, 10, 5, 4)
    (tmp_path / "zero.nii").symlink_to("/dev/zero")
    with pytest.raises(InputError, match=r"zero.nii: not a regular file"):
        load_series(tmp_path / "zero.nii")


def test_looping_and_dangling_links_are_skipped_and_counted(tmp_path, dcm):
    dcm.write(dcm.make_series(seed=3), tmp_path, vendor="siemens")
    (tmp_path / "loop_a.dcm").symlink_to(tmp_path / "loop_b.dcm")
    (tmp_path / "loop_b.dcm").symlink_to(tmp_path / "loop_a.dcm")
    (tmp_path / "gone.dcm").symlink_to(tmp_path / "never_there.dcm")
    scan = scan_dicom(tmp_path)
    assert scan.skipped == {"link loop": 2, "broken link": 1}
    assert find_series(tmp_path)[0].loadable
    with pytest.raises(InputError, match=r"loop_a.dcm: link loop"):
        load_series(tmp_path / "loop_a.dcm")


def test_a_fifo_given_by_name_is_refused(tmp_path):
    fifo = tmp_path / "echoes.nii.gz"
    os.mkfifo(fifo)
    for call in (load_series, find_series):
        with pytest.raises(InputError, match=re.escape(str(fifo)) + ": not a regular file"):
            call(fifo)


def test_huge_declared_matrix_is_refused_before_allocating(tmp_path, dcm):
    files = dcm.write(dcm.make_series(seed=4), tmp_path, vendor="ge")

    def huge(ds):
        ds.Rows = ds.Columns = 65535

    dcm.edit(files, huge)
    with pytest.raises(DicomSeriesError, match=r"65535 x 65535 pixels .* GiB\); refused"):
        load_series(tmp_path)


def test_declared_matrix_larger_than_the_pixel_data_is_refused(tmp_path, dcm):
    files = dcm.write(dcm.make_series(seed=5), tmp_path, vendor="ge")

    def bigger(ds):
        ds.Rows, ds.Columns = 400, 400

    dcm.edit(files, bigger)
    with pytest.raises(DicomSeriesError, match=r"unreadable pixel data \(truncated\).*400 x 400"):
        load_series(tmp_path)


def test_truncated_nifti_is_refused_from_its_header(tmp_path):
    import nibabel as nib
    import numpy as np

    path = tmp_path / "echoes.nii"
    nib.save(nib.Nifti1Image(np.ones((8, 8, 2, 4), np.float32), np.eye(4)), path)
    shutil.copyfile(path, tmp_path / "whole.nii")
    with open(path, "r+b") as fh:
        fh.truncate(600)
    (tmp_path / "echoes.json").write_text('{"EchoTime": [0.01, 0.02, 0.03, 0.04]}')
    with pytest.raises(InputError, match=r"echoes.nii: truncated: the header declares 2048 bytes"):
        load_series(path)


@pytest.mark.parametrize(
    "echo_time", ['"ten"', '[0.01, "x", 0.03, 0.04]', "[[0.01]]", "null", "[0, 0.02, 0.03, 0.04]"]
)
def test_sidecar_echo_time_that_is_not_a_positive_number(tmp_path, echo_time):
    import nibabel as nib
    import numpy as np

    path = tmp_path / "echoes.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 2, 4), np.float32), np.eye(4)), path)
    (tmp_path / "echoes.json").write_text(f'{{"EchoTime": {echo_time}}}')
    with pytest.raises(InputError, match=r"echoes.json: 'EchoTime' must be positive numbers"):
        load_series(path)
