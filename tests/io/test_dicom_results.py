"""DICOM results (Parametric Map, Segmentation, TID 1500 SR): round trips, identity, validity."""

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest

from discT2 import T2Map, load_series, measure
from discT2.errors import GeometryError, InputError
from discT2.fit import T2Model
from discT2.io.dicom import load_dicom_map
from discT2.io.dicom_results import (
    PARAMETRIC_MAPS,
    SEG_FILE,
    SR_FILE,
    map_file,
    read_dicom_results,
    read_source,
    write_dicom_results,
)
from discT2.io.dicom_results.segmentation import LEVEL_CODES
from discT2.io.dicom_results.structured_report import N_VOXELS, PFIRRMANN, T2, T2_STATISTICS
from discT2.roi import DiscROIs, load_discs, place_rois

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "S01" / "baseline"

#: A value in every identifying field of the source headers; none may reach de-identified output.
CANARIES = {
    "PatientName": "CANARYFAMILY^CANARYGIVEN",
    "PatientID": "CANARY-PID-0042",
    "IssuerOfPatientID": "CANARY-ISSUER",
    "OtherPatientIDs": "CANARY-OTHERID",
    "PatientBirthDate": "19031117",
    "PatientAddress": "CANARY STREET 7",
    "PatientTelephoneNumbers": "CANARY-PHONE-555",
    "PatientComments": "CANARY COMMENT",
    "PatientMotherBirthName": "CANARYMOTHER",
    "EthnicGroup": "CANARYETH",
    "InstitutionName": "CANARY HOSPITAL",
    "InstitutionAddress": "CANARY AVENUE 1",
    "InstitutionalDepartmentName": "CANARY DEPT",
    "ReferringPhysicianName": "CANARYREFERRER^DOC",
    "PerformingPhysicianName": "CANARYPERFORMER^DOC",
    "OperatorsName": "CANARYOPERATOR^TECH",
    "AccessionNumber": "CANARYACC77",
    "StudyID": "CANARYSTUDY",
    "StudyDate": "19040203",
    "SeriesDate": "19040203",
    "AcquisitionDate": "19040203",
    "ContentDate": "19040203",
    "StudyTime": "111213.141516",
    "StudyDescription": "CANARY STUDY DESCRIPTION",
    "StationName": "CANARYSTATION",
    "DeviceSerialNumber": "CANARYSERIAL",
    "RequestingPhysician": "CANARYREQUESTER^DOC",
}
_TEXT_CANARIES = [v for k, v in CANARIES.items() if not k.endswith(("Date", "Time"))]
_NUMBER_CANARIES = ["19031117", "19040203", "111213"]


def _find_dciodvfy() -> str | None:
    found = shutil.which("dciodvfy")
    if found is None and os.environ.get("CI", "").lower() == "true":
        pytest.fail("dciodvfy (dicom3tools) is missing on CI: make test installs it")
    return found


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    """The first sample exam with canaries in every identifying field, fitted and measured."""
    root = tmp_path_factory.mktemp("dicom_results")
    dicom = root / "dicom"
    dicom.mkdir()
    source_uids: set[str] = set()
    for path in sorted((SAMPLE / "dicom").iterdir()):
        ds = pydicom.dcmread(path)
        for keyword, value in CANARIES.items():
            setattr(ds, keyword, value)
        source_uids |= {
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
            ds.SOPInstanceUID,
            ds.FrameOfReferenceUID,
        }
        ds.save_as(dicom / path.name)
    series = load_series(dicom)
    t2map = T2Model(series.echo_times_ms, "nlls", workers=1).fit(series)
    t2map.save(root / "fit")
    rois = place_rois(series, load_discs(SAMPLE / "truth" / "discs.json"))
    graded = [dataclasses.replace(d, pfirrmann=2 + i % 4) for i, d in enumerate(rois.discs)]
    rois = rois.with_discs(graded)
    rois.save(root / "rois")
    table = measure(t2map, rois)
    table.to_csv(root / "measurements.csv", index=False, float_format="%.6g")
    written = write_dicom_results(root / "deid", dicom, t2map=t2map, rois=rois, measurements=table)
    kept = write_dicom_results(
        root / "kept", dicom, t2map=t2map, rois=rois, measurements=table, identity="source"
    )
    return {
        "root": root,
        "dicom": dicom,
        "series": series,
        "written": written,
        "kept": kept,
        "source_uids": source_uids,
    }


def test_writes_every_object(exam):
    names = {p.name for p in exam["written"].values()}
    assert names == {"t2.pm.dcm", "t2_sd.pm.dcm", "s0.pm.dcm", SEG_FILE, SR_FILE}
    assert map_file("t2_ms") == "t2.pm.dcm"


