"""Classic MR (one file per slice per echo) from the three vendors' conventions."""

import os

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from discT2 import InputError, find_series, load_series
from discT2.io.dicom import load_dicom_series

#: Largest rounding error of a stored value after the Philips per-echo rescale (0.5 x slope).
PHILIPS_SLOPE_BOUND = 4000 / (4095 - 95)


@pytest.mark.parametrize("vendor", ["siemens", "ge", "philips"])
def test_vendor_round_trip(tmp_path, dcm, vendor):
    truth = dcm.make_series(seed=1, slice_thickness_mm=3.0, field_strength_t=3.0)
    dcm.write(truth, tmp_path, vendor=vendor, series_number=7)
    s = load_series(tmp_path)
    assert s.shape == truth.shape and s.n_echoes == 4
    np.testing.assert_allclose(s.echo_times_ms, truth.echo_times_ms)
    np.testing.assert_allclose(s.affine, truth.affine, atol=1e-4)
    # Siemens and GE store the integers unscaled; Philips quantises each echo with its own slope
    atol = 0 if vendor != "philips" else 0.5 * PHILIPS_SLOPE_BOUND
    np.testing.assert_allclose(s.data, truth.data, atol=atol + 1e-3)
    assert s.meta["vendor"] == vendor
    assert s.meta["series_number"] == 7
    assert s.meta["series_description"] == "T2 MAP MESE SAG"
    assert s.meta["repetition_time_ms"] == pytest.approx(2000.0)
    assert s.meta["field_strength_t"] == pytest.approx(3.0)
    assert s.meta["format"] == "dicom"
    assert s.meta["acquisition_date"] == "2024-01-15"
    assert s.meta["acquisition_time"] == "09:30:00"
    assert s.meta["slice_thickness_mm"] == pytest.approx(3.0)
    assert s.meta["slice_spacing_mm"] == pytest.approx(4.0, abs=1e-4)
    assert s.meta["slice_gap_mm"] == pytest.approx(1.0, abs=1e-4)
    assert s.meta["pixel_spacing_mm"] == pytest.approx([0.8, 0.7])
    assert s.meta["echo_spacing_ms"] == pytest.approx(10.0)
    assert s.meta["intensity"] == ("rescaled" if vendor == "philips" else "stored")
    if vendor == "siemens":  # Siemens spin echo: FlipAngle is the refocusing angle
        assert s.meta["refocusing_angle_deg"] == pytest.approx(180.0)
        assert "excitation_angle_deg" not in s.meta
    else:
        assert s.meta["excitation_angle_deg"] == pytest.approx(90.0)
    assert not {"PatientName", "PatientID", "PatientBirthDate"} & set(s.meta)
    assert "SYNTHETIC" not in repr(s.meta)


def test_order_comes_from_positions_not_names_or_instance_numbers(tmp_path, dcm):
    truth = dcm.make_series(seed=2)
    files = dcm.write(truth, tmp_path / "w", vendor="ge")
    rng = np.random.default_rng(5)
    numbers = rng.permutation(len(files)) + 1
    (tmp_path / "x").mkdir()
    for f, n in zip(files, numbers, strict=True):
        ds = pydicom.dcmread(f)
        ds.InstanceNumber = int(n)  # random instance numbers
        ds.save_as(tmp_path / "x" / f"{n:05d}")  # names sort in that random order, no extension
        f.unlink()
    s = load_series(tmp_path / "x")
    np.testing.assert_array_equal(s.data, truth.data)
    np.testing.assert_allclose(s.affine, truth.affine, atol=1e-4)


def test_slices_written_against_the_normal_are_reversed_with_the_affine(tmp_path, dcm):
    """k of the input runs opposite to row x column: the reader sorts along the normal."""
    base = dcm.make_series(seed=3)
    flip = base.affine.copy()
    flip[:3, 3] = base.voxel_to_world([0, 0, base.shape[2] - 1])
    flip[:3, 2] *= -1
    written = type(base)(base.data[:, :, ::-1], base.echo_times_ms, flip, base.meta)
    dcm.write(written, tmp_path, vendor="siemens")
    s = load_series(tmp_path)
    np.testing.assert_array_equal(s.data, base.data)
    np.testing.assert_allclose(s.affine, base.affine, atol=1e-4)
    # the same voxel is at the same place in the world either way
    np.testing.assert_allclose(
        s.voxel_to_world([3, 4, 0]), written.voxel_to_world([3, 4, 4]), atol=1e-4
    )


def test_sheared_stack_keeps_its_positions(tmp_path, dcm):
    affine = dcm.sagittal_affine()
    affine[:3, 2] += 0.3 * affine[:3, 0] / np.linalg.norm(affine[:3, 0])  # slices step sideways
    truth = dcm.make_series(affine=affine, seed=4)
    dcm.write(truth, tmp_path, vendor="siemens")
    s = load_series(tmp_path)
    np.testing.assert_allclose(s.affine, truth.affine, atol=1e-4)


