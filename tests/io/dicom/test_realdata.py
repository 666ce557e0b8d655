"""Real scanner series (../shared/realdata), checked against a plain pydicom + numpy reading.

The reference reading below is written from the DICOM standard, independently of discT2's
reader: sort by ImagePositionPatient projected on row x column, key echoes by EchoTime, apply
RescaleSlope/Intercept, and build the affine from IOP, IPP and PixelSpacing (LPS -> RAS).
"""

import numpy as np
import pydicom
import pytest

from discT2 import find_series, load_series

pytestmark = pytest.mark.realdata

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def _reference(folder):
    """(volume (I, J, K, E) rescaled, echo times, affine, datasets) by the textbook rules."""
    dsets = [pydicom.dcmread(f) for f in sorted(folder.rglob("*")) if f.is_file()]
    dsets = [d for d in dsets if "PixelData" in d]
    iop = np.array(dsets[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    positions = sorted({round(float(np.dot(d.ImagePositionPatient, normal)), 2) for d in dsets})
    tes = sorted({float(d.EchoTime) for d in dsets})
    vol = np.zeros((dsets[0].Columns, dsets[0].Rows, len(positions), len(tes)))
    filled = np.zeros(vol.shape[2:], int)
    for d in dsets:
        k = positions.index(round(float(np.dot(d.ImagePositionPatient, normal)), 2))
        e = tes.index(float(d.EchoTime))
        slope, intercept = float(d.get("RescaleSlope", 1.0)), float(d.get("RescaleIntercept", 0))
        vol[:, :, k, e] = (d.pixel_array * slope + intercept).T
        filled[k, e] += 1
    assert np.all(filled == 1)
    by_k = {}
    for d in dsets:
        by_k.setdefault(round(float(np.dot(d.ImagePositionPatient, normal)), 2), d)
    first, last = by_k[positions[0]], by_k[positions[-1]]
    dr, dc = (float(v) for v in first.PixelSpacing)
    affine = np.eye(4)
    affine[:3, 0] = LPS_TO_RAS @ iop[:3] * dc
    affine[:3, 1] = LPS_TO_RAS @ iop[3:] * dr
    if len(positions) > 1:
        step = (np.array(last.ImagePositionPatient, float) - np.array(first.ImagePositionPatient,
                float)) / (len(positions) - 1)  # fmt: skip
    else:
        step = normal * float(first.SliceThickness)
    affine[:3, 2] = LPS_TO_RAS @ step
    affine[:3, 3] = LPS_TO_RAS @ np.array(first.ImagePositionPatient, float)
    return vol, np.array(tes), affine, dsets


def test_ge_knee_big_endian_geometry(realdata):
    folder = realdata / "knee_ge_mr750_3T_8echo"
    s = load_series(folder)
    vol, tes, affine, dsets = _reference(folder)
    assert dsets[0].file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.2"  # big endian
    # 24 x 256 x 256 x 8 (k, j, i, e) as other tools list it -> (i, j, k, e) here
    assert s.data.shape == (256, 256, 24, 8)
    np.testing.assert_allclose(s.echo_times_ms, 6.312 * np.arange(1, 9), atol=1e-6)
    np.testing.assert_allclose(s.echo_times_ms, tes)
    np.testing.assert_array_equal(s.data, vol.astype(np.float32))
    np.testing.assert_allclose(s.affine, affine, atol=1e-3)
    np.testing.assert_allclose(s.voxel_size_mm, [0.625, 0.625, 4.0], atol=1e-4)
    # voxel (0, 0, 0) is the centre of the first slice's first pixel: LPS (-29.0364, -103.429,
    # 56.2757) is RAS (29.0364, 103.429, 56.2757)
    np.testing.assert_allclose(s.voxel_to_world([0, 0, 0]), [29.0364, 103.429, 56.2757], atol=1e-4)
    # k is the slice normal (row x column, in RAS) with 4.0 mm steps
    iop = np.array(dsets[0].ImageOrientationPatient, float)
    normal_ras = LPS_TO_RAS @ np.cross(iop[:3], iop[3:])
    normal_ras /= np.linalg.norm(normal_ras)
    np.testing.assert_allclose(s.affine[:3, 2], 4.0 * normal_ras, atol=1e-4)
    assert s.orientation == "sagittal"
    # invalid dates '00010101' of anonymised data are left out with a note, not a crash
    assert "acquisition_date" not in s.meta and "acquisition_time" not in s.meta
    assert any("00010101" in note for note in s.meta["notes"])
    assert s.meta["vendor"] == "ge" and s.meta["field_strength_t"] == pytest.approx(3.0)
    assert s.meta["slice_thickness_mm"] == pytest.approx(3.0)
    assert s.meta["slice_gap_mm"] == pytest.approx(1.0, abs=1e-4)
    assert s.meta["intensity"] == "stored"


def test_knee_order_is_independent_of_instance_numbers(realdata):
    """Its InstanceNumber runs echo-fastest; the result is the same as the reference anyway."""
    folder = realdata / "knee_ge_mr750_3T_8echo"
    dsets = [pydicom.dcmread(f, stop_before_pixels=True) for f in sorted(folder.iterdir())[:9]]
    assert [float(d.EchoTime) for d in dsets[:8]] == pytest.approx(6.312 * np.arange(1, 9))
    assert int(dsets[8].InstanceNumber) == 9 and float(dsets[8].EchoTime) == pytest.approx(6.312)


def test_siemens_32_echoes(realdata):
    folder = realdata / "phantom_siemens_aera_1p5T_32echo"
    s = load_series(folder)
    vol, tes, affine, _ = _reference(folder)
    assert s.data.shape == (192, 192, 1, 32)
    np.testing.assert_allclose(s.echo_times_ms, 12.7 * np.arange(1, 33), atol=1e-6)
    np.testing.assert_allclose(s.echo_times_ms, tes)
    np.testing.assert_array_equal(s.data, vol.astype(np.float32))
    np.testing.assert_allclose(s.affine, affine, atol=1e-4)
    assert s.meta["sequence_name"] == "*se2d32"
    assert s.meta["refocusing_angle_deg"] == pytest.approx(180.0)
    assert s.meta["acquisition_date"] == "2020-02-18"
    assert s.meta["echo_spacing_ms"] == pytest.approx(12.7)


def test_philips_rescale_and_floating_point(realdata):
    folder = realdata / "phantom_philips_ingenia_1p5T_32echo" / "plate4_T2spheres"
    s = load_series(folder)
    vol, tes, affine, dsets = _reference(folder)
    assert s.data.shape == (192, 192, 1, 32)
    np.testing.assert_allclose(s.echo_times_ms, 5.0 * np.arange(1, 33), atol=1e-6)
    np.testing.assert_allclose(s.echo_times_ms, tes)
    np.testing.assert_allclose(s.data, vol, rtol=1e-6)  # float32 of the rescaled values
    np.testing.assert_allclose(s.affine, affine, atol=1e-4)
    assert s.meta["intensity"] == "rescaled"
    assert s.meta["rescale_type"] == "normalized"
    assert s.meta["rescale_slope"] == pytest.approx(1.65128205128205)
    scale_slope = float(dsets[0][0x2005, 0x100E].value)
    assert s.meta["philips_scale_slope"] == pytest.approx(scale_slope)
    fp = load_series(folder, intensity="fp")
    np.testing.assert_allclose(fp.data, vol / (1.65128205128205 * scale_slope), rtol=1e-5)
    assert fp.meta["intensity"] == "philips-fp"


def test_philips_two_plates_make_two_slices(realdata):
    folder = realdata / "phantom_philips_ingenia_1p5T_32echo"
    s = load_series(folder)
    vol, _, affine, _ = _reference(folder)
    assert s.data.shape == (192, 192, 2, 32)
    np.testing.assert_allclose(s.data, vol, rtol=1e-6)
    np.testing.assert_allclose(s.affine, affine, atol=1e-4)
    assert s.voxel_size_mm[2] == pytest.approx(40.0)


def test_find_series_over_all_real_data(realdata):
    infos = find_series(realdata)
    summary = sorted((i.vendor, i.n_echoes, i.n_slices, i.orientation) for i in infos)
    assert summary == [
        ("ge", 8, 24, "sagittal"),
        ("philips", 32, 2, "coronal"),
        ("siemens", 32, 1, "coronal"),
    ]
    assert all(i.loadable and i.kind == "multi-echo" for i in infos)
