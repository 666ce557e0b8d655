"""NIfTI input and output: maps on a series' grid, and multi-echo series with a JSON sidecar."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np

from discT2.errors import InputError

__all__ = ["load_map", "save_map"]


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

    Raises
    ------
    InputError
        The file is missing or not a readable NIfTI image; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        img = nib.load(path)
        data = np.asarray(img.dataobj)
    except Exception as exc:  # nibabel raises many types for broken files
        raise InputError(f"{path}: not a readable NIfTI image ({exc})") from exc
    return data, np.asarray(img.affine, dtype=float)
