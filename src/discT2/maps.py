"""Fitted parameter maps: T2, S0, uncertainty, goodness of fit, flags and provenance."""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from discT2.errors import InputError, ShapeMismatchError
from discT2.io.nifti import _json_default, load_map, save_map

__all__ = ["MAP_FILES", "FitFlag", "T2Map"]


class FitFlag(enum.IntFlag):
    """Per-voxel quality flags (a bit field, stored as uint16 in ``flags.nii.gz``).

    A voxel with ``FAILED`` or ``MASKED`` has NaN in every fitted map.
    """

    FAILED = 1  #: the optimiser did not converge or the data cannot be fitted
    AT_BOUND = 2  #: a parameter ended on its bound
    T2_BELOW_RANGE = 4  #: T2 shorter than the first echo time can resolve
    T2_ABOVE_RANGE = 8  #: T2 longer than the echo train can resolve
    MASKED = 16  #: outside the fit mask (not fitted)
    POOR_FIT = 32  #: goodness of fit below the acceptance threshold
    #: ``offset`` model: the constant is as large as the decaying part, so a slow decay and the
    #: constant cannot be told apart (T2 is not trustworthy)
    OFFSET_UNRESOLVED = 64


#: File name of each array attribute when a map is saved to a folder.
MAP_FILES: dict[str, str] = {
    "t2_ms": "t2.nii.gz",
    "s0": "s0.nii.gz",
    "t2_sd_ms": "t2_sd.nii.gz",
    "r2": "r2.nii.gz",
    "rmse": "rmse.nii.gz",
    "flags": "flags.nii.gz",
    "b1": "b1.nii.gz",
    "offset": "offset.nii.gz",
}
_OPTIONAL = ("b1", "offset")
_PROVENANCE_FILE = "fit.json"


