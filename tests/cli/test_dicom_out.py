"""``--dicom-out`` on ``fit``, ``rois``, ``measure`` and ``run``."""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from discT2 import T2Map
from discT2.cli import main
from discT2.cli._dicom_out import IDENTITY_CHOICES
from discT2.io import load_series, save_nifti_series
from discT2.io.dicom import load_dicom_map
from discT2.io.dicom_results import IDENTITIES

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
EXAM = SAMPLE / "S01" / "baseline"


def _errors(path: Path) -> list[str]:
    dciodvfy = shutil.which("dciodvfy")
    if dciodvfy is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("dciodvfy (dicom3tools) is missing on CI: make test installs it")
        pytest.skip("dciodvfy (dicom3tools) not installed")
    result = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, check=False)
    return [line for line in result.stderr.splitlines() if line.startswith("Error")]


def test_the_cli_offers_the_library_identities():
    assert IDENTITY_CHOICES == IDENTITIES


def test_fit_rois_measure_write_dicom_that_reference_each_other(tmp_path):
    dicom = str(EXAM / "dicom")
    fit, rois, out = tmp_path / "fit", tmp_path / "rois", tmp_path / "dcm"
    argv = ["fit", dicom, "-o", str(fit), "--method", "nlls", "--workers", "1", "--quiet"]
    assert main([*argv, "--dicom-out", str(out / "fit")]) == 0
    discs = str(EXAM / "truth" / "discs.json")
    argv = ["rois", str(fit), "--discs", discs, "-o", str(rois), "--dicom-out", str(out / "rois")]
    assert main(argv) == 0
    csv = tmp_path / "measurements.csv"
    argv = ["measure", str(fit), str(rois), "-o", str(csv), "--dicom-out", str(out / "m")]
    assert main(argv) == 0
    assert {p.name for p in (out / "fit").iterdir()} == {"t2.pm.dcm", "t2_sd.pm.dcm", "s0.pm.dcm"}
    assert {p.name for p in (out / "rois").iterdir()} == {"rois.seg.dcm"}
    assert {"measurements.sr.dcm", "rois.seg.dcm", "t2.pm.dcm"} <= {
        p.name for p in (out / "m").iterdir()
    }
    # the same map and ROIs give the same objects: the report's references resolve to the
    # Parametric Map that `fit` wrote and the Segmentation that `rois` wrote
    for first, again in [("fit/t2.pm.dcm", "m/t2.pm.dcm"), ("rois/rois.seg.dcm", "m/rois.seg.dcm")]:
        a, b = pydicom.dcmread(out / first), pydicom.dcmread(out / again)
        assert a.SOPInstanceUID == b.SOPInstanceUID
    values, affine, _ = load_dicom_map(out / "fit" / "t2.pm.dcm")
    nifti = T2Map.load(fit)
    np.testing.assert_array_equal(values, nifti.t2_ms)
    np.testing.assert_allclose(affine, nifti.affine, atol=1e-6)
    for path in (out / "m").iterdir():
        assert _errors(path) == []


def test_nifti_exam_is_a_clear_error_and_keeps_the_maps(tmp_path, capsys):
    nifti = save_nifti_series(load_series(EXAM / "dicom"), tmp_path / "mese.nii.gz")
    out = tmp_path / "fit"
    argv = ["fit", str(nifti), "-o", str(out), "--method", "loglinear", "--quiet"]
    assert main([*argv, "--dicom-out", str(tmp_path / "dcm")]) == 2
    assert (out / "t2.nii.gz").is_file()  # computed before the DICOM step: not lost
    assert "this exam is NIfTI" in capsys.readouterr().err


@pytest.mark.slow
def test_run_writes_valid_dicom_for_every_exam_of_the_sample_study(tmp_path):
    out, dicom = tmp_path / "out", tmp_path / "dicom"
    argv = ["-q", "run", str(SAMPLE / "study.csv"), "-o", str(out), "--no-report"]
    assert main([*argv, "--dicom-out", str(dicom)]) == 0
    study = pd.read_csv(SAMPLE / "study.csv")
    for row in study.itertuples():
        folder = dicom / row.subject / row.visit
        objects = sorted(folder.iterdir())
        assert [p.name for p in objects] == [
            "measurements.sr.dcm",
            "rois.seg.dcm",
            "s0.pm.dcm",
            "t2.pm.dcm",
            "t2_sd.pm.dcm",
        ]
        for path in objects:
            assert _errors(path) == [], path
            ds = pydicom.dcmread(path)
            assert ds.PatientID == row.subject  # the manifest's pseudonym, nothing of the source
        values, affine, _ = load_dicom_map(folder / "t2.pm.dcm")
        nifti = T2Map.load(out / row.subject / row.visit)
        np.testing.assert_array_equal(values, nifti.t2_ms)
        np.testing.assert_allclose(affine, nifti.affine, atol=1e-6)
