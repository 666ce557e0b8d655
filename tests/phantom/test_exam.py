"""One phantom exam: its ground truth is consistent with its signal, geometry and files."""

import json

import nibabel as nib
import numpy as np
import pydicom
import pytest

from discT2.epg import cpmg_signal, sinc_slice_profile
from discT2.errors import InputError
from discT2.io.nifti import load_nifti_series
from discT2.phantom import ROI_NAMES, TRUTH_LEVELS, Pose, Protocol, SpineShape, make_exam
from discT2.phantom.anatomy import SpineModel
from discT2.phantom.exam import roi_label
from discT2.phantom.signal import simulate_voxels
from discT2.phantom.tissues import DISC_CODE, degenerated_disc

LPS = np.diag([-1.0, -1.0, 1.0])
SMALL = Protocol(
    matrix=(72, 96), pixel_mm=2.5, n_slices=3, n_echoes=6, echo_spacing_ms=12.0, slice_profile=False
)
SHAPE = SpineShape(discs={"L4-L5": degenerated_disc(grade=3)})
MOVED = Pose(rotation_deg=2.5, translation_mm=(0.9, -1.5, 6.0))


@pytest.fixture(scope="module")
def exam():
    return make_exam(SHAPE, protocol=SMALL, seed=11)


@pytest.fixture(scope="module")
def moved():
    return make_exam(SHAPE, protocol=SMALL, pose=MOVED, seed=12)


def test_series_geometry(exam):
    s = exam.series
    assert s.shape == (72, 96, 3) and s.n_echoes == 6
    assert s.orientation == "sagittal"
    np.testing.assert_allclose(s.echo_times_ms, 12.0 * np.arange(1, 7))
    np.testing.assert_allclose(s.voxel_size_mm, [2.5, 2.5, 4.4])
    # i runs posterior, j inferior, k to the patient's right
    np.testing.assert_allclose(s.affine[:3, :3] @ [1, 0, 0], [0, -2.5, 0])
    np.testing.assert_allclose(s.affine[:3, :3] @ [0, 1, 0], [0, 0, -2.5])
    np.testing.assert_allclose(s.affine[:3, :3] @ [0, 0, 1], [4.4, 0, 0])
    assert exam.mid_slice == 1


@pytest.mark.parametrize("which", ["exam", "moved"])
def test_truth_t2_inside_each_roi_band_is_the_roi_truth(which, request):
    ex = request.getfixturevalue(which)
    for level in TRUTH_LEVELS:
        disc = ex.discs[level]
        for i, name in enumerate(ROI_NAMES):
            band = ex.roi_labels == roi_label(level, i)
            assert band[:, :, ex.mid_slice].sum() == disc.roi_n_voxels[name] > 0
            assert [int(band[:, :, k].sum()) for k in range(3)] == disc.roi_n_voxels_per_slice[name]
            assert np.all(ex.truth.t2_ms[band] == disc.roi_t2_ms[name])
            assert np.all(ex.truth.t1_ms[band] == disc.roi_t1_ms[name])
            assert np.all(ex.truth.labels[band] == DISC_CODE)
        # nucleus bands are brighter than annulus bands
        t2 = [disc.roi_t2_ms[name] for name in ROI_NAMES]
        assert min(t2[1:4]) > max(t2[0], t2[4])


def test_roi_truth_values_come_from_the_disc_relaxation(exam):
    np.testing.assert_allclose(
        [exam.discs["L4-L5"].roi_t2_ms[n] for n in ROI_NAMES],
        SHAPE.disc("L4-L5").band_t2_ms,
    )
    assert exam.discs["L2-L3"].roi_t2_ms["NP_central"] == 128.0


def test_derived_truth_is_voxel_weighted(exam):
    for disc in exam.discs.values():
        n = disc.roi_n_voxels
        for derived, members in (
            ("NP", ROI_NAMES[1:4]),
            ("AF", ROI_NAMES[::4]),
            ("disc", ROI_NAMES),
        ):
            expected = sum(n[m] * disc.roi_t2_ms[m] for m in members) / sum(n[m] for m in members)
            assert disc.derived_t2_ms[derived] == pytest.approx(expected, rel=1e-12)