@pytest.mark.parametrize("syntax", [ExplicitVRBigEndian, ImplicitVRLittleEndian])
def test_big_endian_and_implicit_vr(tmp_path, dcm, syntax):
    truth = dcm.make_series(seed=5)
    files = dcm.write(truth, tmp_path, vendor="philips", transfer_syntax=syntax)
    assert pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID == syntax
    s = load_series(tmp_path)
    np.testing.assert_allclose(s.data, truth.data, atol=0.5 * PHILIPS_SLOPE_BOUND + 1e-3)
    assert s.meta["intensity"] == "rescaled"
    assert isinstance(s.meta["rescale_slope"], list)  # one slope per echo


def test_rescale_differs_per_echo_and_is_applied_per_file(tmp_path, dcm):
    truth = dcm.make_series(seed=6)
    files = dcm.write(truth, tmp_path, vendor="ge")
    # give every file its own slope and intercept, keeping the rescaled value
    rng = np.random.default_rng(0)

    def rescale(ds):
        slope, intercept = float(rng.choice([0.5, 2.0, 4.0])), float(rng.integers(-50, 50))
        stored = np.rint((ds.pixel_array.astype(float) - intercept) / slope)
        ds.PixelData = np.clip(stored, 0, 65535).astype("<u2").tobytes()
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.BitsStored, ds.HighBit = 16, 15  # slope 0.5 needs 13 bits

    dcm.edit(files, rescale)
    s = load_series(tmp_path)
    np.testing.assert_allclose(s.data, truth.data, atol=2.0 + 1e-3)  # 0.5 x largest slope
    assert s.meta["intensity"] == "rescaled"


def test_philips_floating_point_option(tmp_path, dcm):
    truth = dcm.make_series(seed=7)
    dcm.write(truth, tmp_path, vendor="philips")
    displayed = load_series(tmp_path)
    fp = load_series(tmp_path, intensity="fp")
    # the writer's RescaleSlope x ScaleSlope is 2.5 for every image: FP = DV / 2.5
    np.testing.assert_allclose(fp.data * 2.5, displayed.data, rtol=1e-5)
    assert fp.meta["intensity"] == "philips-fp"
    assert displayed.meta["rescale_type"] == "normalized"
    scale_slopes = displayed.meta["philips_scale_slope"]  # one per echo, as the rescale slopes
    assert len(scale_slopes) == len(displayed.meta["rescale_slope"]) == 4
    np.testing.assert_allclose(np.multiply(scale_slopes, displayed.meta["rescale_slope"]), 2.5)


def test_fp_needs_the_philips_scale_slope(tmp_path, dcm):
    dcm.write(dcm.make_series(seed=8), tmp_path, vendor="siemens")
    with pytest.raises(InputError, match=r"MR\.0001\.\d+\.IMA: intensity='fp' needs the Philips"):
        load_series(tmp_path, intensity="fp")
    with pytest.raises(InputError, match="intensity must be one of"):
        load_series(tmp_path, intensity="real-world")


def test_single_slice(tmp_path, dcm):
    truth = dcm.make_series(shape=(8, 6, 1), seed=9, slice_thickness_mm=5.0)
    dcm.write(truth, tmp_path, vendor="siemens")
    s = load_series(tmp_path)
    assert s.shape == (8, 6, 1)
    np.testing.assert_allclose(s.affine[:3, :2], truth.affine[:3, :2], atol=1e-5)
    np.testing.assert_allclose(s.affine[:3, 3], truth.affine[:3, 3], atol=1e-4)
    # one slice: k is the normal with the slice thickness as its length
    normal = np.cross(truth.affine[:3, 0], truth.affine[:3, 1])
    np.testing.assert_allclose(s.affine[:3, 2], 5.0 * normal / np.linalg.norm(normal), atol=1e-4)
    assert "slice_spacing_mm" not in s.meta


def test_file_list_and_single_file_list(tmp_path, dcm):
    truth = dcm.make_series(seed=10)
    files = dcm.write(truth, tmp_path, vendor="siemens")
    s = load_series([os.fspath(f) for f in files])
    np.testing.assert_array_equal(s.data, truth.data)
    (info,) = find_series(files)
    assert info.n_files == len(files) and info.n_echoes == 4 and info.n_slices == 5


def test_load_dicom_series_is_the_same_reader(tmp_path, dcm):
    truth = dcm.make_series(seed=11)
    dcm.write(truth, tmp_path, vendor="ge")
    np.testing.assert_array_equal(load_dicom_series(tmp_path).data, load_series(tmp_path).data)
