"""Public DICOM entry points: list the series under a path, load one as a MultiEchoSeries."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from discT2.errors import DicomSeriesError, InputError
from discT2.io.dicom.frames import Frame
from discT2.io.dicom.grouping import Candidate, DicomScan, scan_dicom, select_candidate
from discT2.io.dicom.info import SeriesInfo
from discT2.io.dicom.meta import series_meta
from discT2.io.dicom.pixels import read_images, rescaler
from discT2.series import MultiEchoSeries

__all__ = ["find_dicom_series", "load_dicom_map", "load_dicom_series"]

logger = logging.getLogger(__name__)

PathInput = str | os.PathLike | Sequence[str | os.PathLike]


def find_dicom_series(path: PathInput, *, merge: bool = True) -> list[SeriesInfo]:
    """List the multi-echo series and scanner T2 maps under ``path`` (see :func:`scan_dicom`).

    Series that cannot be loaded are listed too, with their ``problem``. Single-echo series,
    localizers, phase images and non-DICOM files are left out (logged, and counted by
    :func:`scan_dicom`).

    Parameters
    ----------
    path : str, path-like or sequence of them
        A folder (searched recursively), a DICOMDIR, one file, or a list of files or folders.
    merge : bool, optional
        Merge echoes split over several series of one acquisition (see :doc:`/reference/dicom`).
    """
    return scan_dicom(path, merge=merge).series


def load_dicom_series(
    path: PathInput,
    series: int | str | SeriesInfo | None = None,
    *,
    intensity: str = "rescaled",
    merge: bool = True,
) -> MultiEchoSeries:
    """Read one multi-echo series from DICOM files.

    Parameters
    ----------
    path : path-like or sequence of path-like
        A folder (searched recursively), a file (e.g. one enhanced multi-frame object), a
        DICOMDIR, or a list of files.
    series : int, str or SeriesInfo, optional
        Which series when there are several: SeriesNumber (int or digits), SeriesInstanceUID,
        SeriesDescription (case-insensitive exact match, else a unique substring) or an entry of
        :func:`find_dicom_series`. Needed only when more than one multi-echo series is found.
    intensity : {'rescaled', 'fp'}
        ``'rescaled'`` (default): each image's RescaleSlope/Intercept applied (the displayed
        values). ``'fp'``: Philips floating-point values (rescaled / (RescaleSlope x private
        ScaleSlope)). ``meta['intensity']`` says which was used.
    merge : bool
        Merge echoes of one acquisition split over several series (with a logged warning).

    Returns
    -------
    MultiEchoSeries
        ``data[i, j, k, e]`` is pixel ``(row j, column i)`` of slice ``k`` (sorted along the slice
        normal) at the ``e``-th shortest echo time; ``affine`` maps to RAS mm.

    Raises
    ------
    InputError
        The path does not exist or an option is invalid.
    DicomSeriesError
        No DICOM, no multi-echo series, several and no choice, or an incomplete slice x echo grid
        (subclasses :class:`~discT2.io.dicom.DicomEchoTimeError` for duplicate or single echo
        times and :class:`~discT2.io.dicom.DicomGeometryError` for missing geometry tags, mixed
        orientations or uneven slices).
    MissingDependencyError
        Compressed pixel data without an installed decoder.
    """
    scan = _scan(path, series, merge)
    candidate = select_candidate(scan, series, kind="multi-echo")
    if candidate.info.kind != "multi-echo":
        raise DicomSeriesError(
            f"{scan.root}: {candidate.info.label} is a scanner-computed T2 map, not echo images; "
            "read it with discT2.io.dicom.load_dicom_map()"
        )
    _raise_problem(candidate, scan)
    assert candidate.grid is not None and candidate.affine is not None
    convert, representation = rescaler(candidate.grid, intensity, scan.root)
    values = read_images(candidate.grid, scan.root, convert)
    meta = series_meta(candidate, scan.root)
    meta["intensity"] = representation
    meta["skipped_files"] = dict(sorted(scan.skipped.items()))
    if scan.skipped:
        meta["notes"].append(f"skipped while reading {scan.root}: {scan.skipped_text()}")
    try:
        out = MultiEchoSeries(values, candidate.echo_times_ms, candidate.affine, meta)
    except InputError as exc:
        raise type(exc)(f"{scan.root}: {candidate.info.label}: {exc}") from exc
    spacing = out.echo_spacing_ms
    if spacing is not None:
        out.meta["echo_spacing_ms"] = round(spacing, 6)
    logger.info("%s: read %r", scan.root, out)
    return out


def load_dicom_map(
    path: PathInput,
    series: int | str | SeriesInfo | None = None,
    *,
    scale_to_ms: float | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read a scanner-computed T2 map (ImageType ``T2 MAP`` or a Parametric Map) in ms.

    Units come from the Real World Value Mapping (units ``ms`` or ``s``), else from a
    RescaleType of ``MS``; otherwise ``scale_to_ms`` must say how rescaled values convert to ms.

    Parameters
    ----------
    path : str, path-like or sequence of them
        As for :func:`find_dicom_series`.
    series : int, str or SeriesInfo, optional
        Which map when there are several: SeriesNumber, SeriesInstanceUID, description or a
        :class:`SeriesInfo`.
    scale_to_ms : float, optional
        Factor from the rescaled values to ms when the files do not state the units.

    Returns
    -------
    t2_ms : ndarray, shape (I, J, K), float32
    affine : ndarray, shape (4, 4)
        Voxel to RAS mm.
    meta : dict
        Metadata as for :func:`load_dicom_series`, with ``units_source``.

    Raises
    ------
    DicomSeriesError
        No map, several and no choice, missing slices, or unknown units without ``scale_to_ms``.
    """
    scan = _scan(path, series, merge=False)
    candidate = select_candidate(scan, series, kind="map")
    if candidate.info.kind != "map":
        raise DicomSeriesError(f"{scan.root}: {candidate.info.label} is not a T2 map")
    _raise_problem(candidate, scan)
    assert candidate.grid is not None and candidate.affine is not None
    frames = list(candidate.grid[:, 0])
    units = {f.real_world[2] for f in frames if f.real_world}
    types = {(f.rescale_type or "").upper() for f in frames}
    if all(f.real_world for f in frames) and len(units) == 1 and units <= {"ms", "s"}:
        factor = 1000.0 if units == {"s"} else 1.0
        source = f"Real World Value Mapping in {units.pop()}"

        def convert(stored: np.ndarray, f: Frame) -> np.ndarray:
            slope, intercept, _ = f.real_world  # type: ignore[misc]
            return (stored * slope + intercept) * factor

    elif types == {"MS"} or scale_to_ms is not None:
        modality, _ = rescaler(candidate.grid, "rescaled", scan.root)
        factor = 1.0 if types == {"MS"} else float(scale_to_ms)  # type: ignore[arg-type]
        source = "RescaleType MS" if types == {"MS"} else f"user scale {scale_to_ms}"

        def convert(stored: np.ndarray, f: Frame) -> np.ndarray:
            return modality(stored, f) * factor

    else:
        raise DicomSeriesError(
            f"{scan.root}: {candidate.info.label}: the map's units are not stated (no Real "
            "World Value Mapping in ms or s, RescaleType not MS); pass scale_to_ms= (e.g. 1 "
            "if the rescaled values are ms, 0.1 for tenths of ms)"
        )
    values = read_images(candidate.grid, scan.root, convert)[..., 0]
    meta = series_meta(candidate, scan.root)
    meta["units_source"] = source
    meta["map_type"] = candidate.info.map_type
    return values, candidate.affine.copy(), meta


def _scan(path: PathInput, series: Any, merge: bool) -> DicomScan:
    if isinstance(series, SeriesInfo) and isinstance(path, (str, os.PathLike)):
        root = Path(path)
        if root.is_dir() and series.paths:
            scan = scan_dicom(list(series.paths), merge=merge)
            scan.root = root
            return scan
    return scan_dicom(path, merge=merge)


def _raise_problem(candidate: Candidate, scan: DicomScan) -> None:
    if candidate.info.problem is not None:
        skipped = f" (skipped while reading: {scan.skipped_text()})" if scan.skipped else ""
        raise candidate.error(
            f"{scan.root}: {candidate.info.label}: {candidate.info.problem}{skipped}"
        )
