"""Read discT2's DICOM results back: Parametric Maps as arrays with units, the SEG as ROI labels."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from discT2.errors import InputError
from discT2.io.dicom.frames import PARAMETRIC_MAP, quiet_pydicom
from discT2.io.dicom.geometry import LPS_TO_RAS, slice_normal, stack_affine
from discT2.io.dicom.load import load_dicom_map
from discT2.maps import FitFlag, T2Map
from discT2.roi.levels import ROI_NAMES, label_value

__all__ = ["SEGMENTATION", "DicomResults", "read_dicom_results"]

SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"


@dataclass
class DicomResults:
    """What :func:`read_dicom_results` found.

    Attributes
    ----------
    maps : dict of str to ndarray
        :class:`~discT2.maps.T2Map` attribute (``t2_ms``, ``t2_sd_ms``, ``s0``) to its values,
        shape (I, J, K), on the grid of ``affine``.
    units : dict of str to str
        The UCUM unit of each map (``'ms'``, ``'1'``).
    labels : ndarray of uint8 or None
        The ROI labels of the Segmentation in ``rois.nii.gz`` numbering (``10 n + k``), from its
        five per-disc ROI segments (the pooled NP, AF and disc segments overlap them).
    affine : ndarray, shape (4, 4) or None
        Voxel to RAS mm.
    files : list of Path
        The objects read.
    """

    maps: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    labels: np.ndarray | None = None
    affine: np.ndarray | None = None
    files: list[Path] = field(default_factory=list)

    def t2map(self) -> T2Map | None:
        """The maps as a :class:`~discT2.maps.T2Map` (absent maps NaN), or None without T2."""
        if "t2_ms" not in self.maps or self.affine is None:
            return None
        t2 = self.maps["t2_ms"]
        nan = np.full(t2.shape, np.nan, np.float32)
        flags = np.where(np.isfinite(t2), 0, int(FitFlag.FAILED)).astype(np.uint16)
        return T2Map(
            t2_ms=t2,
            s0=self.maps.get("s0", nan),
            t2_sd_ms=self.maps.get("t2_sd_ms", nan),
            r2=nan,
            rmse=nan,
            flags=flags,
            affine=self.affine,
            provenance={"source": ", ".join(str(f) for f in self.files)},
        )


_LABEL_TO_ATTRIBUTE = {"T2": "t2_ms", "T2_SD": "t2_sd_ms", "S0": "s0"}


def read_dicom_results(path: str | os.PathLike) -> DicomResults:
    """Read the Parametric Maps and Segmentation that discT2 wrote (a folder or one file).

    Parameters
    ----------
    path : path-like
        A folder of ``*.pm.dcm`` / ``*.seg.dcm`` objects, or one of them.

    Returns
    -------
    DicomResults
        Maps, units, ROI labels and their grid.

    Raises
    ------
    InputError
        No discT2 Parametric Map or Segmentation at ``path``, or objects on different grids.
    """
    root = Path(path)
    files = sorted(root.glob("*.dcm")) if root.is_dir() else [root]
    out = DicomResults()
    headers = {}
    for file in files:
        with quiet_pydicom():
            headers[file] = pydicom.dcmread(file, stop_before_pixels=True, force=True)
    classes = {file: str(h.get("SOPClassUID", "")) for file, h in headers.items()}
    # maps first: they give the whole grid, on which the segmentation's frames are placed
    for file in [f for f in files if classes[f] == PARAMETRIC_MAP]:
        if _read_map(file, headers[file], out):
            out.files.append(file)
    for file in [f for f in files if classes[f] == SEGMENTATION]:
        _read_segmentation(file, out)
        out.files.append(file)
    if not out.files:
        raise InputError(f"{root}: no DICOM Parametric Map or Segmentation written by discT2")
    return out


def _set_grid(out: DicomResults, affine: np.ndarray, shape: tuple[int, ...], file: Path) -> None:
    if out.affine is None:
        out.affine = affine
        return
    reference = next(iter(out.maps.values()), out.labels)
    assert reference is not None
    if reference.shape != shape or not np.allclose(out.affine, affine, atol=1e-3):
        raise InputError(f"{file}: not on the grid of the other objects read with it")


def _read_map(file: Path, header: Dataset, out: DicomResults) -> bool:
    mapping = header.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    unit = str(mapping.MeasurementUnitsCodeSequence[0].CodeValue)
    label = str(mapping.get("LUTLabel", "")).strip()
    attribute = _LABEL_TO_ATTRIBUTE.get(label)
    if attribute is None:
        return False  # not a map discT2 wrote
    # the scanner-map reader applies the Real World Value Mapping (ms) or, unitless, slope 1
    values, affine, _ = load_dicom_map(file, scale_to_ms=None if unit in ("ms", "s") else 1.0)
    _set_grid(out, affine, values.shape, file)
    out.maps[attribute] = values
    out.units[attribute] = unit
    return True


def _read_segmentation(file: Path, out: DicomResults) -> None:
    """The five ROI segments as labels; frames without any ROI are not stored in the file.

    Frames go on the grid of the maps read with it, else on the span of the stored frames.
    """
    with quiet_pydicom():
        ds = pydicom.dcmread(file, force=True)
    frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    shared = ds.SharedFunctionalGroupsSequence[0]
    orientation = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    measures = shared.PixelMeasuresSequence[0]
    spacing = (float(measures.PixelSpacing[0]), float(measures.PixelSpacing[1]))
    per_frame = ds.PerFrameFunctionalGroupsSequence
    positions = np.array(
        [item.PlanePositionSequence[0].ImagePositionPatient for item in per_frame], float
    )
    if out.affine is not None:
        affine = out.affine
        shape = next(iter(out.maps.values())).shape
    else:
        step = float(measures.get("SpacingBetweenSlices") or measures.get("SliceThickness") or 1)
        along = positions @ slice_normal(orientation)
        first = positions[int(np.argmin(along))]
        n_planes = int(np.round((along.max() - along.min()) / step)) + 1
        planes = first + np.arange(n_planes)[:, None] * slice_normal(orientation) * step
        affine = stack_affine(orientation, spacing, planes, step)
        shape = (int(ds.Columns), int(ds.Rows), n_planes)
    origin = LPS_TO_RAS @ affine[:3, 3]
    step_lps = LPS_TO_RAS @ affine[:3, 2]
    slices = np.round((positions - origin) @ step_lps / (step_lps @ step_lps)).astype(int)
    if slices.min() < 0 or slices.max() >= shape[2]:
        raise InputError(f"{file}: frames outside the grid of the maps read with it")
    values: dict[int, int] = {}
    for item in ds.SegmentSequence:
        level, _, roi = str(item.SegmentLabel).partition(" ")
        if roi in ROI_NAMES:
            values[int(item.SegmentNumber)] = label_value(level, roi)
    labels = np.zeros(shape, np.uint8)
    for frame, item, k in zip(frames, per_frame, slices, strict=True):
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        if number in values:
            labels[:, :, k][frame.T.astype(bool)] = values[number]
    if out.affine is None:
        out.affine = affine
    out.labels = labels