def test_noise_free_signal_of_pure_voxels_is_epg_of_the_truth(exam):
    t = exam.truth
    pure = (t.purity == 1.0) & (t.labels != 0)
    assert (pure & (t.labels == DISC_CODE)).sum() > 50
    p = SMALL
    expected = t.s0[pure][:, None] * cpmg_signal(
        t.t2_ms[pure],
        p.echo_spacing_ms,
        p.n_echoes,
        b1=t.b1[pure],
        t1_ms=t.t1_ms[pure],
        refocusing_deg=p.refocusing_deg,
        excitation_deg=p.excitation_deg,
    )
    # magnitude data: the (real) CPMG echo of bone can dip a hair below zero
    np.testing.assert_allclose(t.signal[pure], np.abs(expected), rtol=1e-10, atol=1e-9)


def test_partial_volume_at_tissue_edges(exam):
    t = exam.truth
    mixed = (t.purity < 0.7) & (t.labels == DISC_CODE)
    assert mixed.sum() > 10
    centre_only = t.s0[mixed][:, None] * cpmg_signal(
        t.t2_ms[mixed], 12.0, 6, b1=t.b1[mixed], t1_ms=t.t1_ms[mixed]
    )
    deviation = np.abs(t.signal[mixed] - centre_only) / centre_only
    assert np.median(deviation) > 0.05  # edge voxels mix disc with bone, ligament, CSF ...


def test_stimulated_echoes_and_t1_weighting_are_in_the_data():
    protocol = Protocol(matrix=(72, 96), pixel_mm=2.5, n_slices=1, n_echoes=6, refocusing_deg=160)
    t = make_exam(SHAPE, protocol=protocol, noise=False).truth
    nucleus = (t.purity == 1.0) & (t.labels == DISC_CODE) & (t.t2_ms > 70)
    assert nucleus.sum() > 10
    s = t.signal[nucleus]
    ideal_ratio = np.exp(-12.0 / t.t2_ms[nucleus])
    assert np.all(s[:, 1] / s[:, 0] > ideal_ratio * 1.03)  # echo 1 lacks the stimulated echo
    no_t1 = t.s0[nucleus][:, None] * cpmg_signal(
        t.t2_ms[nucleus], 12.0, 6, b1=t.b1[nucleus], refocusing_deg=160, t1_ms=1e9
    )
    assert np.max(np.abs(no_t1 - s) / s) > 1e-3


def test_b1_spans_the_stated_range(exam):
    assert exam.truth.b1.min() == pytest.approx(0.8, abs=1e-9)
    assert exam.truth.b1.max() == pytest.approx(1.0, abs=1e-9)


def test_rician_noise_floor_in_the_background(exam):
    air = (exam.truth.labels == 0) & (exam.truth.purity == 1.0)
    values = exam.series.data[air]  # (voxels, echoes), noise-free signal 0
    assert np.all(exam.truth.signal[air] == 0)
    n = values.size
    assert n > 5000
    ratio = values.mean() / exam.sigma
    assert ratio == pytest.approx(np.sqrt(np.pi / 2), abs=5 * 0.655 / np.sqrt(n))
    assert exam.sigma == pytest.approx(SMALL.peak_signal / SMALL.snr)


def test_seed_controls_noise_only():
    a = make_exam(SHAPE, protocol=SMALL, seed=3)
    b = make_exam(SHAPE, protocol=SMALL, seed=3)
    c = make_exam(SHAPE, protocol=SMALL, seed=4)
    np.testing.assert_array_equal(a.series.data, b.series.data)
    assert not np.array_equal(a.series.data, c.series.data)
    np.testing.assert_array_equal(a.truth.signal, c.truth.signal)
    clean = make_exam(SHAPE, protocol=SMALL, noise=False)
    np.testing.assert_allclose(clean.series.data, a.truth.signal, rtol=1e-6)


def test_disc_geometry_lies_on_the_mid_sagittal_slice(exam, moved):
    for ex in (exam, moved):
        discs = ex.discs_json()
        assert discs["mid_sagittal_slice"] == ex.mid_slice
        assert [d["level"] for d in discs["discs"]] == list(TRUTH_LEVELS)
        for entry in discs["discs"]:
            assert set(entry["corners_ras_mm"]) == {"AS", "PS", "AI", "PI"}
            points = np.array(
                [
                    *entry["corners_ras_mm"].values(),
                    entry["center_ras_mm"],
                    *entry["outline_ras_mm"],
                ]
            )
            ijk = ex.series.world_to_voxel(points)
            np.testing.assert_allclose(ijk[:, 2], ex.mid_slice, atol=1e-9)
            assert entry["slice_index"] == ex.mid_slice


