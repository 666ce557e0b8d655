"""Readers and writers: DICOM and NIfTI.

:func:`load_series` reads a multi-echo series from whatever the user has: a DICOM folder, a list
of DICOM files, one enhanced multi-frame file, a 4-D NIfTI with its JSON sidecar, or one 3-D NIfTI
per echo with sidecars. :func:`find_series` lists what a path holds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from discT2.errors import DicomSeriesError, EchoTimeError, InputError
from discT2.io._checks import file_problem
from discT2.io.dicom import SeriesInfo, find_dicom_series, load_dicom_series
from discT2.io.nifti import (
    is_nifti,
    load_map,
    load_nifti_echoes,
    load_nifti_series,
    save_map,
    save_nifti_series,
    vendor_name,
)
from discT2.series import MultiEchoSeries

__all__ = [
    "SeriesInfo",
    "find_series",
    "is_nifti",
    "load_map",
    "load_nifti_echoes",
    "load_nifti_series",
    "load_series",
    "save_map",
    "save_nifti_series",
    "vendor_name",
]

PathInput = str | os.PathLike | Sequence[str | os.PathLike]


def load_series(
    path: PathInput,
    series: int | str | SeriesInfo | None = None,
    **options: Any,
) -> MultiEchoSeries:
    """Read a multi-echo magnitude series from DICOM or NIfTI.

    Parameters
    ----------
    path : path-like or sequence of path-like
        - a folder: searched recursively for DICOM (non-DICOM files and DICOMDIR are skipped with
          a note); a folder without DICOM is read as NIfTI (one 4-D file with its sidecar, or one
          3-D file per echo with sidecars);
        - a list of DICOM files, or a list of 3-D NIfTI files (one per echo);
        - one DICOM file (e.g. an enhanced multi-frame object) or a DICOMDIR;
        - one 4-D NIfTI (echoes last) with a BIDS-style JSON sidecar (``EchoTime`` in seconds).
    series : int, str or SeriesInfo, optional
        Which series when the DICOM input holds several multi-echo series: SeriesNumber,
        SeriesInstanceUID, SeriesDescription (case-insensitive exact, else unique substring), or
        an entry of :func:`find_series`. For a folder of 4-D NIfTI files, a file name.
    **options
        For DICOM: ``intensity`` (``'rescaled'`` default, or ``'fp'`` for Philips floating point)
        and ``merge`` (merge echoes split over series; default True). See
        :func:`discT2.io.dicom.load_dicom_series`.

    Returns
    -------
    MultiEchoSeries
        ``data`` (I, J, K, E) float32, ``echo_times_ms`` increasing, ``affine`` voxel to RAS mm,
        ``meta`` (see :data:`discT2.series.META_KEYS`).

    Raises
    ------
    InputError
        Missing path, unknown option, or input that does not make one multi-echo series; the
        subclasses (:class:`~discT2.errors.DicomSeriesError`, :class:`~discT2.errors.EchoTimeError`,
        :class:`~discT2.errors.GeometryError`, ...) name the file or folder and the problem.
    MissingDependencyError
        Compressed DICOM without an installed decoder (``pip install "discT2[compression]"``).

    Examples
    --------
    >>> import discT2
    >>> discT2.load_series("/no/such/folder")
    Traceback (most recent call last):
    ...
    discT2.errors.InputError: /no/such/folder: no such file or folder
    """
    unknown = set(options) - {"intensity", "merge"}
    if unknown:
        raise TypeError(f"load_series() got unknown options {sorted(unknown)}")
    if not isinstance(path, (str, os.PathLike)):
        files = [Path(p) for p in path]
        if files and all(is_nifti(f) for f in files):
            return load_nifti_echoes(files)
        if any(is_nifti(f) for f in files):
            raise InputError("a list mixing NIfTI and DICOM files; give one kind")
        return load_dicom_series(files, series, **options)
    p = Path(path)
    _check_path(p)
    if p.is_file() and is_nifti(p):
        return _load_nifti_file(p)
    if p.is_dir():
        try:
            return load_dicom_series(p, series, **options)
        except DicomSeriesError as exc:
            niftis = _nifti_files(p)
            if not niftis or "no DICOM MR images found" not in str(exc):
                raise
            return _load_nifti_folder(p, niftis, series)
    return load_dicom_series(p, series, **options)


def find_series(path: PathInput) -> list[SeriesInfo]:
    """List the multi-echo series (and scanner T2 maps) that ``path`` holds.

    For DICOM input, one :class:`SeriesInfo` per series of echo images (complete or not; see
    ``problem``) and per scanner-computed T2 map (``kind='map'``); echoes split over several
    series appear once, merged. Localizers, phase images, single-echo series and non-DICOM files
    are left out. For NIfTI input, one entry describing the file(s).

    Parameters
    ----------
    path : str, path-like or sequence of them
        A DICOM folder, DICOMDIR, file or list of files, or NIfTI file(s), as for
        :func:`load_series`.

    Raises
    ------
    InputError
        The path does not exist, or holds neither DICOM MR images nor NIfTI.
    """
    if isinstance(path, (str, os.PathLike)):
        p = Path(path)
        _check_path(p)
        if p.is_file() and is_nifti(p):
            return [_nifti_info(_load_nifti_file(p), [p])]
        if p.is_dir():
            try:
                return find_dicom_series(p)
            except DicomSeriesError as exc:
                niftis = _nifti_files(p)
                if not niftis or "no DICOM MR images found" not in str(exc):
                    raise
                return _find_nifti(p, niftis)
        return find_dicom_series(p)
    files = [Path(f) for f in path]
    if files and all(is_nifti(f) for f in files):
        return [_nifti_info(load_nifti_echoes(files), files)]
    return find_dicom_series(files)


def _check_path(p: Path) -> None:
    """A folder, or a regular file (a FIFO or device would block or stream forever)."""
    problem = None if p.is_dir() else file_problem(p)
    if problem is not None:
        raise InputError(f"{p}: {problem}")


# ---- NIfTI ---------------------------------------------------------------------------------


def _nifti_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and is_nifti(f))


def _ndim(path: Path) -> int:
    import nibabel as nib

    try:
        return len(nib.load(path).shape)
    except Exception as exc:  # nibabel raises many types for broken files
        raise InputError(f"{path}: not a readable NIfTI image ({exc})") from exc


def _has_sidecar(path: Path) -> bool:
    name = path.name
    stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else path.stem
    return path.with_name(stem + ".json").is_file()


def _load_nifti_file(path: Path) -> MultiEchoSeries:
    if _ndim(path) == 3:
        raise EchoTimeError(
            f"{path}: a 3-D NIfTI holds a single echo; give the list (or the folder) of the "
            "per-echo files, or a 4-D NIfTI with echoes last"
        )
    return load_nifti_series(path)


def _nifti_groups(niftis: list[Path]) -> tuple[list[Path], list[Path]]:
    """4-D files with sidecars, and 3-D files with sidecars."""
    with_sidecar = [f for f in niftis if _has_sidecar(f)]
    four = [f for f in with_sidecar if _ndim(f) == 4]
    three = [f for f in with_sidecar if f not in four]
    return four, three


def _load_nifti_folder(
    folder: Path, niftis: list[Path], series: int | str | SeriesInfo | None
) -> MultiEchoSeries:
    four, three = _nifti_groups(niftis)
    if four:
        if series is not None:
            name = str(series.description if isinstance(series, SeriesInfo) else series).lower()
            four = [f for f in four if f.name.lower() == name or name in f.name.lower()]
        if len(four) == 1:
            return load_nifti_series(four[0])
        listed = ", ".join(f.name for f in four) or "none"
        raise InputError(
            f"{folder}: {'several' if four else 'no'} 4-D NIfTI files with sidecars match "
            f"({listed}); choose one with series= (a file name) or give the file"
        )
    if len(three) >= 2:
        return load_nifti_echoes(three)
    raise InputError(
        f"{folder}: no DICOM, and no NIfTI with a JSON sidecar giving 'EchoTime' (found "
        f"{', '.join(f.name for f in niftis)})"
    )


def _find_nifti(folder: Path, niftis: list[Path]) -> list[SeriesInfo]:
    four, three = _nifti_groups(niftis)
    infos = [_nifti_info(load_nifti_series(f), [f]) for f in four]
    if not four and len(three) >= 2:
        infos.append(_nifti_info(load_nifti_echoes(three), three))
    if not infos:
        raise InputError(f"{folder}: no DICOM, and no NIfTI with a JSON sidecar giving 'EchoTime'")
    return infos


def _nifti_info(series: MultiEchoSeries, files: list[Path]) -> SeriesInfo:
    meta = series.meta
    description = str(meta.get("series_description") or files[0].name)
    return SeriesInfo(
        number=meta.get("series_number"),
        uid=str(meta.get("series_instance_uid", "")),
        description=description,
        kind="multi-echo",
        vendor=str(meta.get("vendor", "")),
        n_echoes=series.n_echoes,
        echo_times_ms=tuple(float(t) for t in series.echo_times_ms),
        matrix=(series.shape[0], series.shape[1]),
        n_slices=series.shape[2],
        voxel_size_mm=tuple(float(v) for v in series.voxel_size_mm),  # type: ignore[arg-type]
        orientation=series.orientation,
        n_files=len(files),
        paths=tuple(files),
        notes=("NIfTI",),
    )