class T2Map:
    """Per-voxel T2 fit results on the grid of the fitted series.

    Parameters
    ----------
    t2_ms, s0, t2_sd_ms, r2, rmse : ndarray, shape (I, J, K)
        T2 (ms), extrapolated signal at TE = 0, standard deviation of T2 from the fit's covariance
        (ms), coefficient of determination, root-mean-square residual (signal units). NaN where
        the voxel was not fitted or failed.
    flags : ndarray of uint16, shape (I, J, K)
        :class:`FitFlag` bit field.
    affine : ndarray, shape (4, 4)
        Voxel indices to RAS mm, the same as the fitted series'.
    b1 : ndarray, optional
        Refocusing-angle scale (``epg`` method).
    offset : ndarray, optional
        Constant signal term (``offset`` method).
    provenance : mapping, optional
        How the map was made: method, options, echo times used, software version, source.
    meta : mapping, optional
        The fitted series' metadata (no patient-identifying fields).
    """

    def __init__(
        self,
        *,
        t2_ms: np.ndarray,
        s0: np.ndarray,
        t2_sd_ms: np.ndarray,
        r2: np.ndarray,
        rmse: np.ndarray,
        flags: np.ndarray,
        affine: np.ndarray,
        b1: np.ndarray | None = None,
        offset: np.ndarray | None = None,
        provenance: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        t2 = np.asarray(t2_ms, dtype=np.float32)
        if t2.ndim != 3:
            raise ShapeMismatchError(f"t2_ms must be 3-D (i, j, k); got shape {t2.shape}")
        arrays: dict[str, np.ndarray | None] = {
            "s0": s0,
            "t2_sd_ms": t2_sd_ms,
            "r2": r2,
            "rmse": rmse,
            "b1": b1,
            "offset": offset,
        }
        self.t2_ms = t2
        for name, value in arrays.items():
            if value is None:
                setattr(self, name, None)
                continue
            arr = np.asarray(value, dtype=np.float32)
            if arr.shape != t2.shape:
                raise ShapeMismatchError(f"{name} has shape {arr.shape}; t2_ms has {t2.shape}")
            setattr(self, name, arr)
        fl = np.asarray(flags)
        if fl.shape != t2.shape:
            raise ShapeMismatchError(f"flags has shape {fl.shape}; t2_ms has {t2.shape}")
        self.flags = fl.astype(np.uint16, copy=False)  # no copy, like the float maps
        aff = np.asarray(affine, dtype=float)
        if aff.shape != (4, 4):
            raise ShapeMismatchError(f"affine must be 4x4; got {aff.shape}")
        self.affine = aff
        self.provenance: dict[str, Any] = dict(provenance or {})
        self.meta: dict[str, Any] = dict(meta or {})

    s0: np.ndarray
    t2_sd_ms: np.ndarray
    r2: np.ndarray
    rmse: np.ndarray
    b1: np.ndarray | None
    offset: np.ndarray | None

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape (I, J, K)."""
        return self.t2_ms.shape  # type: ignore[return-value]

    @property
    def voxel_size_mm(self) -> np.ndarray:
        """Voxel edge lengths along i, j, k in mm."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def method(self) -> str:
        """The fitting method recorded in the provenance ('' when unknown)."""
        return str(self.provenance.get("method", ""))

    def valid(self) -> np.ndarray:
        """Boolean mask of voxels with a finite T2 that neither failed nor were masked."""
        bad = (self.flags & (FitFlag.FAILED | FitFlag.MASKED)) != 0
        return np.isfinite(self.t2_ms) & ~bad

    def save(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write every map as NIfTI plus ``fit.json`` (provenance and metadata) into ``folder``.

        Parameters
        ----------
        folder : path-like
            Output folder (created if needed); existing maps of the same names are replaced.

        Returns
        -------
        dict
            Attribute name (and ``'provenance'``) to the written path.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for name, filename in MAP_FILES.items():
            value = getattr(self, name)
            if value is None:
                continue
            dtype = np.uint16 if name == "flags" else np.float32
            written[name] = save_map(value, self.affine, folder / filename, dtype=dtype)
        doc = {"provenance": self.provenance, "meta": self.meta}
        target = folder / _PROVENANCE_FILE
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
        os.replace(tmp, target)
        written["provenance"] = target
        return written

    @classmethod
    def load(cls, path: str | os.PathLike) -> T2Map:
        """Read a map saved by :meth:`save`: the folder, or its ``t2.nii.gz``.

        Maps other than ``t2.nii.gz`` that are absent are filled with NaN (flags with 0), so a
        T2 map from another tool can be measured too.

        Parameters
        ----------
        path : path-like
            The folder :meth:`save` wrote, or its ``t2.nii.gz``.
        """
        path = Path(path)
        folder = path.parent if path.is_file() else path
        t2_path = path if path.is_file() else folder / MAP_FILES["t2_ms"]
        t2, affine = load_map(t2_path)
        if t2.ndim != 3:
            raise InputError(f"{t2_path}: a T2 map must be 3-D; got shape {t2.shape}")
        arrays: dict[str, Any] = {}
        for name, filename in MAP_FILES.items():
            if name == "t2_ms":
                continue
            file = folder / filename
            if file.is_file() and t2_path.name == MAP_FILES["t2_ms"]:
                arr, aff = load_map(file)
                if arr.shape != t2.shape or not np.allclose(aff, affine, atol=1e-4):
                    raise InputError(f"{file}: grid differs from {t2_path}")
                arrays[name] = arr
            elif name in _OPTIONAL:
                arrays[name] = None
            elif name == "flags":
                arrays[name] = np.where(np.isfinite(t2), 0, int(FitFlag.FAILED)).astype(np.uint16)
            else:
                arrays[name] = np.full(t2.shape, np.nan, dtype=np.float32)
        provenance: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        doc_path = folder / _PROVENANCE_FILE
        if doc_path.is_file() and t2_path.name == MAP_FILES["t2_ms"]:
            try:
                doc = json.loads(doc_path.read_text())
            except json.JSONDecodeError as exc:
                raise InputError(f"{doc_path}: not valid JSON ({exc})") from exc
            provenance = doc.get("provenance", {})
            meta = doc.get("meta", {})
        provenance.setdefault("source", str(t2_path))
        return cls(t2_ms=t2, affine=affine, provenance=provenance, meta=meta, **arrays)

    def __repr__(self) -> str:
        n_valid = int(self.valid().sum())
        return f"T2Map(method={self.method!r}, shape={self.shape}, valid voxels={n_valid})"
