"""Enhanced MR multi-frame objects: per-frame, then shared, then top-level attributes."""

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from discT2 import find_series, load_series

PHILIPS_SLOPE_BOUND = 4000 / (4095 - 95)


@pytest.mark.parametrize("vendor", ["philips", "siemens"])
def test_enhanced_round_trip(tmp_path, dcm, vendor):
    truth = dcm.make_series(seed=20, slice_thickness_mm=3.0)
    (path,) = dcm.write(truth, tmp_path, vendor=vendor, enhanced=True)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert "EchoTime" not in ds  # XA style: echo time only in the MR Echo Sequence
    for source in (tmp_path, path):  # the folder or the file itself
        s = load_series(source)
        np.testing.assert_allclose(s.echo_times_ms, truth.echo_times_ms)
        np.testing.assert_allclose(s.affine, truth.affine, atol=1e-4)
        atol = 0.5 * PHILIPS_SLOPE_BOUND if vendor == "philips" else 0.0
        np.testing.assert_allclose(s.data, truth.data, atol=atol + 1e-3)
    assert s.meta["format"] == "dicom-enhanced"
    assert s.meta["repetition_time_ms"] == pytest.approx(2000.0)
    assert s.meta["slice_thickness_mm"] == pytest.approx(3.0)
    assert s.meta["intensity"] == "rescaled"
    if vendor == "siemens":
        assert s.meta["refocusing_angle_deg"] == pytest.approx(180.0)
    (info,) = find_series(path)
    assert (info.n_files, info.n_echoes, info.n_slices) == (1, 4, 5)


def test_varying_per_frame_rescale(tmp_path, dcm):
    """Every frame its own Pixel Value Transformation (dcm2niix issue 363)."""
    truth = dcm.make_series(seed=21)
    (path,) = dcm.write(truth, tmp_path, vendor="siemens", enhanced=True)
    ds = pydicom.dcmread(path)
    frames = ds.pixel_array.astype(float)
    rng = np.random.default_rng(1)
    for f, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        slope, intercept = float(rng.uniform(0.6, 3.0)), float(rng.integers(-20, 20))
        frames[f] = np.rint((frames[f] - intercept) / slope)
        group.PixelValueTransformationSequence[0].RescaleSlope = round(slope, 6)
        group.PixelValueTransformationSequence[0].RescaleIntercept = intercept
    ds.PixelData = frames.astype("<u2").tobytes()
    ds.BitsStored, ds.HighBit = 16, 15  # slopes below 1 need more than 12 bits
    ds.save_as(path)
    s = load_series(path)
    np.testing.assert_allclose(s.data, truth.data, atol=1.5 + 1e-3)  # 0.5 x largest slope


def test_shared_groups_and_top_level_fallbacks(tmp_path, dcm):
    """Rescale only in the shared groups, orientation per frame, spacing only at top level."""
    truth = dcm.make_series(seed=22)
    (path,) = dcm.write(truth, tmp_path, vendor="siemens", enhanced=True)
    ds = pydicom.dcmread(path)
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = shared.PlaneOrientationSequence[0].ImageOrientationPatient
    ds.PixelSpacing = shared.PixelMeasuresSequence[0].PixelSpacing
    del shared.PlaneOrientationSequence
    del shared.PixelMeasuresSequence[0].PixelSpacing
    transform = Dataset()
    transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 2.0, 5.0, "US"
    shared.PixelValueTransformationSequence = Sequence([transform])
    for group in ds.PerFrameFunctionalGroupsSequence:
        del group.PixelValueTransformationSequence
        plane = Dataset()
        plane.ImageOrientationPatient = iop
        group.PlaneOrientationSequence = Sequence([plane])
    ds.save_as(path)
    s = load_series(path)
    np.testing.assert_allclose(s.affine, truth.affine, atol=1e-4)
    np.testing.assert_allclose(s.data, truth.data * 2.0 + 5.0)


def test_t2_map_frames_in_the_same_object(tmp_path, dcm):
    """Philips may store computed T2 map frames beside the echoes: they are not echoes."""
    truth = dcm.make_series(seed=23)
    (path,) = dcm.write(truth, tmp_path, vendor="siemens", enhanced=True)
    ds = pydicom.dcmread(path)
    frame_type = Dataset()
    frame_type.FrameType = ["DERIVED", "PRIMARY", "T2 MAP", "T2"]
    last_echo = [
        g
        for g in ds.PerFrameFunctionalGroupsSequence
        if float(g.MREchoSequence[0].EffectiveEchoTime) == 40.0
    ]
    for group in last_echo:  # relabel the 40 ms frames as map frames
        group.MRImageFrameTypeSequence = Sequence([frame_type])
    ds.save_as(path)
    infos = find_series(path)
    assert sorted(i.kind for i in infos) == ["map", "multi-echo"]
    s = load_series(path)
    np.testing.assert_allclose(s.echo_times_ms, [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(s.data, truth.data[..., :3])
