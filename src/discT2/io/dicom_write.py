"""Write a multi-echo series as DICOM the way scanners do (for synthetic data and tests).

The writer is strict: it refuses data it cannot store faithfully. It mimics the conventions of the
three large vendors that matter to a DICOM reader (the reader must not depend on any of them):

- ``siemens``: classic MR, one file per slice per echo named ``MR.<series>.<instance>.IMA``,
  instance numbers echo-major, no rescale tags, ``SequenceName`` ``*se2d<E>``, and FlipAngle
  holding the refocusing angle (``meta['refocusing_angle_deg']``, default 180), as Siemens
  spin-echo sequences report it; GE and Philips write the excitation angle there.
- ``ge``: classic MR, files ``E<exam>S<series>I<instance>.MR.dcm``, instance numbers echo-fastest.
- ``philips``: classic MR, files ``IM_<n>`` without extension in shuffled instance order, a rescale
  slope that differs per echo, ``RescaleType`` 'normalized' and the private scale slope (2005,100E).

``enhanced=True`` writes one Enhanced MR multi-frame object instead: geometry, echo time (MR Echo
Sequence, no top-level EchoTime) and rescale per frame in the Per-frame Functional Groups.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    EnhancedMRImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from discT2.errors import InputError
from discT2.series import MultiEchoSeries

__all__ = ["VENDORS", "write_dicom_series"]

VENDORS: dict[str, dict[str, str]] = {
    "siemens": {"Manufacturer": "SIEMENS", "ManufacturerModelName": "Aera",
                "SoftwareVersions": "syngo MR E11"},
    "ge": {"Manufacturer": "GE MEDICAL SYSTEMS", "ManufacturerModelName": "DISCOVERY MR750",
           "SoftwareVersions": "DV26.0_R03"},
    "philips": {"Manufacturer": "Philips Medical Systems", "ManufacturerModelName": "Ingenia",
                "SoftwareVersions": "5.7.1"},
}  # fmt: skip

#: Synthetic, obviously fake patient fields (never real people).
DEFAULT_PATIENT: dict[str, str] = {
    "PatientName": "SYNTHETIC^PHANTOM",
    "PatientID": "DISCT2-SYNTH",
    "PatientBirthDate": "19700101",
    "PatientSex": "O",
}

_PHILIPS_PRIVATE_CREATOR = "Philips MR Imaging DD 001"
_PHILIPS_FP_PRODUCT = 2.5  # RescaleSlope x ScaleSlope, the same for every image of the series
_MAX_STORED = 4095  # 12-bit stored values, as most MR scanners write


def write_dicom_series(
    series: MultiEchoSeries,
    folder: str | os.PathLike,
    *,
    vendor: str = "siemens",
    enhanced: bool = False,
    series_number: int = 1,
    series_description: str | None = None,
    patient: Mapping[str, str] | None = None,
    study_instance_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    acquisition_datetime: dt.datetime | None = None,
    uid_seed: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> list[Path]:
    """Write ``series`` into ``folder`` as one file per slice per echo, or one enhanced object.

    Parameters
    ----------
    series : MultiEchoSeries
        Magnitude data; values must be >= 0. Without rescaling (``siemens``, ``ge``) they are
        rounded to integers and must fit 12 bits (0-4095); ``philips`` scales each echo into 12 bits
        with its own rescale slope so that the rescaled value equals the input.
    folder : path-like
        Destination folder (created).
    vendor : {'siemens', 'ge', 'philips'}
        Whose conventions to follow (see the module docstring).
    enhanced : bool
        Write one Enhanced MR Image Storage multi-frame file instead of classic files.
    series_number, series_description : int, str
        Series identity; the description defaults to ``series.meta['series_description']``.
    patient : mapping, optional
        Patient module keywords (``PatientName``, ``PatientID``, ``PatientBirthDate``,
        ``PatientSex``). Defaults to obviously synthetic values.
    study_instance_uid, frame_of_reference_uid : str, optional
        Shared by the series of one exam; generated from ``uid_seed`` when absent.
    acquisition_datetime : datetime, optional
        Study/series/acquisition date and time (default: 2024-01-15 09:30).
    uid_seed : str, optional
        Makes every generated UID reproducible (same seed, same UIDs).
    transfer_syntax : str
        Explicit or implicit VR little endian, explicit VR big endian (retired, but still met), or a
        compressed syntax that pydicom can encode here (RLE Lossless always; JPEG-LS and JPEG 2000
        lossless with their optional encoders).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    InputError
        Unknown vendor, negative or non-finite data, or values that do not fit 12 bits without a
        rescale.
    """
    if vendor not in VENDORS:
        raise InputError(f"unknown vendor {vendor!r}; choose one of {sorted(VENDORS)}")
    data = series.data
    if not np.all(np.isfinite(data)) or data.min() < 0:
        raise InputError("DICOM magnitude images must be finite and >= 0")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    seed = uid_seed if uid_seed is not None else generate_uid()
    uid = _UidMaker(seed)
    when = acquisition_datetime or dt.datetime(2024, 1, 15, 9, 30, 0)
    stored, slopes = _quantise(data, vendor)
    geometry = _Geometry(series.affine, data.shape)

    base = Dataset()
    for keyword, value in {**DEFAULT_PATIENT, **(patient or {})}.items():
        setattr(base, keyword, value)
    base.StudyInstanceUID = study_instance_uid or uid("study")
    base.SeriesInstanceUID = uid(f"series{series_number}")
    base.FrameOfReferenceUID = frame_of_reference_uid or uid("frame-of-reference")
    base.StudyID = "1"
    base.AccessionNumber = ""
    base.ReferringPhysicianName = ""
    base.StudyDate = base.SeriesDate = base.AcquisitionDate = base.ContentDate = when.strftime(
        "%Y%m%d"
    )
    base.StudyTime = base.SeriesTime = base.AcquisitionTime = base.ContentTime = when.strftime(
        "%H%M%S.%f"
    )[:13]
    base.Modality = "MR"
    base.SeriesNumber = int(series_number)
    base.SeriesDescription = series_description or str(
        series.meta.get("series_description", "T2 MAP MESE SAG")
    )
    base.ProtocolName = base.SeriesDescription
    for keyword, value in VENDORS[vendor].items():
        setattr(base, keyword, value)
    base.BodyPartExamined = "LSPINE"
    base.PatientPosition = "HFS"
    base.PositionReferenceIndicator = ""
    _acquisition_tags(base, series, vendor)
    base.SamplesPerPixel = 1
    base.PhotometricInterpretation = "MONOCHROME2"
    base.Rows, base.Columns = geometry.rows, geometry.columns
    base.BitsAllocated = 16
    base.BitsStored = 12
    base.HighBit = 11
    base.PixelRepresentation = 0

    write = _write_enhanced if enhanced else _write_classic
    return write(base, series, stored, slopes, geometry, folder, vendor, uid, transfer_syntax)


class _UidMaker:
    """Reproducible UIDs from one seed."""

    def __init__(self, seed: str) -> None:
        self._seed = seed

    def __call__(self, *parts: object) -> UID:
        # one separated string: pydicom hashes the concatenation of the sources, so ("1", "12")
        # and ("11", "2") would otherwise give the same UID
        return generate_uid(entropy_srcs=["\x1f".join([self._seed, *map(str, parts)])])


class _Geometry:
    """DICOM plane geometry of an affine laid out as ``data[i, j, k] == pixels_k[j, i]``."""

    def __init__(self, affine: np.ndarray, shape: tuple[int, ...]) -> None:
        ras_to_lps = np.diag([-1.0, -1.0, 1.0])
        axes = ras_to_lps @ affine[:3, :3]
        self.spacing = np.linalg.norm(axes, axis=0)
        self.row_cosine = axes[:, 0] / self.spacing[0]
        self.col_cosine = axes[:, 1] / self.spacing[1]
        self.slice_vector = axes[:, 2]
        self.origin = ras_to_lps @ affine[:3, 3]
        self.columns, self.rows = int(shape[0]), int(shape[1])

    def position(self, k: int) -> list[float]:
        return [float(v) for v in self.origin + k * self.slice_vector]

    def slice_location(self, k: int) -> float:
        normal = np.cross(self.row_cosine, self.col_cosine)
        return float(np.dot(self.origin + k * self.slice_vector, normal))

    @property
    def orientation(self) -> list[float]:
        return [float(v) for v in (*self.row_cosine, *self.col_cosine)]

    @property
    def pixel_spacing(self) -> list[float]:
        # DICOM PixelSpacing is (between rows, between columns) = (along j, along i)
        return [float(self.spacing[1]), float(self.spacing[0])]


def _quantise(data: np.ndarray, vendor: str) -> tuple[np.ndarray, np.ndarray]:
    """Stored integer values and the rescale slope of each echo (1 when no rescale is written)."""
    n_echoes = data.shape[3]
    if vendor == "philips":
        peak = data.reshape(-1, n_echoes).max(axis=0)
        slopes = np.where(peak > 0, peak / (_MAX_STORED - 95), 1.0)
        slopes = np.array([float(f"{s:.6g}") for s in slopes])  # as a DS string holds it
        stored = np.rint(data / slopes).astype(np.uint16)
        return stored, slopes
    if data.max() > _MAX_STORED + 0.5:
        raise InputError(
            f"{vendor} images are written without a rescale slope, so values must fit 12 bits "
            f"(0-{_MAX_STORED}); got a maximum of {data.max():.1f}. Scale the data first."
        )
    return np.rint(data).astype(np.uint16), np.ones(n_echoes)


def _acquisition_tags(ds: Dataset, series: MultiEchoSeries, vendor: str) -> None:
    meta = series.meta
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "SK"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = f"*se2d{series.n_echoes}"
    ds.EchoTrainLength = series.n_echoes
    ds.ImagingFrequency = 63.6 * float(meta.get("field_strength_t", 1.5)) / 1.5
    ds.MagneticFieldStrength = float(meta.get("field_strength_t", 1.5))
    ds.RepetitionTime = float(meta.get("repetition_time_ms", 2000.0))
    if vendor == "siemens":
        ds.FlipAngle = float(meta.get("refocusing_angle_deg", 180.0))
    else:
        ds.FlipAngle = float(meta.get("excitation_angle_deg", 90.0))
    ds.NumberOfAverages = 1
    ds.SliceThickness = float(meta.get("slice_thickness_mm", np.linalg.norm(series.affine[:3, 2])))
    ds.SpacingBetweenSlices = float(np.linalg.norm(series.affine[:3, 2]))
    ds.ReceiveCoilName = "Spine"


def _image_type(vendor: str) -> list[str]:
    return ["ORIGINAL", "PRIMARY", "M", "ND"] if vendor == "siemens" else ["ORIGINAL", "PRIMARY"]


def _file_name(vendor: str, series_number: int, instance: int) -> str:
    if vendor == "siemens":
        return f"MR.{series_number:04d}.{instance:04d}.IMA"
    if vendor == "ge":
        return f"E1001S{series_number}I{instance:03d}.MR.dcm"
    return f"IM_{instance:04d}"


def _file_meta(sop_class: str, sop_instance: str, transfer_syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def _save(ds: Dataset, path: Path, pixels: np.ndarray, transfer_syntax: str) -> None:
    ts = UID(transfer_syntax)
    if ts.is_compressed:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = np.ascontiguousarray(pixels).tobytes()
        try:
            ds.compress(ts, np.ascontiguousarray(pixels), generate_instance_uid=False)
        except (RuntimeError, ValueError, NotImplementedError) as exc:
            raise InputError(f"cannot encode {ts.name} here: {exc}") from exc
    else:
        little = ts != ExplicitVRBigEndian
        data = np.ascontiguousarray(pixels).astype("<u2" if little else ">u2")
        ds.PixelData = data.tobytes()
        ds["PixelData"].VR = "OW"
    ds.save_as(
        path,
        implicit_vr=ts == ImplicitVRLittleEndian,
        little_endian=ts != ExplicitVRBigEndian,
        enforce_file_format=True,
    )


def _write_classic(
    base: Dataset,
    series: MultiEchoSeries,
    stored: np.ndarray,
    slopes: np.ndarray,
    geometry: _Geometry,
    folder: Path,
    vendor: str,
    uid: _UidMaker,
    transfer_syntax: str,
) -> list[Path]:
    _, _, n_k, n_e = stored.shape
    order = [(k, e) for e in range(n_e) for k in range(n_k)]  # echo-major
    if vendor == "ge":
        order = [(k, e) for k in range(n_k) for e in range(n_e)]  # echo-fastest
    instances = np.arange(1, len(order) + 1)
    if vendor == "philips":
        seed = int(str(base.SeriesInstanceUID).replace(".", "")[-9:])
        instances = np.random.default_rng(seed).permutation(instances)
    written = []
    for (k, e), instance in zip(order, instances, strict=True):
        ds = Dataset()
        ds.update(base)
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = uid("image", base.SeriesNumber, k, e)
        ds.file_meta = _file_meta(MRImageStorage, ds.SOPInstanceUID, transfer_syntax)
        ds.ImageType = _image_type(vendor)
        ds.InstanceNumber = int(instance)
        ds.EchoTime = float(series.echo_times_ms[e])
        ds.EchoNumbers = e + 1
        ds.ImagePositionPatient = geometry.position(k)
        ds.ImageOrientationPatient = geometry.orientation
        ds.PixelSpacing = geometry.pixel_spacing
        ds.SliceLocation = geometry.slice_location(k)
        if vendor == "philips":
            ds.RescaleIntercept = 0.0
            ds.RescaleSlope = float(slopes[e])
            ds.RescaleType = "normalized"
            block = ds.private_block(0x2005, _PHILIPS_PRIVATE_CREATOR, create=True)
            block.add_new(0x0E, "FL", _PHILIPS_FP_PRODUCT / float(slopes[e]))
        pixels = stored[:, :, k, e].T  # pixel rows run along j, columns along i
        ds.SmallestImagePixelValue = int(pixels.min())
        ds.LargestImagePixelValue = int(pixels.max())
        path = folder / _file_name(vendor, int(base.SeriesNumber), int(instance))
        _save(ds, path, pixels, transfer_syntax)
        written.append(path)
    return written


def _write_enhanced(
    base: Dataset,
    series: MultiEchoSeries,
    stored: np.ndarray,
    slopes: np.ndarray,
    geometry: _Geometry,
    folder: Path,
    vendor: str,
    uid: _UidMaker,
    transfer_syntax: str,
) -> list[Path]:
    n_i, n_j, n_k, n_e = stored.shape
    ds = Dataset()
    ds.update(base)
    for keyword in ("RepetitionTime", "FlipAngle", "EchoTrainLength", "SliceThickness",
                    "SpacingBetweenSlices", "ScanningSequence", "SequenceVariant", "ScanOptions",
                    "SequenceName", "NumberOfAverages", "ImagingFrequency"):  # fmt: skip
        if keyword in ds:
            delattr(ds, keyword)
    ds.SOPClassUID = EnhancedMRImageStorage
    ds.SOPInstanceUID = uid("enhanced", base.SeriesNumber)
    ds.file_meta = _file_meta(EnhancedMRImageStorage, ds.SOPInstanceUID, transfer_syntax)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "T2", "NONE"]
    ds.InstanceNumber = 1
    ds.PulseSequenceName = f"SE2D{n_e}"
    ds.EchoPulseSequence = "SPIN"
    ds.MultipleSpinEcho = "YES"
    ds.AcquisitionContrast = "T2"
    ds.ComplexImageComponent = "MAGNITUDE"
    ds.ContentQualification = "PRODUCT"
    ds.AcquisitionDateTime = base.AcquisitionDate + base.AcquisitionTime
    ds.NumberOfFrames = n_k * n_e

    measures = Dataset()
    measures.PixelSpacing = geometry.pixel_spacing
    measures.SliceThickness = float(
        series.meta.get("slice_thickness_mm", np.linalg.norm(series.affine[:3, 2]))
    )
    measures.SpacingBetweenSlices = float(np.linalg.norm(series.affine[:3, 2]))
    orientation = Dataset()
    orientation.ImageOrientationPatient = geometry.orientation
    timing = Dataset()
    timing.RepetitionTime = float(series.meta.get("repetition_time_ms", 2000.0))
    timing.FlipAngle = float(base.FlipAngle)
    timing.EchoTrainLength = n_e
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.MRTimingAndRelatedParametersSequence = Sequence([timing])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])

    dim_uid = uid("dimensions")
    dims = []
    for pointer, group in ((0x00209057, 0x00209111), (0x00189082, 0x00189114)):
        d = Dataset()
        d.DimensionOrganizationUID = dim_uid
        d.DimensionIndexPointer = pointer
        d.FunctionalGroupPointer = group
        dims.append(d)
    ds.DimensionIndexSequence = Sequence(dims)
    org = Dataset()
    org.DimensionOrganizationUID = dim_uid
    ds.DimensionOrganizationSequence = Sequence([org])

    frames = []
    pixels = np.empty((n_k * n_e, n_j, n_i), dtype=np.uint16)
    for f, (k, e) in enumerate((k, e) for k in range(n_k) for e in range(n_e)):
        frame = Dataset()
        content = Dataset()
        content.StackID = "1"
        content.InStackPositionNumber = k + 1
        content.DimensionIndexValues = [k + 1, e + 1]
        frame.FrameContentSequence = Sequence([content])
        position = Dataset()
        position.ImagePositionPatient = geometry.position(k)
        frame.PlanePositionSequence = Sequence([position])
        echo = Dataset()
        echo.EffectiveEchoTime = float(series.echo_times_ms[e])
        frame.MREchoSequence = Sequence([echo])
        transform = Dataset()
        transform.RescaleIntercept = 0.0
        transform.RescaleSlope = float(slopes[e])
        transform.RescaleType = "normalized" if vendor == "philips" else "US"
        frame.PixelValueTransformationSequence = Sequence([transform])
        frames.append(frame)
        pixels[f] = stored[:, :, k, e].T
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    path = folder / f"{_file_name(vendor, int(base.SeriesNumber), 1)}_enhanced.dcm"
    _save(ds, path, pixels, transfer_syntax)
    return [path]
