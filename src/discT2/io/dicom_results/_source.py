"""The source series of a result: its slices' geometry and references, with the chosen identity.

The results are written on the grid of the fitted series, slice ``k`` of a map being slice ``k``
of the series sorted along its normal (as :func:`discT2.io.dicom.load_dicom_series` sorts it).
The reference datasets built here hold only what the DICOM results need from the source: its
UIDs, geometry and (see :mod:`._identity`) identification; nothing else of the source's headers
reaches the outputs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from discT2.errors import DicomSeriesError, GeometryError, InputError
from discT2.io.dicom.frames import Frame, quiet_pydicom
from discT2.io.dicom.grouping import scan_dicom, select_candidate
from discT2.io.dicom_results._identity import check_identity, identification, source_uid

__all__ = ["SourceSeries", "read_source"]


@dataclass
class SourceSeries:
    """The slices of a source series as the DICOM results reference them.

    Attributes
    ----------
    root : Path
        Where the series was read.
    references : list of Dataset
        One reference dataset per source instance (per slice for classic images, one for an
        enhanced multi-frame object), carrying the results' identity.
    frames : list of Frame
        The first echo's image of each slice, in slice order.
    affine : ndarray, shape (4, 4)
        Voxel to RAS mm of the series.
    identity : str
        ``'deidentified'`` or ``'source'``.
    series_uid : str
        The source SeriesInstanceUID as the results carry it.
    """

    root: Path
    references: list[Dataset]
    frames: list[Frame]
    affine: np.ndarray
    identity: str
    series_uid: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape (I, J, K) = (columns, rows, slices)."""
        first = self.frames[0]
        return (first.columns, first.rows, len(self.frames))

    @property
    def pixel_spacing(self) -> tuple[float, float]:
        """PixelSpacing (between rows, between columns), mm."""
        spacing = self.frames[0].pixel_spacing
        assert spacing is not None  # the grid was built, so geometry is present
        return (float(spacing[0]), float(spacing[1]))

    @property
    def orientation(self) -> tuple[float, ...]:
        """ImageOrientationPatient of every slice."""
        iop = self.frames[0].orientation
        assert iop is not None
        return tuple(float(v) for v in iop)

    @property
    def positions(self) -> list[tuple[float, float, float]]:
        """ImagePositionPatient of each slice, in slice order."""
        return [tuple(float(v) for v in f.position) for f in self.frames]  # type: ignore[misc]

    @property
    def slice_spacing_mm(self) -> float:
        """Distance between slice centres (the slice thickness for a single slice)."""
        return float(np.linalg.norm(self.affine[:3, 2]))

    @property
    def slice_thickness_mm(self) -> float:
        """SliceThickness of the source (the slice spacing when it is not stated)."""
        thickness = self.frames[0].slice_thickness_mm
        return float(thickness) if thickness else self.slice_spacing_mm

    def check_grid(self, shape: Sequence[int], affine: np.ndarray, what: str) -> None:
        """Raise :class:`GeometryError` unless ``shape``/``affine`` are the source's grid.

        Parameters
        ----------
        shape : sequence of int
            Shape (I, J, K) of the result.
        affine : ndarray, shape (4, 4)
            Its voxel to RAS mm affine.
        what : str
            What the result is, for the message.
        """
        if tuple(shape) != self.shape or not np.allclose(affine, self.affine, atol=1e-3):
            raise GeometryError(
                f"{self.root}: {what} (shape {tuple(shape)}) is not on the grid of the source "
                f"series (shape {self.shape}); DICOM results need the series it was computed from"
            )