def test_repositioning_moves_the_truth_geometry_by_the_applied_transform(exam, moved):
    rotation = MOVED.matrix[1:3, 1:3]
    shift = np.asarray(MOVED.translation_mm)[1:]
    for level in TRUTH_LEVELS:
        a, b = exam.discs[level], moved.discs[level]
        for name in ("AS", "PS", "AI", "PI"):
            expected = rotation @ a.corners_ras_mm[name][1:] + shift
            np.testing.assert_allclose(b.corners_ras_mm[name][1:], expected, atol=1e-9)
        np.testing.assert_allclose(
            b.outline_ras_mm[:, 1:], a.outline_ras_mm[:, 1:] @ rotation.T + shift, atol=1e-9
        )
        assert b.roi_t2_ms == a.roi_t2_ms
        assert b.geometry["tilt_in_image_deg"] == pytest.approx(
            a.geometry["tilt_in_image_deg"] + MOVED.rotation_deg, abs=2e-3
        )
    # the slice offset keeps the geometry on the slice nearest the moved midline
    assert moved.mid_slice == exam.mid_slice
    assert (
        moved.discs["L3-L4"].corners_ras_mm["AS"][0] == exam.discs["L3-L4"].corners_ras_mm["AS"][0]
    )


def test_slice_profile_option():
    protocol = Protocol(matrix=(40, 56), pixel_mm=4.5, n_slices=1, n_echoes=5, slice_profile=True)
    ex = make_exam(protocol=protocol, noise=False)
    t = ex.truth
    pure = (t.purity == 1.0) & (t.labels == DISC_CODE)
    assert pure.sum() > 3
    expected = t.s0[pure][:, None] * cpmg_signal(
        t.t2_ms[pure],
        12.0,
        5,
        b1=t.b1[pure],
        t1_ms=t.t1_ms[pure],
        slice_profile=sinc_slice_profile(),
    )
    np.testing.assert_allclose(t.signal[pure], expected, rtol=1e-10)
    assert ex.info["slice_profile"]["excitation"][0] == pytest.approx(1.0, abs=0.01)


