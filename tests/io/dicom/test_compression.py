"""Compressed transfer syntaxes decode with the optional pylibjpeg plugins."""

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEG2000Lossless, RLELossless, generate_uid

from discT2 import load_series

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_lossless_syntaxes_round_trip(tmp_path, dcm, syntax):
    truth = dcm.make_series(shape=(40, 32, 3), seed=70)  # OpenJPEG refuses tiny images
    files = dcm.write(truth, tmp_path, vendor="ge", transfer_syntax=syntax)
    assert pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID == syntax
    s = load_series(tmp_path)
    np.testing.assert_array_equal(s.data, truth.data)


def test_jpeg_ls_lossless(tmp_path):
    """pydicom's JPEG-LS sample as two echoes, against the same image stored uncompressed."""
    source = PYDICOM_FILES / "MR_small_jpeg_ls_lossless.dcm"
    reference = pydicom.dcmread(PYDICOM_FILES / "MR_small.dcm")
    series_uid = generate_uid()
    for echo, te in enumerate((15.0, 30.0), start=1):
        target = tmp_path / f"echo{echo}"
        shutil.copy(source, target)
        ds = pydicom.dcmread(target)
        ds.EchoTime, ds.EchoNumbers = te, echo
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M"]  # the sample says DERIVED\SECONDARY
        ds.SeriesInstanceUID, ds.SOPInstanceUID = series_uid, generate_uid()
        ds.save_as(target)
    s = load_series(tmp_path)
    expected = reference.pixel_array.T.astype(float) * float(reference.get("RescaleSlope", 1))
    expected += float(reference.get("RescaleIntercept", 0))
    assert s.shape == (reference.Columns, reference.Rows, 1)
    np.testing.assert_array_equal(s.data[..., 0, 0], expected)
    np.testing.assert_array_equal(s.data[..., 0, 1], expected)
    np.testing.assert_allclose(s.echo_times_ms, [15.0, 30.0])
