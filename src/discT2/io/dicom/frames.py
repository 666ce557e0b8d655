"""One record per 2-D image ("frame") read from DICOM headers, classic or enhanced multi-frame.

Reading is lenient: a malformed value becomes ``None`` (logged), and only the attributes the
loader needs are kept. Classification into echoes, maps and images to skip happens here, from
ImageType / FrameType, ComplexImageComponent and vendor private tags.
"""

from __future__ import annotations

import logging
import re
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from discT2.io.nifti import vendor_name

__all__ = ["Frame", "SkipFile", "quiet_pydicom", "read_frames"]

logger = logging.getLogger(__name__)

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
LEGACY_ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.4"
PARAMETRIC_MAP = "1.2.840.10008.5.1.4.1.1.30"
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
ENHANCED_CLASSES = (ENHANCED_MR, LEGACY_ENHANCED_MR, PARAMETRIC_MAP)

#: ImageType / FrameType values (from the third on) that mark non-magnitude images.
_COMPLEX_TOKENS = {"P", "PHASE", "R", "REAL", "I", "IMAGINARY", "MIXED"}
#: Values that mark derived images that are neither echoes nor T2 maps.
_DERIVED_TOKENS = {
    "MPR", "MIP", "MINIP", "PROJECTION IMAGE", "SUBTRACTION", "REFORMATTED", "COLLAPSE", "ADC",
    "TRACEW", "FA", "MOCO", "CPR", "CURVED",
}  # fmt: skip
_GE_COMPLEX = {1: "phase", 2: "real", 3: "imaginary"}
#: A derived series described as a T2 map (when ImageType does not say MAP).
_T2_MAP_DESCRIPTION = re.compile(r"\bT2[ _-]?MAP")


