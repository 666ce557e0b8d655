"""``DiscROIs``: the labelled ROI volume of one exam, its label table, QA and provenance.

Saved as ``rois.nii.gz`` (one integer per disc x ROI, ``10 * n + k``; 0 elsewhere, on the grid
of the series) and ``rois.json`` (``{"labels": {"41": {"level": "L4-L5", "roi":
"AF_anterior"}, ...}, "discs": [geometry + measures + qa + provenance], "provenance": {...}}``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from discT2.errors import RoiError, ShapeMismatchError
from discT2.io.nifti import _json_default, load_map, save_map
from discT2.roi.geometry import DiscGeometry
from discT2.roi.levels import ROI_NAMES, label_value, normalise_level, parse_label

__all__ = ["ROIS_JSON", "ROIS_NIFTI", "DiscROIs"]

ROIS_JSON = "rois.json"
ROIS_NIFTI = "rois.nii.gz"


class DiscROIs:
    """The five ROIs of each disc of one exam, as one label volume on the series' grid.

    Parameters
    ----------
    labels : ndarray of int, shape (I, J, K)
        ``10 * n + k`` for ROI k (1..5, anterior to posterior) of the disc whose upper vertebra
        has lumbar position n (T12-L1 -> 0, ..., L5-S1 -> 5); 0 outside every ROI.
    affine : ndarray, shape (4, 4)
        Voxel indices to RAS mm (the series' affine).
    discs : sequence of DiscGeometry
        The geometry each disc's ROIs were placed from, with its ``qa`` and provenance.
    options : mapping, optional
        How the ROIs were placed (fractions, margins, slices), so that a follow-up can be placed
        the same way.
    provenance : mapping, optional
        Software version, source image, creation time.
    failed : sequence of mapping, optional
        Discs that could not be placed: ``{"level": ..., "error": ...}``.

    Raises
    ------
    ShapeMismatchError
        ``labels`` is not 3-D or ``affine`` not 4x4.
    RoiError
        A label value that is not a disc ROI, or labels of a disc missing from ``discs``.
    """

    def __init__(
        self,
        labels: np.ndarray,
        affine: np.ndarray,
        discs: Sequence[DiscGeometry],
        *,
        options: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
        failed: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        lab = np.asarray(labels)
        if lab.ndim != 3:
            raise ShapeMismatchError(f"ROI labels must be 3-D (i, j, k); got shape {lab.shape}")
        if not np.issubdtype(lab.dtype, np.integer) and (
            not np.all(np.isfinite(lab)) or np.any(lab != np.round(lab))
        ):
            raise RoiError("ROI labels must be whole numbers")
        aff = np.asarray(affine, float)
        if aff.shape != (4, 4):
            raise ShapeMismatchError(f"affine must be 4x4; got {aff.shape}")
        self.labels = lab.astype(np.uint8)
        self.affine = aff
        self.discs: list[DiscGeometry] = list(discs)
        self.options: dict[str, Any] = dict(options or {})
        self.provenance: dict[str, Any] = dict(provenance or {})
        self.failed: list[dict[str, Any]] = [dict(f) for f in failed]
        present = {int(v) for v in np.unique(self.labels) if v}
        known = {d.level for d in self.discs}
        for value in present:
            level, _ = parse_label(value)
            if level not in known:
                raise RoiError(f"label {value} ({level}) has no disc geometry in this ROI set")

    # ------------------------------------------------------------------ access

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape (I, J, K)."""
        return self.labels.shape  # type: ignore[return-value]

    @property
    def levels(self) -> list[str]:
        """Levels of the placed discs, in order."""
        return [d.level for d in self.discs]

    def disc(self, level: str) -> DiscGeometry:
        """The geometry of one disc.

        Parameters
        ----------
        level : str
            Disc level, e.g. ``'L4-L5'``.
        """
        level = normalise_level(level)
        for d in self.discs:
            if d.level == level:
                return d
        raise RoiError(f"no disc {level} in this ROI set (have {', '.join(self.levels) or 'none'})")

    @property
    def label_table(self) -> dict[int, tuple[str, str]]:
        """Label value -> (level, ROI name) for every disc in the set."""
        return {
            label_value(d.level, k): (d.level, name)
            for d in self.discs
            for k, name in enumerate(ROI_NAMES, 1)
        }

    def mask(self, level: str, roi: str | int | Sequence[str | int] | None = None) -> np.ndarray:
        """Boolean mask of one disc's ROI(s); all five when ``roi`` is None.

        Parameters
        ----------
        level : str
            Disc level.
        roi : str, int or sequence, optional
            ROI names or numbers (1..5), or a derived name (``NP``, ``AF``, ``disc``).
        """
        from discT2.roi.levels import DERIVED_ROIS

        self.disc(level)
        if roi is None:
            rois: Sequence[str | int] = range(1, 6)
        elif isinstance(roi, str) and roi in DERIVED_ROIS:
            rois = DERIVED_ROIS[roi]
        elif isinstance(roi, (str, int)):
            rois = [roi]
        else:
            rois = roi
        values = [label_value(level, r) for r in rois]
        return np.isin(self.labels, values)

    def n_voxels(self) -> dict[str, dict[str, int]]:
        """Voxel count of every ROI: ``{level: {roi name: n}}``."""
        counts = np.bincount(self.labels.ravel(), minlength=256)
        return {
            d.level: {
                name: int(counts[label_value(d.level, k)]) for k, name in enumerate(ROI_NAMES, 1)
            }
            for d in self.discs
        }

    def with_discs(self, discs: Sequence[DiscGeometry]) -> DiscROIs:
        """A copy with the same labels and new geometry records (e.g. after editing the QA).

        Parameters
        ----------
        discs : sequence of DiscGeometry
            The new geometry records, one per disc of ``self``, same levels.
        """
        return DiscROIs(
            self.labels,
            self.affine,
            discs,
            options=self.options,
            provenance=self.provenance,
            failed=self.failed,
        )

    # ------------------------------------------------------------------ files

    def to_json(self) -> dict[str, Any]:
        """The ``rois.json`` document."""
        labels = {
            str(value): {"level": level, "roi": roi}
            for value, (level, roi) in sorted(self.label_table.items())
        }
        return {
            "labels": labels,
            "discs": [d.to_dict(provenance="nested") | {"qa": d.qa} for d in self.discs],
            "failed": self.failed,
            "options": self.options,
            "provenance": self.provenance,
            "grid": {"shape": list(self.shape), "affine": self.affine.tolist()},
        }

    def save(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write ``rois.nii.gz`` and ``rois.json`` into ``folder``.

        Parameters
        ----------
        folder : path-like
            Output folder (created if needed).

        Returns
        -------
        dict
            ``{"labels": path of rois.nii.gz, "json": path of rois.json}``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        nifti = save_map(self.labels, self.affine, folder / ROIS_NIFTI, dtype=np.uint8)
        target = folder / ROIS_JSON
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, default=_json_default) + "\n")
        os.replace(tmp, target)
        return {"labels": nifti, "json": target}

    @classmethod
    def load(cls, path: str | os.PathLike) -> DiscROIs:
        """Read what :meth:`save` wrote: the folder, its ``rois.json`` or its ``rois.nii.gz``.

        Parameters
        ----------
        path : path-like
            The folder, its ``rois.json`` or its ``rois.nii.gz``.

        Raises
        ------
        RoiError
            Missing or unreadable files, or a label table that disagrees with the volume.
        """
        from discT2.roi.discs_io import discs_from_json

        path = Path(path)
        folder = path if path.is_dir() else path.parent
        json_path = folder / ROIS_JSON
        nifti_path = folder / ROIS_NIFTI
        for p in (json_path, nifti_path):
            if not p.is_file():
                raise RoiError(f"{p}: missing; an ROI folder holds {ROIS_JSON} and {ROIS_NIFTI}")
        try:
            doc = json.loads(json_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RoiError(f"{json_path}: not readable JSON ({exc})") from exc
        labels, affine = load_map(nifti_path)
        discs = discs_from_json(doc, where=str(json_path))
        table = doc.get("labels", {})
        for value, entry in table.items():
            if parse_label(int(value)) != (entry.get("level"), entry.get("roi")):
                raise RoiError(
                    f"{json_path}: label {value} is {entry}, but discT2 numbers it "
                    f"{parse_label(int(value))}"
                )
        try:
            return cls(
                np.asarray(labels).astype(np.int64),
                affine,
                discs,
                options=doc.get("options"),
                provenance=doc.get("provenance"),
                failed=doc.get("failed", ()),
            )
        except RoiError as exc:
            raise RoiError(f"{folder}: {exc}") from exc

    def __repr__(self) -> str:
        counts = np.count_nonzero(self.labels)
        return f"DiscROIs(levels={self.levels}, shape={self.shape}, voxels={counts})"