@pytest.mark.parametrize("kind", PARAMETRIC_MAPS, ids=lambda k: k.attribute)
def test_parametric_map_equals_the_nifti_map_with_its_geometry(exam, kind):
    nifti = T2Map.load(exam["root"] / "fit")
    path = exam["written"][kind.attribute]
    # S0 has no time unit: the reader of scanner T2 maps then needs to be told the scale
    values, affine, _ = load_dicom_map(path, scale_to_ms=1.0 if kind.unit.value == "1" else None)
    expected = getattr(nifti, kind.attribute)
    assert values.dtype == np.float32
    np.testing.assert_array_equal(values, expected)  # NaN where NaN: not fitted
    np.testing.assert_allclose(affine, nifti.affine, atol=1e-6)
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"  # Parametric Map Storage
    mapping = ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    unit = mapping.MeasurementUnitsCodeSequence[0]
    assert (unit.CodingSchemeDesignator, unit.CodeValue) == (
        "UCUM",
        "ms" if kind.attribute != "s0" else "1",
    )


def test_parametric_map_shares_the_source_frame_of_reference(exam):
    ds = pydicom.dcmread(exam["kept"]["t2_ms"])
    source = pydicom.dcmread(next(exam["dicom"].iterdir()), stop_before_pixels=True)
    assert ds.FrameOfReferenceUID == source.FrameOfReferenceUID
    assert ds.StudyInstanceUID == source.StudyInstanceUID
    referenced = ds.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == source.SeriesInstanceUID
    deid = pydicom.dcmread(exam["written"]["t2_ms"])
    seg = pydicom.dcmread(exam["written"]["segmentation"])
    assert deid.FrameOfReferenceUID == seg.FrameOfReferenceUID != source.FrameOfReferenceUID
    assert deid.StudyInstanceUID == seg.StudyInstanceUID != source.StudyInstanceUID


def _segment_volumes(path: Path, shape, positions) -> dict[str, np.ndarray]:
    """Each segment's mask on the (i, j, k) grid, from the frames' own positions."""
    ds = pydicom.dcmread(path)
    frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    labels = {item.SegmentNumber: item.SegmentLabel for item in ds.SegmentSequence}
    out = {label: np.zeros(shape, bool) for label in labels.values()}
    slice_of = {tuple(np.round(p, 3)): k for k, p in enumerate(positions)}
    for frame, item in zip(frames, ds.PerFrameFunctionalGroupsSequence, strict=True):
        number = item.SegmentIdentificationSequence[0].ReferencedSegmentNumber
        position = tuple(
            np.round([float(v) for v in item.PlanePositionSequence[0][0x200032].value], 3)
        )
        out[labels[number]][:, :, slice_of[position]] = frame.T.astype(bool)
    return out


def test_segments_equal_the_roi_labels_voxel_for_voxel(exam):
    rois = DiscROIs.load(exam["root"] / "rois")
    source = read_source(exam["dicom"])
    volumes = _segment_volumes(exam["written"]["segmentation"], rois.shape, source.positions)
    assert len(volumes) == 8 * len(rois.discs)
    rebuilt = np.zeros(rois.shape, np.int64)
    for value, (level, roi) in rois.label_table.items():
        mask = volumes[f"{level} {roi}"]
        assert not np.any(rebuilt[mask]), "the five ROIs of a disc must not overlap"
        rebuilt[mask] = value
    np.testing.assert_array_equal(rebuilt, rois.labels)
    for level in rois.levels:
        for pooled in ("NP", "AF", "disc"):
            np.testing.assert_array_equal(volumes[f"{level} {pooled}"], rois.mask(level, pooled))


def test_read_back_gives_the_maps_with_units_and_the_roi_labels(exam):
    results = read_dicom_results(exam["written"]["t2_ms"].parent)
    nifti = T2Map.load(exam["root"] / "fit")
    rois = DiscROIs.load(exam["root"] / "rois")
    assert results.units == {"t2_ms": "ms", "t2_sd_ms": "ms", "s0": "1"}
    for attribute, values in results.maps.items():
        np.testing.assert_array_equal(values, getattr(nifti, attribute))
    np.testing.assert_allclose(results.affine, nifti.affine, atol=1e-6)
    np.testing.assert_array_equal(results.labels, rois.labels)
    np.testing.assert_array_equal(results.t2map().valid(), np.isfinite(nifti.t2_ms))
    # alone, the segmentation spans the slices it stores (those with an ROI)
    seg_only = read_dicom_results(exam["written"]["segmentation"])
    stored = np.flatnonzero(rois.labels.any(axis=(0, 1)))
    np.testing.assert_array_equal(seg_only.labels, rois.labels[:, :, stored[0] : stored[-1] + 1])
    shifted = nifti.affine.copy()
    shifted[:3, 3] += stored[0] * nifti.affine[:3, 2]
    np.testing.assert_allclose(seg_only.affine, shifted, atol=1e-6)
    assert seg_only.t2map() is None
    with pytest.raises(InputError, match="no DICOM Parametric Map"):
        read_dicom_results(exam["written"]["report"])


