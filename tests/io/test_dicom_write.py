"""The scanner-like DICOM writer, read back with plain pydicom (independent of discT2's reader)."""

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian, RLELossless

from discT2 import InputError, MultiEchoSeries
from discT2.io.dicom_write import write_dicom_series

LPS = np.diag([-1.0, -1.0, 1.0])


def _series(scale=1000.0):
    rng = np.random.default_rng(3)
    # sagittal: i -> posterior, j -> inferior, k -> patient left, slightly oblique
    affine = np.array(
        [[0.0, 0.05, 3.5, -7.0], [-0.9, 0.0, 0.0, 40.0], [0.0, -0.9, 0.1, 95.0], [0, 0, 0, 1]]
    )
    data = rng.uniform(0, scale, (7, 9, 3, 4))
    return MultiEchoSeries(data, [11.0, 22.0, 33.0, 44.0], affine, {"repetition_time_ms": 2500.0})


def _read_classic(files):
    """Rebuild volume and affine the textbook way: sort by IPP . normal, echo by EchoTime."""
    dsets = [pydicom.dcmread(f) for f in files]
    iop = np.array(dsets[0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    positions = sorted({round(float(np.dot(d.ImagePositionPatient, normal)), 3) for d in dsets})
    tes = sorted({float(d.EchoTime) for d in dsets})
    vol = np.zeros((dsets[0].Columns, dsets[0].Rows, len(positions), len(tes)))
    for d in dsets:
        k = positions.index(round(float(np.dot(d.ImagePositionPatient, normal)), 3))
        e = tes.index(float(d.EchoTime))
        px = d.pixel_array * float(d.get("RescaleSlope", 1)) + float(d.get("RescaleIntercept", 0))
        vol[:, :, k, e] = px.T
    first = min(dsets, key=lambda d: np.dot(d.ImagePositionPatient, normal))
    dr, dc = (float(v) for v in first.PixelSpacing)
    step = (positions[1] - positions[0]) if len(positions) > 1 else 1.0
    aff = np.eye(4)
    aff[:3, 0] = LPS @ iop[:3] * dc
    aff[:3, 1] = LPS @ iop[3:] * dr
    aff[:3, 2] = LPS @ normal * step
    aff[:3, 3] = LPS @ np.array(first.ImagePositionPatient, float)
    return vol, aff, tes, dsets


@pytest.mark.parametrize("vendor", ["siemens", "ge", "philips"])
def test_classic_round_trip(tmp_path, vendor):
    s = _series(4000.0 if vendor != "philips" else 12345.0)
    files = write_dicom_series(s, tmp_path, vendor=vendor, uid_seed="t")
    assert len(files) == 3 * 4
    vol, aff, tes, dsets = _read_classic(files)
    np.testing.assert_allclose(tes, s.echo_times_ms)
    # the slice axis of this affine is not exactly the normal (0.1 mm tilt): compare voxel centres
    ijk = np.stack(np.meshgrid(*map(np.arange, s.shape), indexing="ij"), -1).reshape(-1, 3)
    world_written = s.voxel_to_world(ijk)
    world_read = ijk @ aff[:3, :3].T + aff[:3, 3]
    np.testing.assert_allclose(world_read[:, :2], world_written[:, :2], atol=0.05)
    tolerance = 0.5 if vendor != "philips" else 0.51 * max(float(d.RescaleSlope) for d in dsets)
    np.testing.assert_allclose(vol, s.data, atol=tolerance)
    assert all(d.PatientName == "SYNTHETIC^PHANTOM" for d in dsets)


def test_philips_conventions(tmp_path):
    s = _series(9000.0)
    files = write_dicom_series(s, tmp_path, vendor="philips", uid_seed="p")
    assert all(f.suffix == "" for f in files)
    dsets = [pydicom.dcmread(f) for f in files]
    slopes = {float(d.EchoTime): float(d.RescaleSlope) for d in dsets}
    assert len(set(slopes.values())) > 1  # differs per echo
    instance_by_echo_slice = [(float(d.EchoTime), d.InstanceNumber) for d in dsets]
    assert sorted(i for _, i in instance_by_echo_slice) == list(range(1, 13))
    for d in dsets:
        block = d.private_block(0x2005, "Philips MR Imaging DD 001")
        scale_slope = block[0x0E].value
        assert d.RescaleType == "normalized"
        # FP = DV / (RS * SS) must be proportional to DV with one constant for the whole series
        assert float(d.RescaleSlope) * scale_slope == pytest.approx(2.5, rel=1e-5)


def test_enhanced_round_trip(tmp_path):
    s = _series(3000.0)
    (path,) = write_dicom_series(s, tmp_path, vendor="philips", enhanced=True, uid_seed="e")
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4.1"
    assert "EchoTime" not in ds
    assert ds.NumberOfFrames == 12
    frames = ds.pixel_array
    iop = np.array(ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0]
                   .ImageOrientationPatient, float)  # fmt: skip
    normal = np.cross(iop[:3], iop[3:])
    for f, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
        te = float(fg.MREchoSequence[0].EffectiveEchoTime)
        e = list(s.echo_times_ms).index(te)
        ipp = np.array(fg.PlanePositionSequence[0].ImagePositionPatient, float)
        k = round((np.dot(ipp, normal) - np.dot(LPS @ s.affine[:3, 3], normal)) / 3.5)
        pvt = fg.PixelValueTransformationSequence[0]
        img = frames[f] * float(pvt.RescaleSlope) + float(pvt.RescaleIntercept)
        np.testing.assert_allclose(img.T, s.data[:, :, k, e], atol=0.51 * float(pvt.RescaleSlope))


@pytest.mark.parametrize("ts", [ImplicitVRLittleEndian, ExplicitVRBigEndian, RLELossless])
def test_transfer_syntaxes(tmp_path, ts):
    s = _series(4000.0)
    files = write_dicom_series(s, tmp_path, vendor="ge", transfer_syntax=ts, uid_seed="x")
    assert pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID == ts
    vol, _, _, _ = _read_classic(files)
    np.testing.assert_allclose(vol, s.data, atol=0.5)


def test_uids_reproducible_and_distinct(tmp_path):
    s = _series(100.0)
    a = write_dicom_series(s, tmp_path / "a", uid_seed="same")
    b = write_dicom_series(s, tmp_path / "b", uid_seed="same")
    uids_a = [pydicom.dcmread(f).SOPInstanceUID for f in a]
    uids_b = [pydicom.dcmread(f).SOPInstanceUID for f in b]
    assert uids_a == uids_b
    assert len(set(uids_a)) == len(uids_a)


@pytest.mark.parametrize(
    ("kwargs", "scale", "match"),
    [({"vendor": "canon"}, 10.0, "unknown vendor"), ({}, 5000.0, "fit 12 bits")],
)
def test_refusals(tmp_path, kwargs, scale, match):
    with pytest.raises(InputError, match=match):
        write_dicom_series(_series(scale), tmp_path, **kwargs)


def test_uids_distinct_for_many_slices_and_echoes(tmp_path):
    """(slice 1, echo 12) and (slice 11, echo 2) must not hash to the same UID."""
    rng = np.random.default_rng(4)
    s = MultiEchoSeries(rng.uniform(0, 100, (3, 2, 12, 12)), 10.0 * np.arange(1, 13), np.eye(4))
    files = write_dicom_series(s, tmp_path, uid_seed="many")
    uids = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files}
    assert len(uids) == len(files) == 144
