"""Acquisition metadata of a DICOM series (never patient-identifying fields)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from discT2.errors import DicomSeriesError
from discT2.io.dicom.frames import Frame, quiet_pydicom
from discT2.io.dicom.grouping import Candidate, _first_time, _parse_date, _parse_time
from discT2.io.nifti import vendor_name

__all__ = ["series_meta"]

logger = logging.getLogger(__name__)

_ASCCONV = re.compile(rb"### ASCCONV BEGIN.*?### ASCCONV END ###", re.S)
_REFOCUSING = re.compile(rb"^adFlipAngleDegree\[0\]\s*=\s*([-+0-9.eE]+)", re.M)


def series_meta(candidate: Candidate, root: Path) -> dict[str, Any]:
    """Metadata keys of :data:`discT2.series.META_KEYS` that the DICOM headers give."""
    grid = candidate.grid
    assert grid is not None  # only called for complete grids
    first: Frame = grid[0, 0]
    info = candidate.info
    notes = list(info.notes)
    with quiet_pydicom():
        try:
            ds = pydicom.dcmread(first.path, stop_before_pixels=True, force=True)
            meta = _header_meta(ds, first)
            when = _when(grid, ds, notes)
        except Exception as exc:  # a corrupt value (e.g. an unknown VR) in a field read here
            raise DicomSeriesError(
                f"{first.path}: unreadable header field ({type(exc).__name__}: {exc})"
            ) from exc
    meta.update(
        source=str(root),
        format="dicom-enhanced" if first.enhanced else "dicom",
        series_description=info.description,
        series_number=info.number,
        series_instance_uid=info.uid,
        n_files=info.n_files,
    )
    if info.merged_from:
        meta["merged_series"] = list(info.merged_from)
        meta["merged_series_uids"] = list(info.part_uids)
    meta.update(when)
    spacing = first.pixel_spacing
    if spacing is not None:
        meta["pixel_spacing_mm"] = [float(spacing[1]), float(spacing[0])]
    if first.slice_thickness_mm is not None:
        meta["slice_thickness_mm"] = float(first.slice_thickness_mm)
    if grid.shape[0] > 1 and candidate.affine is not None:
        meta["slice_spacing_mm"] = float(np.linalg.norm(candidate.affine[:3, 2]))
        if "slice_thickness_mm" in meta:
            meta["slice_gap_mm"] = round(meta["slice_spacing_mm"] - meta["slice_thickness_mm"], 6)
    frames = list(grid.ravel())
    scale = _per_echo(grid, "philips_scale_slope", default=None)
    if scale is not None:
        meta["philips_scale_slope"] = scale
    slope = _per_echo(grid, "rescale_slope", default=1.0)
    if slope is not None:
        meta["rescale_slope"] = slope
    rescale_types = sorted({f.rescale_type for f in frames if f.rescale_type})
    if rescale_types:
        meta["rescale_type"] = rescale_types[0] if len(rescale_types) == 1 else rescale_types
    meta["notes"] = notes
    return {k: v for k, v in meta.items() if v is not None}


def _per_echo(grid: np.ndarray, attribute: str, default: float | None) -> Any:
    """One value if every image agrees, else one entry per echo (a list if slices differ).

    None when no image has the attribute; images without it count as ``default``.
    """
    values = [[getattr(f, attribute) for f in grid[:, e]] for e in range(grid.shape[1])]
    if all(v is None for row in values for v in row):
        return None
    per_echo: list[Any] = []
    for row in values:
        found = sorted({round(float(default if v is None else v), 9) for v in row
                        if v is not None or default is not None})  # fmt: skip
        per_echo.append(None if not found else found[0] if len(found) == 1 else found)
    distinct = {repr(v) for v in per_echo}
    return per_echo[0] if len(distinct) == 1 else per_echo


def _header_meta(ds: Dataset, first: Frame) -> dict[str, Any]:
    shared = ds.get("SharedFunctionalGroupsSequence")
    shared_item = shared[0] if shared else Dataset()
    timing = _sub(shared_item, "MRTimingAndRelatedParametersSequence") or ds
    manufacturer = str(ds.get("Manufacturer", "") or "").strip()
    vendor = vendor_name(manufacturer) if manufacturer else None
    software = ds.get("SoftwareVersions")
    if software is not None and not isinstance(software, str):
        software = " / ".join(str(v) for v in software)
    flip = _num(timing.get("FlipAngle") or ds.get("FlipAngle"))
    meta: dict[str, Any] = {
        "vendor": vendor,
        "manufacturer": manufacturer or None,
        "model": _text(ds.get("ManufacturerModelName")),
        "software_versions": _text(software),
        "field_strength_t": _num(ds.get("MagneticFieldStrength")),
        "repetition_time_ms": _num(timing.get("RepetitionTime") or ds.get("RepetitionTime")),
        "echo_train_length": _int(timing.get("EchoTrainLength") or ds.get("EchoTrainLength")),
        "sequence_name": _text(ds.get("SequenceName")) or _text(ds.get("PulseSequenceName")),
        "study_instance_uid": _text(ds.get("StudyInstanceUID")),
        "frame_of_reference_uid": _text(ds.get("FrameOfReferenceUID")),
        "patient_position": _text(ds.get("PatientPosition")),
        # 2-D (slice-selective, so a slice profile) or 3-D; the EPG fit models the profile
        "acquisition_type": _text(ds.get("MRAcquisitionType")),
    }
    spin_echo = "SE" in _values(ds.get("ScanningSequence")) or (
        str(ds.get("EchoPulseSequence", "")).upper() == "SPIN"
    )
    if vendor == "siemens" and spin_echo:
        # Siemens spin-echo sequences report the refocusing angle as FlipAngle (the excitation
        # is 90 degrees); the protocol (ASCCONV adFlipAngleDegree[0]) confirms it.
        protocol_angle = _siemens_protocol_flip(ds)
        meta["refocusing_angle_deg"] = flip if flip is not None else protocol_angle
        if meta["refocusing_angle_deg"] is not None:
            meta["refocusing_angle_source"] = (
                "Siemens FlipAngle (0018,1314) of a spin-echo sequence"
                if flip is not None
                else "Siemens protocol adFlipAngleDegree[0]"
            )
    else:
        meta["excitation_angle_deg"] = flip
    return meta


def _siemens_protocol_flip(ds: Dataset) -> float | None:
    try:
        raw = ds.get_private_item(0x0029, 0x20, "SIEMENS CSA HEADER").value
    except (KeyError, ValueError):
        return None
    if not isinstance(raw, bytes):
        return None
    block = _ASCCONV.search(raw)
    match = _REFOCUSING.search(block.group(0)) if block else None
    return float(match.group(1)) if match else None


def _when(grid: np.ndarray, ds: Dataset, notes: list[str]) -> dict[str, Any]:
    """Acquisition date and time of day; placeholders of anonymised data are left out."""
    out: dict[str, Any] = {}
    frames = list(grid.ravel())
    raw_dates = [f.acquisition_date for f in frames if f.acquisition_date] + [
        str(ds.get(k)) for k in ("ContentDate", "SeriesDate", "StudyDate") if ds.get(k)
    ]
    date = next((d for d in (_parse_date(r) for r in raw_dates) if d is not None), None)
    time = _first_time(frames)
    if time is None:
        series_time = _parse_time(str(ds.get("SeriesTime", "") or ""))
        if series_time is not None:
            t = int(series_time)
            time = f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"
    if date is not None:
        out["acquisition_date"] = date.strftime("%Y-%m-%d")
    elif raw_dates:
        notes.append(
            f"acquisition date {raw_dates[0]!r} is not a real date (anonymised data?); left out"
        )
    if time is not None:
        if date is None and time == "00:00:00":
            notes.append(
                "acquisition time 00:00:00 without a valid date is a placeholder; left out"
            )
        else:
            out["acquisition_time"] = time
    return out


def _sub(item: Dataset, keyword: str) -> Dataset | None:
    seq = item.get(keyword)
    return seq[0] if seq else None


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip().upper() for v in value.split("\\")]
    return [str(v).strip().upper() for v in value]


def _num(value: Any) -> float | None:
    try:
        out = float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return out if out is None or np.isfinite(out) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return None if number is None else int(number)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