def read_source(
    path: str | os.PathLike,
    series: str | int | None = None,
    *,
    identity: str = "deidentified",
    pseudonym: str | None = None,
) -> SourceSeries:
    """Read the source series' headers and build the reference datasets of its slices.

    Parameters
    ----------
    path : path-like
        The DICOM folder or file(s) the series was loaded from.
    series : str or int, optional
        Which series when there are several (SeriesInstanceUID, number or description).
    identity : {'deidentified', 'source'}
        See :mod:`discT2.io.dicom_results`.
    pseudonym : str, optional
        Patient name and ID of de-identified results.

    Raises
    ------
    InputError
        ``path`` is not DICOM (a NIfTI-only exam has no DICOM to reference).
    DicomSeriesError
        No multi-echo series, or several and no choice.
    """
    check_identity(identity)
    root = Path(path)
    if not root.exists():
        raise InputError(f"{root}: no such file or folder (the DICOM source of the results)")
    if root.is_file() and root.name.lower().endswith((".nii", ".nii.gz")):
        raise InputError(
            f"{root}: DICOM results need a DICOM source series; this exam is NIfTI, which has "
            "no DICOM UIDs, frame of reference or patient module to reference"
        )
    scan = scan_dicom(root, merge=True)
    if not scan.candidates:
        raise InputError(
            f"{root}: no DICOM multi-echo series found; DICOM results need the DICOM series "
            "the maps were fitted to (a NIfTI-only exam cannot produce them)"
        )
    candidate = select_candidate(scan, series, kind="multi-echo")
    if candidate.grid is None or candidate.affine is None:
        raise DicomSeriesError(f"{root}: {candidate.info.label}: {candidate.info.problem}")
    frames: list[Frame] = list(candidate.grid[:, 0])
    with quiet_pydicom():
        header = pydicom.dcmread(frames[0].path, stop_before_pixels=True, force=True)
    ident = identification(header, identity, pseudonym)
    references: list[Dataset] = []
    seen: set[str] = set()
    for frame in frames:
        if frame.sop_instance_uid in seen:
            continue  # the slices of one enhanced object
        seen.add(frame.sop_instance_uid)
        reference = _reference(frame, ident, identity)
        if frame.enhanced:
            with quiet_pydicom():
                full = pydicom.dcmread(frame.path, stop_before_pixels=True, force=True)
            _copy_frame_geometry(full, reference)
        references.append(reference)
    return SourceSeries(
        root=root,
        references=references,
        frames=frames,
        affine=np.asarray(candidate.affine, dtype=float).copy(),
        identity=identity,
        series_uid=source_uid(frames[0].series_uid, identity),
    )


def _reference(frame: Frame, ident: Dataset, identity: str) -> Dataset:
    ds = Dataset()
    ds.update(ident)
    ds.SOPClassUID = frame.sop_class_uid
    ds.SOPInstanceUID = source_uid(frame.sop_instance_uid, identity)
    ds.StudyInstanceUID = source_uid(frame.study_uid, identity)
    ds.SeriesInstanceUID = source_uid(frame.series_uid, identity)
    ds.FrameOfReferenceUID = source_uid(frame.frame_of_reference_uid, identity)
    ds.Modality = "MR"
    ds.Rows = frame.rows
    ds.Columns = frame.columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelSpacing = [float(v) for v in frame.pixel_spacing]  # type: ignore[union-attr]
    ds.ImageOrientationPatient = [float(v) for v in frame.orientation]  # type: ignore[union-attr]
    if not frame.enhanced:
        ds.ImagePositionPatient = [float(v) for v in frame.position]  # type: ignore[union-attr]
    if frame.slice_thickness_mm:
        ds.SliceThickness = float(frame.slice_thickness_mm)
    return ds


_GEOMETRY_GROUPS = ("PlanePositionSequence", "PlaneOrientationSequence", "PixelMeasuresSequence")


def _copy_frame_geometry(full: Dataset, reference: Dataset) -> None:
    """The frame count and per-frame geometry of an enhanced object (nothing else of it)."""
    reference.NumberOfFrames = int(full.NumberOfFrames)
    for keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        items = []
        for item in full.get(keyword, []):
            copy = Dataset()
            for group in _GEOMETRY_GROUPS:
                if group in item:
                    setattr(copy, group, item[group].value)
            items.append(copy)
        setattr(reference, keyword, items)