class SkipFile(Exception):
    """The file is not an MR image this loader can use; ``reason`` says why (one short phrase)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Frame:
    """What the loader needs to know about one 2-D image, without its pixels.

    Geometry is in DICOM patient coordinates (LPS, mm). ``role`` is ``'echo'`` (a magnitude image
    that may be one echo of a series), ``'map'`` (a scanner-computed T2/R2 map) or the reason the
    image is skipped (``'localizer'``, ``'phase/real/imaginary'``, ``'derived'``, ``'other map'``).
    """

    path: Path
    index: int | None  # 0-based frame of an enhanced object; None for a classic file
    sop_instance_uid: str
    sop_class_uid: str
    study_uid: str
    series_uid: str
    series_number: int | None
    description: str
    frame_of_reference_uid: str
    manufacturer: str
    role: str
    map_type: str | None
    image_type: tuple[str, ...]
    echo_time_ms: float | None
    echo_number: int | None
    rows: int
    columns: int
    orientation: tuple[float, ...] | None  # ImageOrientationPatient, 6 values
    position: tuple[float, float, float] | None  # ImagePositionPatient
    pixel_spacing: tuple[float, float] | None  # (between rows, between columns)
    slice_thickness_mm: float | None
    rescale_slope: float | None
    rescale_intercept: float | None
    rescale_type: str | None
    philips_scale_slope: float | None
    real_world: tuple[float, float, str] | None  # slope, intercept, units code value
    acquisition_date: str | None  # raw DA
    acquisition_time: str | None  # raw TM
    instance_number: int | None
    repetition_time_ms: float | None
    protocol: tuple[Any, ...]  # acquisition signature for merging split series
    transfer_syntax: str
    samples_per_pixel: int

    @property
    def enhanced(self) -> bool:
        return self.index is not None

    @property
    def key(self) -> tuple[Any, ...]:
        """Identity for de-duplication: SOP instance, frame, series, image type, position, TE.

        Copies of a file share all of them; images that share a SOPInstanceUID but differ in the
        rest (broken UIDs, an edited copy) stay distinct.
        """
        position = None if self.position is None else tuple(round(v, 3) for v in self.position)
        echo = None if self.echo_time_ms is None else round(self.echo_time_ms, 3)
        uid = self.sop_instance_uid or str(self.path)
        frame = -1 if self.index is None else self.index
        return (uid, frame, self.series_uid, self.image_type, position, echo)

    def label(self, root: Path | None = None) -> str:
        """Short human name: the file (relative to ``root``) and frame number."""
        name = str(self.path)
        if root is not None:
            with suppress(ValueError):
                name = str(self.path.relative_to(root)) if root.is_dir() else self.path.name
        return name if self.index is None else f"{name} (frame {self.index + 1})"


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Turn pydicom's warnings about malformed values into debug log lines (lenient reading)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        logger.debug("pydicom: %s", w.message)


def read_frames(path: Path) -> list[Frame]:
    """Read the header of one file and return its frames.

    Raises
    ------
    SkipFile
        Not DICOM, a DICOMDIR, not an MR image, or no usable header; the reason is a short phrase
        that the caller counts.
    """
    if path.name.upper() == "DICOMDIR":
        raise SkipFile("DICOMDIR")
    if not _looks_like_dicom(path):
        raise SkipFile("not DICOM")
    with quiet_pydicom():
        # lenient reading: any failure on a broken or foreign file only skips that file
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except Exception as exc:  # pydicom raises many types for broken files
            raise SkipFile("unreadable header", f"{type(exc).__name__}: {exc}") from exc
        try:
            return _frames_of(ds, path)
        except SkipFile:
            raise
        except Exception as exc:  # malformed values (e.g. Rows that is not a number)
            raise SkipFile("unreadable header", f"{type(exc).__name__}: {exc}") from exc


def _looks_like_dicom(path: Path) -> bool:
    """A Part-10 preamble, or a bare dataset starting with a group 0002/0008 tag."""
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08"):
        return True
    return len(head) >= 8 and path.suffix.lower() in (".dcm", ".dicom", ".ima")


def _frames_of(ds: Dataset, path: Path) -> list[Frame]:
    meta = getattr(ds, "file_meta", None)
    sop_class = str(ds.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta
                                                  else ""))  # fmt: skip
    if sop_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        raise SkipFile("DICOMDIR")
    if sop_class.startswith(SECONDARY_CAPTURE_PREFIX):
        raise SkipFile("secondary capture (not quantitative)")
    if sop_class and sop_class not in (MR_IMAGE, *ENHANCED_CLASSES):
        raise SkipFile("not an MR image", f"SOP class {sop_class}")
    if not sop_class and (str(ds.get("Modality", "")) != "MR" or "Rows" not in ds):
        raise SkipFile("not an MR image", "no SOP class, not modality MR")
    if "Rows" not in ds or "Columns" not in ds:
        raise SkipFile("not an MR image", "no Rows/Columns")
    transfer_syntax = str(meta.get("TransferSyntaxUID", "")) if meta else ""
    common = _common(ds, path, sop_class, transfer_syntax)
    if sop_class in ENHANCED_CLASSES or "PerFrameFunctionalGroupsSequence" in ds:
        return _enhanced_frames(ds, common)
    return [_classic_frame(ds, common)]


def _common(ds: Dataset, path: Path, sop_class: str, transfer_syntax: str) -> dict[str, Any]:
    return {
        "path": path,
        "sop_instance_uid": str(ds.get("SOPInstanceUID", "") or ""),
        "sop_class_uid": sop_class,
        "study_uid": str(ds.get("StudyInstanceUID", "") or ""),
        "series_uid": str(ds.get("SeriesInstanceUID", "") or ""),
        "series_number": _int(ds.get("SeriesNumber")),
        "description": str(ds.get("SeriesDescription", "") or "").strip(),
        "frame_of_reference_uid": str(ds.get("FrameOfReferenceUID", "") or ""),
        "manufacturer": str(ds.get("Manufacturer", "") or "").strip(),
        "rows": int(ds.Rows),
        "columns": int(ds.Columns),
        "instance_number": _int(ds.get("InstanceNumber")),
        "transfer_syntax": transfer_syntax,
        "samples_per_pixel": _int(ds.get("SamplesPerPixel")) or 1,
    }


def _classic_frame(ds: Dataset, common: dict[str, Any]) -> Frame:
    image_type = _strings(ds.get("ImageType"))
    vendor = vendor_name(common["manufacturer"])
    role, map_type = _classify(
        image_type,
        complex_component=str(ds.get("ComplexImageComponent", "") or ""),
        ge_complex=_ge_complex(ds) if vendor == "ge" else None,
        ge_localizer=_ge_localizer(ds) if vendor == "ge" else False,
        sop_class=common["sop_class_uid"],
        description=common["description"],
    )
    philips_rescale: tuple[float | None, float | None] = (None, None)
    if vendor == "philips" and "RescaleSlope" not in ds:
        philips_rescale = _philips_private_rescale(ds)
    echo_number = _int(_first(ds.get("EchoNumbers")))
    if echo_number is None and vendor == "siemens":
        echo_number = _siemens_ice_echo(ds)
    return Frame(
        **common,
        index=None,
        role=role,
        map_type=map_type,
        image_type=image_type,
        echo_time_ms=_float(ds.get("EchoTime")),
        echo_number=echo_number,
        orientation=_orientation(ds.get("ImageOrientationPatient")),
        position=_floats(ds.get("ImagePositionPatient"), 3),  # type: ignore[arg-type]
        pixel_spacing=_spacing(ds.get("PixelSpacing")),
        slice_thickness_mm=_float(ds.get("SliceThickness")),
        rescale_slope=_either(_float(ds.get("RescaleSlope")), philips_rescale[0]),
        rescale_intercept=_either(_float(ds.get("RescaleIntercept")), philips_rescale[1]),
        rescale_type=_str_or_none(ds.get("RescaleType")),
        philips_scale_slope=_philips_scale_slope(ds) if vendor == "philips" else None,
        real_world=_real_world(ds),
        acquisition_date=_str_or_none(ds.get("AcquisitionDate")),
        acquisition_time=_str_or_none(ds.get("AcquisitionTime")),
        repetition_time_ms=_float(ds.get("RepetitionTime")),
        protocol=_protocol(ds, ds),
    )


def _enhanced_frames(ds: Dataset, common: dict[str, Any]) -> list[Frame]:
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    shared_seq = ds.get("SharedFunctionalGroupsSequence") or []
    shared = shared_seq[0] if len(shared_seq) else Dataset()
    n_frames = _int(ds.get("NumberOfFrames")) or len(per_frame) or 1
    if per_frame and len(per_frame) != n_frames:
        raise SkipFile(
            "unreadable header",
            f"NumberOfFrames {n_frames} but {len(per_frame)} per-frame functional groups",
        )
    top_type = _strings(ds.get("ImageType"))
    vendor = vendor_name(common["manufacturer"])
    timing = _group(None, shared, "MRTimingAndRelatedParametersSequence") or ds
    acq_dt = _str_or_none(ds.get("AcquisitionDateTime"))
    frames = []
    for f in range(n_frames):
        item = per_frame[f] if per_frame else None
        frame_type_item = _group(item, shared, "MRImageFrameTypeSequence")
        frame_type = _strings(frame_type_item.get("FrameType")) if frame_type_item else ()
        complex_component = str(
            (frame_type_item.get("ComplexImageComponent") if frame_type_item else None)
            or ds.get("ComplexImageComponent", "")
            or ""
        )
        image_type = frame_type or top_type
        role, map_type = _classify(
            image_type,
            complex_component=complex_component,
            ge_complex=None,
            ge_localizer=False,
            sop_class=common["sop_class_uid"],
            description=common["description"],
        )
        echo = _group(item, shared, "MREchoSequence")
        plane_pos = _group(item, shared, "PlanePositionSequence")
        plane_ori = _group(item, shared, "PlaneOrientationSequence")
        measures = _group(item, shared, "PixelMeasuresSequence")
        transform = _group(item, shared, "PixelValueTransformationSequence")
        content = _group(item, None, "FrameContentSequence")
        frame_timing = _group(item, shared, "MRTimingAndRelatedParametersSequence") or timing
        frame_dt = _str_or_none(content.get("FrameAcquisitionDateTime")) if content else None
        when = frame_dt or acq_dt
        frames.append(
            Frame(
                **common,
                index=f,
                role=role,
                map_type=map_type,
                image_type=image_type,
                echo_time_ms=_float(_attr("EffectiveEchoTime", echo) or _attr("EchoTime", ds)),
                echo_number=_int(_first(ds.get("EchoNumbers"))),
                orientation=_orientation(_attr("ImageOrientationPatient", plane_ori, ds)),
                position=_floats(_attr("ImagePositionPatient", plane_pos, ds), 3),  # type: ignore[arg-type]
                pixel_spacing=_spacing(_attr("PixelSpacing", measures, ds)),
                slice_thickness_mm=_float(_attr("SliceThickness", measures, ds)),
                rescale_slope=_float(_attr("RescaleSlope", transform, ds)),
                rescale_intercept=_float(_attr("RescaleIntercept", transform, ds)),
                rescale_type=_str_or_none(_attr("RescaleType", transform, ds)),
                philips_scale_slope=(
                    _philips_frame_scale_slope(item, ds) if vendor == "philips" else None
                ),
                real_world=_real_world(item) or _real_world(shared) or _real_world(ds),
                acquisition_date=when[:8] if when else _str_or_none(ds.get("AcquisitionDate")),
                acquisition_time=(
                    when[8:] if when and len(when) > 8 else _str_or_none(ds.get("AcquisitionTime"))
                ),
                repetition_time_ms=_float(frame_timing.get("RepetitionTime")),
                protocol=_protocol(ds, frame_timing),
            )
        )
    return frames


def _group(item: Dataset | None, shared: Dataset | None, keyword: str) -> Dataset | None:
    """A functional group macro: the per-frame item's, else the shared one's."""
    for source in (item, shared):
        if source is not None and keyword in source:
            seq = source[keyword].value
            if seq:
                return seq[0]
    return None


def _attr(keyword: str, *sources: Dataset | None) -> Any:
    """The first value of ``keyword`` found in ``sources`` (per-frame, shared, top level)."""
    for source in sources:
        if source is not None:
            value = source.get(keyword)
            if value is not None and value != "":
                return value
    return None


def _classify(
    image_type: tuple[str, ...],
    *,
    complex_component: str,
    ge_complex: int | None,
    ge_localizer: bool,
    sop_class: str,
    description: str = "",
) -> tuple[str, str | None]:
    """Role of an image: 'echo', 'map' (a T2 map), or why it is skipped.

    A map is marked by an ImageType/FrameType value containing MAP (``T2 MAP``, ``T2_MAP``,
    ``T2MAP``, or ``MAP`` beside ``T2``), by the Parametric Map SOP class, or by a DERIVED image
    whose series is described as a T2 map. T2*, R2 and other maps are skipped.
    """
    tokens = [t.upper() for t in image_type]
    if "LOCALIZER" in tokens or ge_localizer:
        return "localizer", None
    map_tokens = [t for t in tokens if "MAP" in t]
    derived_t2 = (
        tokens[:1] == ["DERIVED"] and _T2_MAP_DESCRIPTION.search(description.upper()) is not None
    )
    if map_tokens or derived_t2:
        name = map_tokens[0].replace("_", " ") if map_tokens else "T2 MAP"
        name = "T2 MAP" if name.startswith("T2MAP") else name
        quantity = " ".join(tokens) + " " + name
        if re.search(r"\bT2\*|T2STAR|T2 STAR|R2\*|R2STAR", quantity):
            return "other map", name
        if re.search(r"\bT2\b|\bT2 ?MAP", quantity):
            return "map", name if "T2" in name else f"T2 {name}"
        return "other map", name
    if sop_class == PARAMETRIC_MAP:
        return "map", "PARAMETRIC MAP"
    if complex_component.upper() in ("PHASE", "REAL", "IMAGINARY", "MIXED"):
        return "phase/real/imaginary", None
    if ge_complex in _GE_COMPLEX:
        return "phase/real/imaginary", None
    for token in tokens[2:]:
        head = token.split("_")[0]
        if token in _COMPLEX_TOKENS or (head in ("P", "R", "I") and "_" in token):
            return "phase/real/imaginary", None
    if len(tokens) > 1 and tokens[0] == "DERIVED" and tokens[1] == "SECONDARY":
        return "derived", None
    if any(t in _DERIVED_TOKENS for t in tokens[2:]):
        return "derived", None
    return "echo", None


def _protocol(ds: Dataset, timing: Dataset) -> tuple[Any, ...]:
    """What must agree for two series to be parts of one acquisition."""

    def rnd(value: Any, digits: int) -> float | None:
        v = _float(value)
        return None if v is None else round(v, digits)

    return (
        rnd(timing.get("RepetitionTime"), 1),
        rnd(timing.get("FlipAngle"), 1),
        _str_or_none(ds.get("SequenceName")) or _str_or_none(ds.get("PulseSequenceName")),
        tuple(_strings(ds.get("ScanningSequence"))),
        _int(timing.get("EchoTrainLength")),
    )


# ---- vendor private tags (never required) ----------------------------------------------------


def _private(ds: Dataset, group: int, creator: str, offset: int) -> Any:
    try:
        return ds.get_private_item(group, offset, creator).value
    except (KeyError, ValueError):
        return None


def _philips_scale_slope(ds: Dataset) -> float | None:
    value = _private(ds, 0x2005, "Philips MR Imaging DD 001", 0x0E)
    if value is None and (0x2005, 0x100E) in ds:  # creator lost (anonymiser, implicit VR)
        value = ds[0x2005, 0x100E].value
    return _float_or_bytes(value)


def _philips_private_rescale(ds: Dataset) -> tuple[float | None, float | None]:
    """Philips private copies of RescaleSlope/Intercept (2005,140A)/(2005,1409)."""
    slope = _float_or_bytes(_private(ds, 0x2005, "Philips MR Imaging DD 005", 0x0A))
    intercept = _float_or_bytes(_private(ds, 0x2005, "Philips MR Imaging DD 005", 0x09))
    return slope, intercept


def _philips_frame_scale_slope(item: Dataset | None, ds: Dataset) -> float | None:
    """Enhanced Philips: the scale slope sits in the private per-frame sequence (2005,140F)."""
    if item is not None:
        seq = _private(item, 0x2005, "Philips MR Imaging DD 005", 0x0F)
        if seq:
            value = _philips_scale_slope(seq[0])
            if value is not None:
                return value
    return _philips_scale_slope(ds)


def _ge_complex(ds: Dataset) -> int | None:
    return _int(_first(_private(ds, 0x0043, "GEMS_PARM_01", 0x2F)))


def _ge_localizer(ds: Dataset) -> bool:
    return _int(_first(_private(ds, 0x0019, "GEMS_ACQU_01", 0x17))) == 256


def _siemens_ice_echo(ds: Dataset) -> int | None:
    """Echo number from Siemens XA ICE_Dims (0021,1106), e.g. 'X_4_1_1_1_1_160_1_...' → 4."""
    value = _private(ds, 0x0021, "SIEMENS MR SDI 02", 0x06)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    parts = str(value or "").split("_")
    return _int(parts[1]) if len(parts) > 2 else None


def _real_world(ds: Dataset | None) -> tuple[float, float, str] | None:
    """The Real World Value Mapping with time units if any (else the first), as (m, b, units)."""
    if ds is None or "RealWorldValueMappingSequence" not in ds:
        return None
    best = None
    for item in ds.RealWorldValueMappingSequence:
        slope = _float(item.get("RealWorldValueSlope"))
        intercept = _float(item.get("RealWorldValueIntercept"))
        units = ""
        codes = item.get("MeasurementUnitsCodeSequence")
        if codes:
            units = str(codes[0].get("CodeValue", "") or "")
        if slope is None:
            continue
        entry = (slope, intercept or 0.0, units)
        if units in ("ms", "s"):
            return entry
        best = best or entry
    return best


# ---- lenient value conversion --------------------------------------------------------------


def _either(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _first(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return value[0] if len(value) else None
    return value


def _float(value: Any) -> float | None:
    value = _first(value)
    if value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return _float_or_bytes(value)
    return out if out == out else None  # NaN -> None


def _float_or_bytes(value: Any) -> float | None:
    if isinstance(value, bytes):
        if len(value) == 4:
            return float(struct.unpack("<f", value)[0])
        if len(value) == 8:
            return float(struct.unpack("<d", value)[0])
        return None
    try:
        return None if value is None else float(_first(value))
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    value = _first(value)
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(out) != n or any(v != v for v in out):
        return None
    return out


def _orientation(value: Any) -> tuple[float, ...] | None:
    """ImageOrientationPatient if it holds two unit, orthogonal direction cosines, else None."""
    iop = _floats(value, 6)
    if iop is None:
        return None
    row, col = iop[:3], iop[3:]
    norms = [sum(v * v for v in row) ** 0.5, sum(v * v for v in col) ** 0.5]
    dot = sum(a * b for a, b in zip(row, col, strict=True))
    if any(abs(n - 1.0) > 0.01 for n in norms) or abs(dot) > 0.01:
        logger.debug("ignoring invalid ImageOrientationPatient %s", iop)
        return None
    return iop


def _spacing(value: Any) -> tuple[float, float] | None:
    """PixelSpacing if both values are positive, else None."""
    spacing = _floats(value, 2)
    if spacing is None or min(spacing) <= 0:
        return None
    return spacing  # type: ignore[return-value]


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split("\\")) if value else ()
    return tuple(str(v).strip() for v in value)


def _str_or_none(value: Any) -> str | None:
    value = _first(value)
    if value is None:
        return None
    text = str(value).strip()
    return text or None
