"""An anatomical image: one sagittal image per slice (a single-echo T2-weighted series).

A site's routine T2-weighted series has one echo, so it cannot be fitted, but it is the image
readers grade (Pfirrmann) and measure disc height on. :func:`load_anatomical` reads it from a
DICOM folder or a 3-D NIfTI as an :class:`AnatomicalImage`, which :func:`discT2.place_rois`
accepts wherever it needs only the grid (discs given by corners or outline), so discs, ROIs and
the disc height index can be made from it; only the T2 fit needs several echoes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from discT2.errors import DicomSeriesError, InputError

__all__ = ["AnatomicalImage", "load_anatomical"]

logger = logging.getLogger(__name__)


@dataclass
class AnatomicalImage:
    """A 3-D image (one value per voxel) on a voxel-to-RAS grid.

    Attributes
    ----------
    data : ndarray, shape (I, J, K), float32
        The image values (scanner units, not T2).
    affine : ndarray, shape (4, 4)
        Voxel index to RAS mm.
    meta : dict
        Series description, number, UID, vendor, echo time, ``source`` (no patient fields).
    """

    data: np.ndarray
    affine: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        self.affine = np.asarray(self.affine, dtype=float)
        if self.data.ndim != 3:
            raise InputError(f"an anatomical image is 3-D; got shape {self.data.shape}")
        if self.affine.shape != (4, 4):
            raise InputError(f"affine must be 4x4; got {self.affine.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape (I, J, K)."""
        return tuple(int(n) for n in self.data.shape)  # type: ignore[return-value]

    def __repr__(self) -> str:
        te = self.meta.get("echo_time_ms")
        te_text = f", TE {te:g} ms" if isinstance(te, (int, float)) else ""
        return f"AnatomicalImage(shape={self.shape}{te_text})"


def load_anatomical(path: str | os.PathLike, series: int | str | None = None) -> AnatomicalImage:
    """Read a single-echo series (DICOM folder or files) or a 3-D NIfTI as an anatomical image.

    Parameters
    ----------
    path : path-like
        A DICOM folder or file, or a 3-D NIfTI file.
    series : int or str, optional
        Which single-echo DICOM series when there are several (SeriesNumber, UID or
        description); without it, the one sagittal single-echo series.

    Returns
    -------
    AnatomicalImage
        The image, its affine and metadata.

    Raises
    ------
    InputError
        A missing path, or a NIfTI that is not 3-D.
    DicomSeriesError
        No single-echo series, or several and no choice (the message lists them).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    from discT2.io.nifti import is_nifti, load_map

    if p.is_file() and is_nifti(p):
        data, affine = load_map(p)
        if data.ndim != 3:
            raise InputError(f"{p}: an anatomical image must be a 3-D NIfTI; got {data.shape}")
        return AnatomicalImage(data, affine, {"source": str(p)})
    return _load_dicom(p, series)


def _load_dicom(path: Path, series: int | str | None) -> AnatomicalImage:
    from discT2.io.dicom.grouping import DicomScan, scan_dicom, select_candidate
    from discT2.io.dicom.meta import series_meta
    from discT2.io.dicom.pixels import read_images, rescaler

    scan = scan_dicom(path)
    singles = [c for c in scan.singles if c.grid is not None and c.affine is not None]
    if not singles:
        others = (
            f" ({len(scan.candidates)} multi-echo series: read those with load_series)"
            if scan.candidates
            else ""
        )
        raise DicomSeriesError(
            f"{scan.root}: no single-echo series with complete geometry found{others}"
        )
    pool = DicomScan(scan.root, singles, scan.skipped, scan.notes, scan.n_files)
    if series is None and len(singles) > 1:
        sagittal = [c for c in singles if _is_sagittal(c.affine)]
        if len(sagittal) == 1:
            singles = sagittal
            pool = DicomScan(scan.root, singles, scan.skipped, scan.notes, scan.n_files)
    candidate = select_candidate(pool, series, kind=singles[0].info.kind)
    assert candidate.grid is not None and candidate.affine is not None
    convert, representation = rescaler(candidate.grid, "rescaled", scan.root)
    values = read_images(candidate.grid, scan.root, convert)[..., 0]
    meta = series_meta(candidate, scan.root)
    meta["intensity"] = representation
    meta["source"] = str(scan.root)
    te = np.asarray(candidate.echo_times_ms, float)
    if te.size:
        meta["echo_time_ms"] = float(te[0])
    image = AnatomicalImage(values, candidate.affine.copy(), meta)
    logger.info("%s: read %r (%s)", scan.root, image, candidate.info.label)
    return image


def _is_sagittal(affine: np.ndarray) -> bool:
    normal = np.cross(affine[:3, 0], affine[:3, 1])
    normal = normal / max(np.linalg.norm(normal), 1e-12)
    return bool(abs(normal[0]) > 0.8)
