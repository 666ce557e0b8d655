"""A single-echo T2-weighted series as an anatomical image: discs, ROIs and DHI without a fit."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest

from discT2 import load_series, sample_study
from discT2.cli import main
from discT2.errors import DicomSeriesError, InputError
from discT2.io.anatomical import AnatomicalImage, load_anatomical
from discT2.report.structural import disc_height_table, structural_table
from discT2.roi import load_discs, place_rois

ECHO = 3  # the third echo of the sample's CPMG series stands in for a T2-weighted series


def _single_echo(exam, dest):
    """The sample exam's DICOM files of one echo only: a single-echo sagittal series."""
    dest.mkdir(parents=True)
    for f in sorted((sample_study() / exam / "dicom").rglob("*")):
        if f.is_file() and int(pydicom.dcmread(f, stop_before_pixels=True).EchoNumbers) == ECHO:
            shutil.copy(f, dest / f.name)
    return dest


@pytest.mark.parametrize("exam", ["S01/baseline", "S02/baseline", "S03/baseline"])  # 3 vendors
def test_single_echo_dicom_reads_as_the_echo_of_the_series(exam, tmp_path):
    image = load_anatomical(_single_echo(exam, tmp_path / "t2w"))
    series = load_series(sample_study() / exam / "dicom")
    assert image.shape == series.shape[:3]
    np.testing.assert_allclose(image.affine, series.affine, atol=1e-6)
    np.testing.assert_array_equal(image.data, series.data[..., ECHO - 1])
    assert image.meta["echo_time_ms"] == pytest.approx(series.echo_times_ms[ECHO - 1])
    with pytest.raises(InputError, match="single echo"):
        load_series(tmp_path / "t2w")  # the fit still needs several echoes


def test_rois_and_dhi_from_a_single_echo_series(tmp_path):
    t2w = _single_echo("S01/baseline", tmp_path / "t2w")
    truth = sample_study() / "S01" / "baseline" / "truth"
    exam = tmp_path / "study" / "S01" / "baseline"
    args = ["rois", str(t2w), "--anatomical", "--discs", str(truth / "discs.json")]
    assert main([*args, "-o", str(exam / "anatomical"), "--reader", "reader A"]) == 0
    # the ROIs equal those placed on the multi-echo series of the same exam
    on_series = place_rois(load_series(sample_study() / "S01" / "baseline" / "dicom"),
                           truth / "discs.json")  # fmt: skip
    labels = np.asarray(nib.load(exam / "anatomical" / "rois.nii.gz").dataobj)
    np.testing.assert_array_equal(labels, on_series.labels)
    placed = load_discs(exam / "anatomical" / "discs.json")
    assert {d.reader for d in placed} == {"reader A"}
    expected = disc_height_table(load_discs(truth / "discs.json"))
    measurements = pd.DataFrame(
        {"subject": "S01", "visit": "baseline", "months": 0.0, "level": "L5-S1", "role": "index"},
        index=[0],
    )
    table = structural_table(tmp_path / "study", measurements)
    # the corners are projected onto the slice and stored to 1e-4 mm: heights of ~10 mm agree
    # to ~1e-5 relative
    np.testing.assert_allclose(table["dhi"], expected["dhi"], rtol=1e-4)
    assert table["dhi"].notna().all()


def test_three_d_nifti_and_refusals(tmp_path):
    affine = np.diag([-1.0, 1.875, 1.875, 1.0])[[2, 0, 1, 3]]
    nib.save(nib.Nifti1Image(np.ones((3, 8, 9), np.float32), affine), tmp_path / "t2w.nii.gz")
    image = load_anatomical(tmp_path / "t2w.nii.gz")
    assert isinstance(image, AnatomicalImage) and image.shape == (3, 8, 9)
    nib.save(nib.Nifti1Image(np.ones((3, 8, 9, 2), np.float32), affine), tmp_path / "me.nii.gz")
    with pytest.raises(InputError, match="must be a 3-D NIfTI"):
        load_anatomical(tmp_path / "me.nii.gz")
    with pytest.raises(DicomSeriesError, match="no single-echo series"):
        load_anatomical(sample_study() / "S01" / "baseline" / "dicom")
    with pytest.raises(InputError, match="no such file"):
        load_anatomical(tmp_path / "missing")
