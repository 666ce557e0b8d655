"""The committed sample study stays small and identical to what the code generates."""

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from discT2.phantom.study import make_study, preset_plan, simulate_visit, visit_name

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
TRUTH_MAPS = ("t2", "t1", "s0", "b1", "labels", "purity", "rois")


@pytest.fixture(scope="module")
def plan():
    if not (SAMPLE / "study.csv").is_file():
        pytest.fail(f"the committed sample study is missing: {SAMPLE}")
    return preset_plan("sample")


def test_size_limits():
    sizes = {p: p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file()}
    assert sum(sizes.values()) < 10_000_000
    biggest = max(sizes, key=sizes.get)
    assert sizes[biggest] < 1_000_000, biggest


def test_layout(plan):
    with open(SAMPLE / "study.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and {r["months"] for r in rows} == {"0", "12"}
    manufacturers = []
    for row in rows:
        files = sorted((SAMPLE / row["dicom"]).iterdir())
        ds = pydicom.dcmread(files[0], stop_before_pixels=True)
        manufacturers.append((ds.Manufacturer, ds.SOPClassUID.name))
        assert len(files) in (1, 30)
    assert set(manufacturers) == {
        ("SIEMENS", "MR Image Storage"),
        ("GE MEDICAL SYSTEMS", "MR Image Storage"),
        ("Philips Medical Systems", "MR Image Storage"),
        ("SIEMENS", "Enhanced MR Image Storage"),
    }
    readme = (SAMPLE / "README.md").read_text()
    assert "discT2 simulate sample_data --preset sample" in readme


def _assert_same_json(a, b, path="$"):
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for key in a:
            _assert_same_json(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_json(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9), path
    else:
        assert a == b, path


def _dicom_volume(folder):
    """Rescaled volume (i, j, k, echo) from classic or enhanced files, with plain pydicom."""
    files = sorted(folder.iterdir())
    dsets = [pydicom.dcmread(f) for f in files]
    if len(dsets) == 1 and "PerFrameFunctionalGroupsSequence" in dsets[0]:
        ds = dsets[0]
        frames = ds.pixel_array
        records = []
        for f, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
            te = float(fg.MREchoSequence[0].EffectiveEchoTime)
            pos = fg.PlanePositionSequence[0].ImagePositionPatient
            pvt = fg.PixelValueTransformationSequence[0]
            records.append((te, pos, frames[f] * float(pvt.RescaleSlope), float(pvt.RescaleSlope)))
        iop = ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0]
        iop = np.array(iop.ImageOrientationPatient, float)
    else:
        records = [
            (float(d.EchoTime), d.ImagePositionPatient,
             d.pixel_array * float(d.get("RescaleSlope", 1)), float(d.get("RescaleSlope", 1)))
            for d in dsets
        ]  # fmt: skip
        iop = np.array(dsets[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    positions = sorted({round(float(np.dot(r[1], normal)), 3) for r in records})
    tes = sorted({r[0] for r in records})
    vol = np.zeros((*records[0][2].T.shape, len(positions), len(tes)))
    slope = 1.0
    for te, pos, pixels, s in records:
        vol[:, :, positions.index(round(float(np.dot(pos, normal)), 3)), tes.index(te)] = pixels.T
        slope = max(slope, s)
    return vol, slope


def _compare_exam(folder, exam):
    truth = folder / "truth"
    fresh = exam.truth_json()
    _assert_same_json(json.loads(json.dumps(fresh)), json.loads((truth / "truth.json").read_text()))
    _assert_same_json(exam.discs_json(), json.loads((truth / "discs.json").read_text()))
    arrays = {
        "t2": exam.truth.t2_ms, "t1": exam.truth.t1_ms, "s0": exam.truth.s0, "b1": exam.truth.b1,
        "labels": exam.truth.labels, "purity": exam.truth.purity, "rois": exam.roi_labels,
    }  # fmt: skip
    for name in TRUTH_MAPS:
        stored = np.asarray(nib.load(truth / f"{name}.nii.gz").dataobj)
        if name in ("labels", "rois"):
            np.testing.assert_array_equal(stored, arrays[name], err_msg=name)
        else:
            np.testing.assert_allclose(stored, arrays[name].astype(np.float32), rtol=1e-6)
    vol, slope = _dicom_volume(folder / "dicom")
    np.testing.assert_allclose(vol, exam.series.data, atol=0.5 * slope + 1e-3)


@pytest.mark.parametrize(("subject", "months"), [(0, 0), (3, 12)])
def test_committed_exam_matches_the_code(plan, subject, months):
    sub = plan.subjects[subject]
    exam = simulate_visit(sub, months, plan.seed)
    _compare_exam(SAMPLE / sub.code / visit_name(months), exam)


@pytest.mark.slow
def test_whole_sample_regenerates_identically(plan, tmp_path):
    out = tmp_path / "sample_data"
    make_study(out, plan, command="discT2 simulate sample_data --preset sample")
    for name in ("study.csv", "arms.csv", "truth.csv", "README.md"):
        assert (out / name).read_text() == (SAMPLE / name).read_text(), name
    for sub in plan.subjects:
        for months in plan.visits_months:
            exam = simulate_visit(sub, months, plan.seed)
            _compare_exam(SAMPLE / sub.code / visit_name(months), exam)