def _read_classic(folder):
    """Volume, affine and datasets the textbook way: slices by IPP . normal, echoes by TE."""
    dsets = [pydicom.dcmread(f) for f in sorted(folder.iterdir())]
    iop = np.array(dsets[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    positions = sorted({round(float(np.dot(d.ImagePositionPatient, normal)), 3) for d in dsets})
    tes = sorted({float(d.EchoTime) for d in dsets})
    vol = np.zeros((dsets[0].Columns, dsets[0].Rows, len(positions), len(tes)))
    slopes = []
    for d in dsets:
        k = positions.index(round(float(np.dot(d.ImagePositionPatient, normal)), 3))
        e = tes.index(float(d.EchoTime))
        slope = float(d.get("RescaleSlope", 1))
        slopes.append(slope)
        vol[:, :, k, e] = (d.pixel_array * slope + float(d.get("RescaleIntercept", 0))).T
    first = min(dsets, key=lambda d: np.dot(d.ImagePositionPatient, normal))
    dr, dc = (float(v) for v in first.PixelSpacing)
    affine = np.eye(4)
    affine[:3, 0] = LPS @ iop[:3] * dc
    affine[:3, 1] = LPS @ iop[3:] * dr
    affine[:3, 2] = LPS @ normal * (positions[1] - positions[0])
    affine[:3, 3] = LPS @ np.array(first.ImagePositionPatient, float)
    return vol, affine, tes, dsets, max(slopes)


PATIENT = {
    "PatientName": "PHANTOM^TEST",
    "PatientID": "SYN-PHI-9999",
    "PatientBirthDate": "19610203",
}


@pytest.mark.parametrize("vendor", ["siemens", "philips"])
def test_dicom_read_back_with_pydicom(exam, tmp_path, vendor):
    exam.write(tmp_path, vendor=vendor, patient=PATIENT, uid_seed="t", truth=False)
    vol, affine, tes, dsets, slope = _read_classic(tmp_path / "dicom")
    np.testing.assert_allclose(tes, exam.series.echo_times_ms)
    np.testing.assert_allclose(affine, exam.series.affine, atol=1e-4)
    np.testing.assert_allclose(vol, exam.series.data, atol=0.5 * slope + 1e-3)
    assert {str(d.PatientName) for d in dsets} == {"PHANTOM^TEST"}
    assert {d.PatientID for d in dsets} == {"SYN-PHI-9999"}
    assert float(dsets[0].RepetitionTime) == SMALL.repetition_time_ms
    assert float(dsets[0].SliceThickness) == SMALL.slice_thickness_mm


def test_enhanced_dicom_read_back(exam, tmp_path):
    exam.write(tmp_path, vendor="siemens", enhanced=True, uid_seed="e", truth=False)
    (path,) = (tmp_path / "dicom").iterdir()
    ds = pydicom.dcmread(path)
    frames = ds.pixel_array
    iop = np.array(
        ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient,
        float,
    )
    normal = np.cross(iop[:3], iop[3:])
    origin = LPS @ exam.series.affine[:3, 3]
    for f, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
        e = list(exam.series.echo_times_ms).index(float(fg.MREchoSequence[0].EffectiveEchoTime))
        ipp = np.array(fg.PlanePositionSequence[0].ImagePositionPatient, float)
        k = round(float(np.dot(ipp - origin, normal)) / 4.4)
        np.testing.assert_allclose(frames[f].T, exam.series.data[:, :, k, e], atol=0.501)


def test_truth_and_nifti_files(exam, tmp_path):
    written = exam.write(tmp_path, dicom=False, nifti=True, vendor="ge")
    truth = written["truth"]
    for name, array in (
        ("t2", exam.truth.t2_ms),
        ("t1", exam.truth.t1_ms),
        ("s0", exam.truth.s0),
        ("b1", exam.truth.b1),
        ("labels", exam.truth.labels),
        ("purity", exam.truth.purity),
        ("rois", exam.roi_labels),
    ):
        img = nib.load(truth / f"{name}.nii.gz")
        np.testing.assert_allclose(np.asarray(img.dataobj), array, rtol=1e-6)
        np.testing.assert_allclose(img.affine, exam.series.affine)
    assert json.loads((truth / "discs.json").read_text()) == exam.discs_json()
    rois = json.loads((truth / "rois.json").read_text())["labels"]
    assert rois["41"] == {"level": "L4-L5", "roi": "AF_anterior"}
    report = json.loads((truth / "truth.json").read_text())
    assert (
        report["discs"][3]["rois"]["NP_central"]["t2_ms"]
        == exam.discs["L4-L5"].roi_t2_ms["NP_central"]
    )
    series = load_nifti_series(written["nifti"])
    np.testing.assert_array_equal(series.data, exam.series.data)
    np.testing.assert_allclose(series.echo_times_ms, exam.series.echo_times_ms)
    np.testing.assert_allclose(series.affine, exam.series.affine)
    assert series.meta["vendor"] == "ge"
    assert series.meta["refocusing_angle_deg"] == 180.0


def test_refusals():
    with pytest.raises(InputError, match="Protocol: invalid"):
        Protocol(n_echoes=1)
    with pytest.raises(InputError, match="odd supersample"):
        Protocol(supersample=2)
    model = SpineModel(SpineShape())
    common = {
        "shape": (4, 4, 1),
        "slice_thickness_mm": 4.0,
        "b1": np.ones((4, 4, 1)),
        "receive": np.ones((4, 4, 1)),
        "echo_spacing_ms": 10.0,
        "n_echoes": 3,
        "repetition_time_ms": 2000.0,
        "refocusing_deg": 180.0,
        "excitation_deg": 90.0,
        "peak_signal": 1000.0,
    }
    with pytest.raises(InputError, match="sagittal grids only"):
        simulate_voxels(model, affine=np.eye(4), anatomy_to_world=np.eye(4), **common)
    tilted = np.eye(4)
    tilted[:2, :2] = [[np.cos(0.1), -np.sin(0.1)], [np.sin(0.1), np.cos(0.1)]]
    with pytest.raises(InputError, match="only about the left-right"):
        simulate_voxels(model, affine=SMALL.affine, anatomy_to_world=tilted, **common)