def test_segments_carry_coded_anatomy(exam):
    ds = pydicom.dcmread(exam["written"]["segmentation"])
    for item in ds.SegmentSequence:
        level, roi = item.SegmentLabel.split(" ")
        prop = item.SegmentedPropertyTypeCodeSequence[0]
        assert (prop.CodingSchemeDesignator, prop.CodeValue) == ("SCT", "360499006")
        assert prop.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == roi
        region = item.AnatomicRegionSequence[0]
        assert region.CodeValue == LEVEL_CODES[level].value


def test_report_numbers_equal_measurements_csv(exam):
    csv = pd.read_csv(exam["root"] / "measurements.csv")
    sr = hd.sr.srread(exam["written"]["report"])
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == len(csv)
    seg_uid = pydicom.dcmread(exam["written"]["segmentation"]).SOPInstanceUID
    pm_uid = pydicom.dcmread(exam["written"]["t2_ms"]).SOPInstanceUID
    seen = set()
    for group in groups:
        level, roi = group.tracking_identifier.split(" ")
        row = csv[(csv.level == level) & (csv.roi == roi)].iloc[0]
        seen.add((level, roi))
        assert group.referenced_segment.referenced_sop_instance_uid == seg_uid
        items = group[0].ContentSequence
        maps = [i for i in items if i.ConceptNameCodeSequence[0].CodeValue == "126100"]
        assert [m.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for m in maps] == [pm_uid]
        values = {}
        for item in group.get_measurements():
            if item.name == T2:
                derivation = item.derivation
                column = next(c for c, code in T2_STATISTICS.items() if code == derivation)
                values[column] = item.value
            elif item.name == N_VOXELS:
                values["n_voxels"] = item.value
            elif item.name == PFIRRMANN:
                values["pfirrmann"] = item.value
        for column in T2_STATISTICS:
            if np.isnan(row[column]):
                assert column not in values
            else:
                np.testing.assert_allclose(values[column], row[column], rtol=1e-5)
        assert values["n_voxels"] == row["n_voxels"]
        if roi == "disc":
            assert values["pfirrmann"] == row["pfirrmann"]
        else:
            assert "pfirrmann" not in values
    assert len(seen) == len(csv)


def test_report_records_the_fit_method(exam):
    ds = pydicom.dcmread(exam["written"]["report"])
    assert "method=nlls" in str(ds.ContentSequence)


def test_no_identifying_value_reaches_deidentified_results(exam):
    for path in exam["written"].values():
        raw = path.read_bytes()
        for value in [*_TEXT_CANARIES, *_NUMBER_CANARIES, *exam["source_uids"]]:
            assert value.encode() not in raw, f"{path.name} carries {value!r}"
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        assert str(ds.PatientID) == "ANONYMOUS"
        assert ds.PatientBirthDate == "" and ds.PatientSex == ""


def test_source_identity_copies_patient_and_study_only_when_asked(exam):
    ds = pydicom.dcmread(exam["kept"]["report"])
    assert str(ds.PatientName) == CANARIES["PatientName"]
    assert ds.PatientID == CANARIES["PatientID"]
    assert ds.AccessionNumber == CANARIES["AccessionNumber"]
    for path in exam["kept"].values():
        raw = path.read_bytes()
        # identification only: the source's other fields stay out even on request
        for keyword in ("InstitutionName", "OperatorsName", "PatientAddress", "DeviceSerialNumber"):
            assert CANARIES[keyword].encode() not in raw


def test_every_object_passes_dciodvfy(exam):
    dciodvfy = _find_dciodvfy()
    if dciodvfy is None:
        pytest.skip("dciodvfy (dicom3tools) not installed")
    for path in [*exam["written"].values(), *exam["kept"].values()]:
        result = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, check=False)
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
        assert not errors, f"{path}: {errors}"


def test_nifti_source_is_a_clear_error(exam, tmp_path):
    from discT2.io import save_nifti_series

    nifti = save_nifti_series(exam["series"], tmp_path / "mese.nii.gz")
    t2map = T2Map.load(exam["root"] / "fit")
    with pytest.raises(InputError, match="NIfTI"):
        write_dicom_results(tmp_path / "out", nifti, t2map=t2map)
    with pytest.raises(InputError, match="no DICOM"):
        write_dicom_results(tmp_path / "out", tmp_path, t2map=t2map)


def test_results_off_the_source_grid_are_refused(exam, tmp_path):
    t2map = T2Map.load(exam["root"] / "fit")
    t2map.affine = t2map.affine.copy()
    t2map.affine[0, 3] += 5.0
    with pytest.raises(GeometryError, match="not on the grid"):
        write_dicom_results(tmp_path / "out", exam["dicom"], t2map=t2map)


def test_report_needs_the_map_and_the_rois(exam, tmp_path):
    t2map = T2Map.load(exam["root"] / "fit")
    with pytest.raises(InputError, match="give both"):
        write_dicom_results(tmp_path, exam["dicom"], t2map=t2map, measurements=pd.DataFrame())
