"""``place_rois``: from disc geometry (corners, outline or a click) to the labelled ROI volume."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from discT2._version import __version__
from discT2.errors import RoiError
from discT2.roi._grid import Grid, SlicePlane, grid_of
from discT2.roi.bands import DEFAULT_FRACTIONS, band_index, check_corners_2d, check_fractions
from discT2.roi.discs_io import discs_from_json, load_discs
from discT2.roi.geometry import CORNERS, DiscGeometry, corners_from_outline, now_iso
from discT2.roi.levels import ROI_NAMES, level_index
from discT2.roi.rois import DiscROIs

__all__ = ["place_rois", "series_info"]

logger = logging.getLogger(__name__)

#: QA keys that placing the ROIs computes (stale copies from a loaded rois.json are dropped).
_PLACED_QA = ("n_voxels", "slices", "margins_mm", "measures", "flags")
_PLACED_FLAGS = (
    "small_roi",
    "thin_disc",
    "slices_clipped",
    "landmarks_off_slice",
    "placed_on_another_series",
    "review",
)

#: An ROI with fewer voxels than this (on all its slices) is flagged ``small_roi``.
MIN_ROI_VOXELS = 10


def _accepted(g: DiscGeometry) -> bool:
    """A reader has accepted this automatic or propagated disc (``qa["reviewed"]``)."""
    reviewed = g.qa.get("reviewed")
    return isinstance(reviewed, Mapping) and reviewed.get("status") == "accepted"


def series_info(image: object) -> dict[str, Any]:
    """Which series an image is (UID, description, number, source); no patient fields."""
    meta = getattr(image, "meta", {}) or {}
    info = {
        key: meta[key]
        for key in ("series_instance_uid", "series_description", "series_number", "source")
        if meta.get(key) not in (None, "")
    }
    prov = getattr(image, "provenance", {}) or {}
    if "source" not in info and prov.get("source"):
        info["source"] = str(prov["source"])
    return info


def place_rois(
    image: Any,
    discs: Sequence[DiscGeometry] | str | os.PathLike | Mapping[str, Any],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    endplate_margin: float = 1.0,
    outer_margin: float = 1.0,
    margin_unit: Literal["voxel", "mm"] = "voxel",
    slices: int = 0,
    reader: str = "",
    on_error: Literal["raise", "flag"] = "raise",
    grow_options: Mapping[str, Any] | None = None,
) -> DiscROIs:
    """Place the five ROIs of every disc on an exam's grid.

    Each disc's geometry comes from its four corners, else from its outline (corners derived
    with :func:`~discT2.roi.geometry.corners_from_outline`), else from a click inside it (the
    disc is grown with :func:`discT2.grow_disc`). ROI k is the band between the lines
    S(f_{k-1}) I(f_{k-1}) and S(f_k) I(f_k) (docs/methods/rois.md), less the margins, clipped to
    the outline when there is one; a voxel belongs to it when its centre does.

    Parameters
    ----------
    image : T2Map or MultiEchoSeries
        The exam: its grid and affine place the ROIs; its images are needed only to grow discs
        given by a centre.
    discs : sequence of DiscGeometry, path or mapping
        Disc geometry, a ``discs.json`` (or ``rois.json``) file, or its parsed content.
    fractions : sequence of 6 floats
        Band boundaries along the endplates, default fifths.
    endplate_margin : float
        Distance from each endplate line within which voxels are left out (default 1 voxel).
    outer_margin : float
        Distance from the anterior (AS-AI) and posterior (PS-PI) edges within which voxels are
        left out (default 1 voxel).
    margin_unit : {'voxel', 'mm'}
        Unit of both margins. One voxel is the in-plane voxel length across the edge in question,
        so anisotropic pixels are handled.
    slices : int
        Also place the ROIs on the k neighbouring slices each side (mid +- k), with the same
        in-plane geometry (the slices of a series are parallel).
    reader : str
        Who placed or reviewed the geometry, recorded for discs that do not name a reader.
    on_error : {'raise', 'flag'}
        ``raise``: a disc that cannot be placed raises :class:`~discT2.errors.RoiError`.
        ``flag``: it is left out, listed in :attr:`DiscROIs.failed` with the error, and the
        other discs are still placed.
    grow_options : mapping, optional
        Keyword arguments for :func:`discT2.grow_disc` (discs given by a centre).

    Returns
    -------
    DiscROIs

    Raises
    ------
    RoiError
        Unknown level, a corner outside the image, swapped or crossed endplate lines, a click
        outside any disc; the message names the disc and the file.
    GeometryError
        The image is not a sagittal series.

    Examples
    --------
    >>> import numpy as np
    >>> from discT2 import T2Map, DiscGeometry, place_rois
    >>> affine = np.array([[0, 0, 4.0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    >>> t2 = np.full((60, 40, 1), 100.0)
    >>> m = T2Map(t2_ms=t2, s0=t2, t2_sd_ms=t2, r2=t2, rmse=t2, flags=np.zeros(t2.shape),
    ...           affine=affine)
    >>> disc = DiscGeometry("L4-L5", corners_ras_mm={
    ...     "AS": [0, 50, 25], "PS": [0, 10, 25], "AI": [0, 50, 15], "PI": [0, 10, 15]})
    >>> rois = place_rois(m, [disc], endplate_margin=0, outer_margin=0)
    >>> rois.n_voxels()["L4-L5"]["NP_central"]
    88
    """
    grid = grid_of(image)
    where_file = ""
    if isinstance(discs, (str, os.PathLike)):
        where_file = str(discs)
        geometries = load_discs(discs)
    elif isinstance(discs, Mapping):
        geometries = discs_from_json(discs, where="discs")
    else:
        geometries = list(discs)
        for g in geometries:
            if not isinstance(g, DiscGeometry):
                raise RoiError(f"discs must be DiscGeometry objects; got {type(g).__name__}")
    f = check_fractions(fractions)
    if margin_unit not in ("voxel", "mm"):
        raise RoiError(f"margin_unit must be 'voxel' or 'mm'; got {margin_unit!r}")
    for name, value in (("endplate_margin", endplate_margin), ("outer_margin", outer_margin)):
        if not np.isfinite(value) or value < 0:
            raise RoiError(f"{name} must be a finite number >= 0; got {value}")
    if int(slices) != slices or slices < 0:
        raise RoiError(f"slices must be a whole number >= 0 (mid +- slices); got {slices}")
    source = series_info(image).get("source", "")
    grid.check_sagittal(str(source or "image"))
    plane = grid.plane()
    labels = np.zeros(grid.shape, dtype=np.uint8)
    placed: list[DiscGeometry] = []
    failed: list[dict[str, Any]] = []
    info = series_info(image)
    options = {
        "fractions": f.tolist(),
        "endplate_margin": float(endplate_margin),
        "outer_margin": float(outer_margin),
        "margin_unit": margin_unit,
        "slices": int(slices),
    }
    for geometry in geometries:
        where = f"disc {geometry.level}" + (f" in {where_file}" if where_file else "")
        try:
            if any(d.level == geometry.level for d in placed):
                raise RoiError(f"{where}: level given more than once")
            g = _resolve(image, grid, plane, geometry, where, reader, info, grow_options)
            qa = _rasterise(
                grid,
                plane,
                g,
                labels,
                f,
                endplate_margin,
                outer_margin,
                margin_unit,
                int(slices),
                where,
            )
        except RoiError as exc:
            if on_error == "raise":
                raise
            logger.warning("%s", exc)
            failed.append({"level": geometry.level, "error": str(exc)})
            continue
        g.qa.update(qa)
        placed.append(g)
    provenance = {
        "software": f"discT2 {__version__}",
        "created": now_iso(),
        "series": info,
        "discs_file": where_file,
    }
    return DiscROIs(
        labels, grid.affine, placed, options=options, provenance=provenance, failed=failed
    )


def _resolve(
    image: Any,
    grid: Grid,
    plane: SlicePlane,
    geometry: DiscGeometry,
    where: str,
    reader: str,
    info: Mapping[str, Any],
    grow_options: Mapping[str, Any] | None,
) -> DiscGeometry:
    """Geometry with corners and a slice, checked against the grid."""
    # QA that placing recomputes is dropped; notes from growing or registration are kept.
    qa = {k: v for k, v in geometry.qa.items() if k not in _PLACED_QA}
    kept = [f for f in geometry.qa.get("flags", []) if f not in _PLACED_FLAGS]
    kept = [f for f in kept if not f.startswith("overlaps_")]
    if kept:
        qa["flags"] = kept
    g = replace(geometry, series=dict(geometry.series), qa=qa)
    if not g.reader:
        g.reader = reader
    if g.corners_ras_mm is None and g.outline_ras_mm is None:
        from discT2.roi.segment import grow_disc

        try:
            grown = grow_disc(
                image, g.center_ras_mm, level=g.level, slice=g.slice, **dict(grow_options or {})
            )
        except RoiError as exc:
            raise RoiError(f"{where}: {exc}") from exc
        g = replace(
            g,
            corners_ras_mm=grown.corners_ras_mm,
            outline_ras_mm=grown.outline_ras_mm,
            slice=grown.slice,
            method="grown" if g.method == "drawn" else g.method,
            qa={**g.qa, **grown.qa},
        )
    points = g.corner_array() if g.corners_ras_mm is not None else g.outline_ras_mm
    assert points is not None
    ijk = grid.world_to_voxel(points)
    outside = ~grid.contains(ijk)
    if outside.any():
        idx = int(np.argmax(outside))
        name = CORNERS[idx] if g.corners_ras_mm is not None else f"outline point {idx + 1}"
        raise RoiError(
            f"{where}: {name} at RAS {np.round(points[idx], 1).tolist()} mm lies outside the "
            f"image (voxel {np.round(ijk[idx], 1).tolist()}, grid {list(grid.shape)}); were the "
            "landmarks placed on another series?"
        )
    k_all = ijk[:, 2]
    k0 = int(np.clip(np.rint(np.mean(k_all)), 0, grid.shape[2] - 1)) if g.slice is None else g.slice
    if not 0 <= k0 < grid.shape[2]:
        raise RoiError(f"{where}: slice {k0} is outside the image (0..{grid.shape[2] - 1})")
    spread = float(np.max(np.abs(k_all - k0)))
    if spread > 1.0:
        raise RoiError(
            f"{where}: the landmarks lie up to {spread:.1f} slices from slice {k0}; place all "
            "of them on one sagittal slice"
        )
    if g.corners_ras_mm is None:
        assert g.outline_ras_mm is not None
        outline_2d = plane.to_plane(ijk[:, :2])
        c2 = corners_from_outline(outline_2d, plane.anterior, plane.superior)
        corners = {}
        for name, p in c2.items():
            ij = plane.to_ij(p)
            corners[name] = grid.voxel_to_world(np.array([ij[0], ij[1], k0]))
        g.corners_ras_mm = corners
    g.slice = k0
    if spread > 0.5:
        g.qa.setdefault("flags", []).append("landmarks_off_slice")
    if not g.series:
        g.series = dict(info)
    elif info.get("series_instance_uid") and g.series.get("series_instance_uid") not in (
        None,
        info.get("series_instance_uid"),
    ):
        g.qa.setdefault("flags", []).append("placed_on_another_series")
    return g


def _corners_2d(grid: Grid, plane: SlicePlane, g: DiscGeometry) -> dict[str, np.ndarray]:
    ijk = grid.world_to_voxel(g.corner_array())
    return {name: plane.to_plane(ijk[i, :2]) for i, name in enumerate(CORNERS)}


def _edge_normal(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    d = q - p
    return np.array([-d[1], d[0]]) / max(float(np.linalg.norm(d)), 1e-12)


def _rasterise(
    grid: Grid,
    plane: SlicePlane,
    g: DiscGeometry,
    labels: np.ndarray,
    fractions: np.ndarray,
    endplate_margin: float,
    outer_margin: float,
    margin_unit: str,
    slices: int,
    where: str,
) -> dict[str, Any]:
    """Write one disc's bands into ``labels``; return its QA record."""
    c2 = _corners_2d(grid, plane, g)
    check_corners_2d(c2, plane.anterior, plane.superior, where=where)
    edges = {
        "superior": (c2["AS"], c2["PS"]),
        "inferior": (c2["AI"], c2["PI"]),
        "anterior": (c2["AS"], c2["AI"]),
        "posterior": (c2["PS"], c2["PI"]),
    }
    if margin_unit == "voxel":
        mm = {name: plane.voxel_length_mm(_edge_normal(*pq)) for name, pq in edges.items()}
    else:
        mm = dict.fromkeys(edges, 1.0)
    ep = (endplate_margin * mm["superior"], endplate_margin * mm["inferior"])
    om = (outer_margin * mm["anterior"], outer_margin * mm["posterior"])
    outline_2d = None
    if g.outline_ras_mm is not None:
        outline_2d = plane.to_plane(grid.world_to_voxel(g.outline_ras_mm)[:, :2])
    pts_2d = np.stack(list(c2.values()))
    if outline_2d is not None:
        pts_2d = np.vstack([pts_2d, outline_2d])
    ij = plane.to_ij(pts_2d)
    lo = np.maximum(np.floor(ij.min(axis=0)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(ij.max(axis=0)).astype(int) + 2, np.asarray(grid.shape[:2]))
    ii, jj = np.meshgrid(np.arange(lo[0], hi[0]), np.arange(lo[1], hi[1]), indexing="ij")
    centres = plane.to_plane(np.stack([ii.ravel(), jj.ravel()], axis=1).astype(float))
    band = band_index(
        centres,
        c2,
        fractions=fractions,
        endplate_margin_mm=ep,
        outer_margin_mm=om,
        outline=outline_2d,
    ).reshape(ii.shape)
    base = 10 * level_index(g.level)
    k0 = int(g.slice)  # type: ignore[arg-type]
    wanted = list(range(k0 - slices, k0 + slices + 1))
    used = [k for k in wanted if 0 <= k < grid.shape[2]]
    flags: list[str] = list(g.qa.get("flags", []))
    if len(used) < len(wanted):
        flags.append("slices_clipped")
    overlap: set[str] = set()
    counts = np.zeros(6, dtype=int)
    for k in used:
        target = labels[lo[0] : hi[0], lo[1] : hi[1], k]
        mine = band > 0
        taken = mine & (target > 0)
        if taken.any():
            from discT2.roi.levels import LEVELS

            overlap.update(LEVELS[int(v) // 10] for v in np.unique(target[taken]))
        free = mine & (target == 0)
        target[free] = base + band[free]
        counts += np.bincount(band[free].ravel(), minlength=6)
    if overlap:
        flags.append("overlaps_" + "_".join(sorted(overlap)))
        logger.warning("%s overlaps %s; shared voxels stay with the first", where, sorted(overlap))
    n_voxels = {name: int(counts[k]) for k, name in enumerate(ROI_NAMES, 1)}
    if min(n_voxels.values()) < MIN_ROI_VOXELS:
        flags.append("small_roi")
    measures = g.measures()
    height_vox = measures["height_mean_mm"] / plane.voxel_length_mm(
        _edge_normal(*edges["superior"])
    )
    if height_vox - 2 * endplate_margin * (margin_unit == "voxel") < 3:
        flags.append("thin_disc")
    if g.method != "drawn" and not _accepted(g):
        flags.append("review")
    qa: dict[str, Any] = {
        "n_voxels": n_voxels,
        "slices": used,
        "margins_mm": {"endplate": [round(v, 3) for v in ep], "outer": [round(v, 3) for v in om]},
        "measures": {k: round(v, 4) for k, v in measures.items()},
        "flags": sorted(set(flags)),
    }
    return qa
