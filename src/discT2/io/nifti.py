"""NIfTI input and output: maps on a series' grid, and multi-echo series with a JSON sidecar."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from discT2.errors import EchoTimeError, InputError, ShapeMismatchError
from discT2.io._checks import check_declared_size, file_problem
from discT2.series import MultiEchoSeries

__all__ = [
    "is_nifti",
    "load_map",
    "load_nifti_echoes",
    "load_nifti_series",
    "save_map",
    "save_nifti_series",
    "vendor_name",
]


def save_map(
    array: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike,
    *,
    dtype: type | np.dtype = np.float32,
) -> Path:
    """Write one 3-D (or 4-D) map as NIfTI with the given voxel-to-RAS affine.

    The file is written under a temporary name and renamed, so a reader never sees half a file.

    Parameters
    ----------
    array : ndarray
        The map, on the grid that ``affine`` describes.
    affine : ndarray, shape (4, 4)
        Voxel indices to RAS mm; stored as both sform and qform (code 1, scanner anatomical).
    path : path-like
        Destination, ``.nii`` or ``.nii.gz``.
    dtype : numpy dtype
        Data type on disk.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    img = nib.Nifti1Image(np.asarray(array).astype(dtype, copy=False), np.asarray(affine, float))
    img.header.set_xyzt_units("mm", "sec")
    img.set_sform(np.asarray(affine, float), code=1)
    img.set_qform(np.asarray(affine, float), code=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".nii.gz" if path.name.endswith(".nii.gz") else path.suffix
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        nib.save(img, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_map(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a NIfTI map; returns ``(array, affine)`` with the data as stored (scaled by the header).

    Parameters
    ----------
    path : path-like
        A ``.nii`` or ``.nii.gz`` file.

    Raises
    ------
    InputError
        The file is missing or not a readable NIfTI image; the message names the file.
    """
    path = Path(path)
    problem = file_problem(path)
    if problem is not None:
        raise InputError(f"{path}: {problem}")
    try:
        img = nib.load(path)
        check_declared_size(path, img)
        data = np.asarray(img.dataobj)
        affine = np.asarray(img.affine, dtype=float)
    except InputError:
        raise
    except Exception as exc:  # nibabel raises many types for broken files
        raise InputError(f"{path}: not a readable NIfTI image ({exc})") from exc
    if not np.all(np.isfinite(affine)):
        raise InputError(f"{path}: the header's affine holds non-finite values")
    return data, affine


def _sidecar_path(path: Path) -> Path:
    name = path.name
    stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else path.stem
    return path.with_name(stem + ".json")


def is_nifti(path: str | os.PathLike) -> bool:
    """True when the path names a NIfTI file (``.nii`` or ``.nii.gz``).

    Parameters
    ----------
    path : path-like
        Any file name; only the suffix is looked at.
    """
    name = Path(path).name.lower()
    return name.endswith((".nii", ".nii.gz"))


def load_nifti_series(path: str | os.PathLike) -> MultiEchoSeries:
    """Read a 4-D NIfTI (echo last) with its BIDS-style JSON sidecar as a multi-echo series.

    The sidecar (same name, ``.json``) gives ``EchoTime`` in **seconds**, as BIDS does, as a list
    with one value per volume. Other BIDS fields fill the metadata when present
    (``Manufacturer``, ``MagneticFieldStrength``, ``RepetitionTime`` (s), ``FlipAngle``,
    ``RefocusingFlipAngle``, ``SeriesDescription``, ``SliceThickness``).

    Parameters
    ----------
    path : path-like
        The ``.nii`` or ``.nii.gz`` file; the sidecar is the same name with ``.json``.

    Returns
    -------
    MultiEchoSeries
        The echoes in the order of the sidecar's echo times, affine from the NIfTI header.

    Raises
    ------
    InputError
        The file or its sidecar is missing or unreadable, the image is not 4-D, or the sidecar's
        echo times do not match the volumes.
    """
    path = Path(path)
    data, affine = load_map(path)
    if data.ndim != 4:
        raise ShapeMismatchError(
            f"{path}: a multi-echo NIfTI must be 4-D with echoes last; got shape {data.shape}"
        )
    sidecar = _sidecar_path(path)
    if not sidecar.is_file():
        raise EchoTimeError(
            f"{path}: no JSON sidecar {sidecar.name} with 'EchoTime' (seconds, one per volume)"
        )
    side = _read_sidecar(path)
    te_ms = _echo_times_ms(side["EchoTime"], sidecar)
    _check_seconds(te_ms, sidecar)
    if te_ms.size != data.shape[3]:
        raise EchoTimeError(
            f"{sidecar}: 'EchoTime' has {te_ms.size} values but {path.name} has "
            f"{data.shape[3]} volumes"
        )
    meta = _meta_from_sidecar(side)
    meta.update(source=str(path), format="nifti")
    try:
        return MultiEchoSeries(data, te_ms, affine, meta)
    except InputError as exc:
        raise type(exc)(f"{path}: {exc}") from exc


def load_nifti_echoes(paths: Sequence[str | os.PathLike]) -> MultiEchoSeries:
    """Read one 3-D NIfTI per echo, each with a BIDS-style JSON sidecar, as a multi-echo series.

    Each sidecar (same name, ``.json``) gives the file's ``EchoTime`` in **seconds** (a number or
    a one-element list). The files may come in any order: echoes are sorted by echo time. All
    files must share shape and affine; metadata come from the shortest echo's sidecar.

    Parameters
    ----------
    paths : sequence of path-like
        The ``.nii`` / ``.nii.gz`` files, at least two.

    Raises
    ------
    InputError
        A file or sidecar is missing or unreadable, an image is not 3-D, or the files do not
        share one grid.
    EchoTimeError
        Fewer than two files, a sidecar without a single ``EchoTime``, or duplicate echo times.
    """
    files = [Path(p) for p in paths]
    if len(files) < 2:
        raise EchoTimeError(
            f"{files[0] if files else 'no files'}: a single echo; a T2 fit needs at least 2 "
            "echoes (one 3-D NIfTI per echo, or a 4-D NIfTI with echoes last)"
        )
    volumes = []
    for path in files:
        data, affine = load_map(path)
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if data.ndim != 3:
            raise ShapeMismatchError(
                f"{path}: one NIfTI per echo must be 3-D; got shape {data.shape}"
            )
        side = _read_sidecar(path)
        te = _echo_times_ms(side["EchoTime"], _sidecar_path(path)) / 1000.0
        if te.size != 1:
            raise EchoTimeError(
                f"{_sidecar_path(path)}: 'EchoTime' must be one value (seconds) for a 3-D file; "
                f"got {side.get('EchoTime')!r}"
            )
        volumes.append((float(te[0]) * 1000.0, path, data, affine, side))
    _check_seconds(np.array([v[0] for v in volumes]), files[0])
    volumes.sort(key=lambda v: v[0])
    te_ms = np.array([v[0] for v in volumes])
    for (t1, p1, *_), (t2, p2, *_) in pairwise(volumes):
        if np.isclose(t1, t2, rtol=0, atol=1e-6):
            raise EchoTimeError(f"{p1} and {p2}: duplicate echo time {t1:.4g} ms")
    _, ref_path, ref_data, ref_affine, ref_side = volumes[0]
    for _, path, data, affine, _ in volumes[1:]:
        if data.shape != ref_data.shape:
            raise ShapeMismatchError(
                f"{path}: shape {data.shape} differs from {ref_path.name}'s {ref_data.shape}"
            )
        if not np.allclose(affine, ref_affine, atol=1e-3):
            raise InputError(f"{path}: its affine differs from {ref_path.name}'s (another grid)")
    meta = _meta_from_sidecar(ref_side)
    meta.update(source=str(ref_path.parent), format="nifti", files=[str(v[1]) for v in volumes])
    stack = np.stack([v[2] for v in volumes], axis=-1)
    try:
        return MultiEchoSeries(stack, te_ms, ref_affine, meta)
    except InputError as exc:
        raise type(exc)(f"{ref_path.parent}: {exc}") from exc


def _read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = _sidecar_path(path)
    if not sidecar.is_file():
        raise EchoTimeError(f"{path}: no JSON sidecar {sidecar.name} with 'EchoTime' (seconds)")
    problem = file_problem(sidecar)
    if problem is not None:
        raise InputError(f"{sidecar}: {problem}")
    try:
        side = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # JSON and UTF-8 errors are ValueErrors
        raise InputError(f"{sidecar}: not readable JSON ({exc})") from exc
    if not isinstance(side, dict) or "EchoTime" not in side:
        raise EchoTimeError(f"{sidecar}: no 'EchoTime' field (seconds)")
    return side


def _echo_times_ms(value: Any, sidecar: Path) -> np.ndarray:
    """The sidecar's ``EchoTime`` (seconds, a number or a list of numbers) in ms."""
    try:
        te = np.atleast_1d(np.asarray(value, dtype=float))
    except (TypeError, ValueError):
        te = np.array([np.nan])
    if te.ndim != 1 or te.size == 0 or not np.all(np.isfinite(te)) or np.any(te <= 0):
        raise EchoTimeError(
            f"{sidecar}: 'EchoTime' must be positive numbers (seconds); got {value!r:.80}"
        )
    return te * 1000.0


def _check_seconds(te_ms: np.ndarray, where: Path) -> None:
    """BIDS echo times are in seconds; values above 2 s are almost surely milliseconds."""
    if np.any(te_ms > 2000.0):
        raise EchoTimeError(
            f"{where}: sidecar 'EchoTime' values {np.round(te_ms / 1000.0, 6).tolist()} look like "
            "milliseconds; BIDS sidecars give echo times in seconds"
        )


def save_nifti_series(series: MultiEchoSeries, path: str | os.PathLike) -> Path:
    """Write a series as 4-D NIfTI (float32, echo last) plus a BIDS-style JSON sidecar.

    ``EchoTime`` is written in seconds; the other metadata keep discT2's names under ``"discT2"``.

    Parameters
    ----------
    series : MultiEchoSeries
        The series to write.
    path : path-like
        The ``.nii.gz`` (or ``.nii``) file; the sidecar gets the same name with ``.json``.
    """
    path = Path(path)
    save_map(series.data, series.affine, path, dtype=np.float32)
    side: dict[str, Any] = {"EchoTime": [float(t) / 1000.0 for t in series.echo_times_ms]}
    for bids, key, scale in _BIDS_FIELDS:
        if key in series.meta and series.meta[key] is not None:
            value = series.meta[key]
            side[bids] = value * scale if scale != 1 else value
    side["discT2"] = {k: v for k, v in series.meta.items() if k not in ("source", "format")}
    sidecar = _sidecar_path(path)
    tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(side, indent=2, default=_json_default) + "\n")
    os.replace(tmp, sidecar)
    return path


#: (BIDS key, discT2 meta key, factor from discT2 units to BIDS units)
_BIDS_FIELDS: tuple[tuple[str, str, float], ...] = (
    ("Manufacturer", "manufacturer", 1),
    ("ManufacturersModelName", "model", 1),
    ("MagneticFieldStrength", "field_strength_t", 1),
    ("RepetitionTime", "repetition_time_ms", 1e-3),
    ("FlipAngle", "excitation_angle_deg", 1),
    ("RefocusingFlipAngle", "refocusing_angle_deg", 1),
    ("SeriesDescription", "series_description", 1),
    ("SeriesNumber", "series_number", 1),
    ("SliceThickness", "slice_thickness_mm", 1),
    ("EchoTrainLength", "echo_train_length", 1),
    ("MRAcquisitionType", "acquisition_type", 1),
)


def _meta_from_sidecar(side: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    extra = side.get("discT2")
    if isinstance(extra, dict):
        meta.update(extra)
    for bids, key, scale in _BIDS_FIELDS:
        if bids in side and side[bids] is not None:
            value = side[bids]
            meta[key] = value / scale if scale != 1 else value
    if "manufacturer" in meta and "vendor" not in meta:
        meta["vendor"] = vendor_name(str(meta["manufacturer"]))
    return meta


def vendor_name(manufacturer: str) -> str:
    """Normalise a Manufacturer string: 'siemens', 'ge', 'philips', or the lower-cased input.

    Parameters
    ----------
    manufacturer : str
        The DICOM Manufacturer (0008,0070) or BIDS ``Manufacturer`` value.
    """
    low = manufacturer.strip().lower()
    for key, names in (
        ("siemens", ("siemens",)),
        ("ge", ("ge ", "ge_", "general electric", "gems")),
        ("philips", ("philips",)),
    ):
        if any(low.startswith(n) or n in low for n in names) or low == key:
            return key
    return low


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
