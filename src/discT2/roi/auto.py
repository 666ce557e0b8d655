"""Find the lumbar discs of a whole exam without a reader, and name their levels.

On the mid-sagittal slice (or the slice given), candidate points are the strongest thin
structures across the patient's superior-inferior axis (the second derivative of the images
across that axis, at the scale of a disc's half height, minus the one along it). From each
candidate a disc is grown (:func:`~discT2.roi.segment.track_disc`); candidates that are not inside
a disc are refused there. The discs found are merged, ordered from the top, and the longest
column of them that a spine can make (neighbours 15-100 mm apart, similar tilt, length and
position) is kept. Where it has a gap of about two spacings, the missed disc (a faint one) is
looked for again from points around where its neighbours' spacing puts it; if it stays missing,
the levels skip it and the disc below the gap is flagged. The lowest disc is named ``L5-S1``
(or ``lowest_level``) and the others upwards from it. Every disc is flagged ``auto`` for
review; a reader can rename levels with :func:`relabel`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import ndimage

from discT2.errors import RoiError
from discT2.roi._grid import Grid, SlicePlane, grid_of
from discT2.roi.geometry import DiscGeometry
from discT2.roi.levels import LEVELS, normalise_level
from discT2.roi.segment import DiscTrack, feature_channels, track_disc

__all__ = ["detect_discs", "relabel"]

logger = logging.getLogger(__name__)

#: Candidate points tried per slice.
_MAX_SEEDS = 40
#: Candidates closer than this (mm) to an accepted disc's centre are not tried again.
_MERGE_MM = 8.0


def detect_discs(
    image: Any,
    *,
    slice: int | None = None,
    lowest_level: str = "L5-S1",
    max_discs: int = 6,
    reader: str = "",
    search_slices: int = 1,
) -> list[DiscGeometry]:
    """Find the lumbar discs on the mid-sagittal slice of an exam and name their levels.

    Parameters
    ----------
    image : MultiEchoSeries, T2Map, or a sequence of them on one grid
        The exam (echo images and/or T2 map).
    slice : int, optional
        The sagittal slice to search. Default: the middle slice and ``search_slices`` slices
        each side of it; the slice where the most discs are found (then the longest discs, the
        mid-sagittal one) wins.
    lowest_level : str
        Level of the lowest disc found (default ``L5-S1``; e.g. ``L4-L5`` when the sacrum is
        out of the field of view or the spine has a transitional vertebra).
    max_discs : int
        Keep at most this many discs, the lowest ones.
    reader : str
        Recorded as who ran the detection.
    search_slices : int
        How many slices each side of the middle slice to search when ``slice`` is not given.

    Returns
    -------
    list of DiscGeometry
        From the top down, ``method="auto"``, with corners, outline and the slice, each flagged
        for review.

    Raises
    ------
    RoiError
        No disc found, or more discs than levels above ``lowest_level``.
    """
    first = image[0] if isinstance(image, (list, tuple)) else image
    grid = grid_of(first)
    grid.check_sagittal()
    plane = grid.plane()
    lowest = normalise_level(lowest_level)
    if slice is not None:
        candidates = [int(slice)]
        if not 0 <= candidates[0] < grid.shape[2]:
            raise RoiError(f"slice {slice} is outside the image (0..{grid.shape[2] - 1})")
    else:
        mid = grid.shape[2] // 2
        candidates = [
            k
            for off in range(-search_slices, search_slices + 1)
            if 0 <= (k := mid + off) < grid.shape[2]
        ]
    best: list[DiscTrack] = []
    best_key: tuple[float, float] = (-1.0, -1.0)
    for k in candidates:
        found = _discs_on_slice(image, grid, plane, k)
        key = (float(len(found)), float(np.mean([t.length_mm for t in found])) if found else 0.0)
        logger.debug("slice %d: %d discs", k, len(found))
        if key > best_key:
            best, best_key = found, key
    if not best:
        raise RoiError(
            "no disc found automatically on the mid-sagittal slice(s) "
            f"{candidates}; place the discs by hand (corners or one click each)"
        )
    if len(best) > max_discs:
        logger.info("found %d discs; keeping the lowest %d", len(best), max_discs)
        best = best[-max_discs:]
    # Levels from the bottom up; a gap of about two disc spacings means a disc was missed.
    positions = [float(t.centre_2d @ plane.superior) for t in best]
    gaps = np.diff(positions[::-1])  # bottom to top, positive
    steps = np.ones(len(gaps), dtype=int)
    if len(gaps):
        spacing = float(np.median(gaps[gaps <= 60.0])) if np.any(gaps <= 60.0) else gaps.min()
        steps = np.maximum(np.rint(gaps / spacing).astype(int), 1)
    index = [LEVELS.index(lowest)]
    for step in steps:
        index.append(index[-1] - int(step))
    index = index[::-1]  # top first, like best
    missed = {i for i, st in zip(range(len(best) - 1, 0, -1), steps, strict=True) if st > 1}
    keep = [i for i, n in enumerate(index) if n >= 0]
    if len(keep) < len(best):
        logger.info("%d disc(s) lie above T12-L1; left out", len(best) - len(keep))
    levels = [LEVELS[index[i]] for i in keep]
    gap_above = [i in missed for i in keep]
    best = [best[i] for i in keep]
    discs = []
    for level, track, gap in zip(levels, best, gap_above, strict=True):
        discs.append(
            DiscGeometry(
                level=level,
                corners_ras_mm=track.corners_ras,
                outline_ras_mm=track.outline_ras,
                slice=track.slice,
                method="auto",
                reader=reader,
                qa={
                    "auto": {
                        "tilt_deg": round(track.tilt_deg, 2),
                        "height_mm": round(track.height_mm, 2),
                        "length_mm": round(track.length_mm, 2),
                        "contrast_sd": round(track.strength, 2),
                        "lowest_level": lowest,
                        "n_found": len(best),
                    },
                    "flags": ["review"]
                    + (["disc_missed_above"] if gap else [])
                    + (["check_corners"] if track.uneven_ends else []),
                },
            )
        )
    return discs


def relabel(
    discs: Sequence[DiscGeometry],
    mapping: Mapping[str, str] | None = None,
    *,
    lowest_level: str | None = None,
) -> list[DiscGeometry]:
    """Rename disc levels: by an explicit mapping, or by naming the lowest disc.

    Parameters
    ----------
    discs : sequence of DiscGeometry
        Ordered from the top down when ``lowest_level`` is used.
    mapping : mapping, optional
        Old level -> new level, e.g. ``{"L5-S1": "L4-L5", "L4-L5": "L3-L4"}``.
    lowest_level : str, optional
        The level of the last disc; the others are renamed upwards from it.

    Returns
    -------
    list of DiscGeometry
        Copies with new levels; ``qa["relabelled_from"]`` keeps the old name.

    Raises
    ------
    RoiError
        Unknown levels, both or neither of ``mapping`` and ``lowest_level``, or two discs
        ending up with the same level.
    """
    if (mapping is None) == (lowest_level is None):
        raise RoiError("give either a level mapping or the lowest level, not both or neither")
    if lowest_level is not None:
        n = LEVELS.index(normalise_level(lowest_level))
        if len(discs) > n + 1:
            raise RoiError(
                f"{len(discs)} discs cannot end at {lowest_level}: only {n + 1} levels lie at or "
                "above it"
            )
        new = LEVELS[n - len(discs) + 1 : n + 1]
    else:
        assert mapping is not None
        table = {normalise_level(k): normalise_level(v) for k, v in mapping.items()}
        new = tuple(table.get(d.level, d.level) for d in discs)
    if len(set(new)) != len(new):
        raise RoiError(f"relabelling gives the same level twice: {list(new)}")
    out = []
    for d, level in zip(discs, new, strict=True):
        qa = dict(d.qa)
        if level != d.level:
            qa["relabelled_from"] = d.level
        out.append(replace(d, level=level, qa=qa, series=dict(d.series)))
    return out


def _discs_on_slice(image: Any, grid: Grid, plane: SlicePlane, k: int) -> list[DiscTrack]:
    """Discs found on one slice, ordered from the top, forming one spinal column."""
    features = feature_channels(image, k)
    level = None
    seeds = _seeds(features, plane)
    tracks: list[DiscTrack] = []
    for seed in seeds:
        if any(np.linalg.norm(seed - t.centre_2d) < _MERGE_MM for t in tracks):
            continue
        try:
            track = track_disc(features, grid, plane, k, seed, edge_level=level)
        except RoiError:
            continue
        # The same disc from another seed: keep the one grown from nearer its centre.
        dup = [
            i
            for i, t in enumerate(tracks)
            if np.linalg.norm(t.centre_2d - track.centre_2d) < _MERGE_MM
        ]
        if dup:
            continue
        tracks.append(track)
    column = _column(tracks, plane)
    return _fill_gaps(column, features, grid, plane, k, level)


def _fill_gaps(
    column: list[DiscTrack],
    features: np.ndarray,
    grid: Grid,
    plane: SlicePlane,
    k: int,
    level: float,
) -> list[DiscTrack]:
    """Look again where the column has a gap of about two disc spacings (a missed disc).

    A faint disc (degenerated, dark like the bone) may give no candidate point of its own; it
    is searched for from points around where the spacing of its neighbours puts it.
    """
    if len(column) < 3:
        return column
    pos = np.array([t.centre_2d @ plane.superior for t in column])
    gaps = -np.diff(pos)
    spacing = float(np.median(gaps))
    out = [column[0]]
    for upper, lower, gap in zip(column[:-1], column[1:], gaps, strict=True):
        steps = int(np.rint(gap / spacing))
        for m in range(1, steps):
            guess = upper.centre_2d + (lower.centre_2d - upper.centre_2d) * m / steps
            for ds in (0.0, 3.0, -3.0):
                for da in (0.0, 5.0, -5.0):
                    seed = guess + ds * plane.superior + da * plane.anterior
                    try:
                        found = track_disc(features, grid, plane, k, seed, edge_level=level)
                    except RoiError:
                        continue
                    if _neighbours(out[-1], found, plane) and _neighbours(found, lower, plane):
                        out.append(found)
                        break
                else:
                    continue
                break
        out.append(lower)
    return out


def _seeds(features: np.ndarray, plane: SlicePlane) -> list[np.ndarray]:
    """Candidate disc centres (plane mm): thin structures across the superior axis."""
    spacing = np.linalg.norm(plane.r, axis=0)
    sigma_mm = 3.0
    r_inv = np.linalg.inv(plane.r)
    sup = plane.superior
    ant = plane.anterior
    response = np.zeros(features.shape[1:])
    for ch in features:
        sig = sigma_mm / spacing
        h_ii = ndimage.gaussian_filter(ch, sig, order=(2, 0))
        h_jj = ndimage.gaussian_filter(ch, sig, order=(0, 2))
        h_ij = ndimage.gaussian_filter(ch, sig, order=(1, 1))
        h_vox = np.array([[h_ii, h_ij], [h_ij, h_jj]])  # (2, 2, I, J)
        # Second derivatives in plane mm: H_p = R^-T H_ij R^-1.
        h_mm = np.einsum("ai,ijxy,jb->abxy", r_inv.T, h_vox, r_inv)
        d_ss = np.einsum("a,abxy,b->xy", sup, h_mm, sup)
        d_aa = np.einsum("a,abxy,b->xy", ant, h_mm, ant)
        response += np.clip(np.abs(d_ss) - np.abs(d_aa), 0, None) * sigma_mm**2
    body = features.max(axis=0) > 0.05
    response[~body] = 0
    size = np.maximum(np.round(_MERGE_MM / spacing).astype(int), 1)
    peaks = (response == ndimage.maximum_filter(response, size=tuple(size))) & (response > 0)
    ii, jj = np.nonzero(peaks)
    if ii.size == 0:
        return []
    values = response[ii, jj]
    threshold = 0.1 * values.max()
    order = np.argsort(values)[::-1]
    order = order[values[order] >= threshold][:_MAX_SEEDS]
    ij = np.stack([ii[order], jj[order]], axis=1).astype(float)
    return list(plane.to_plane(ij))


def _column(tracks: list[DiscTrack], plane: SlicePlane) -> list[DiscTrack]:
    """The longest chain of discs that can be one spine, ordered from the top."""
    if not tracks:
        return []
    pos_s = np.array([t.centre_2d @ plane.superior for t in tracks])
    order = np.argsort(-pos_s)  # top first
    ts = [tracks[i] for i in order]
    n = len(ts)
    best_len = [1] * n
    prev = [-1] * n
    for j in range(n):
        for i in range(j):
            if _neighbours(ts[i], ts[j], plane) and best_len[i] + 1 > best_len[j]:
                best_len[j] = best_len[i] + 1
                prev[j] = i
    # Longest chain; among equals the one with the most contrast.
    end = max(range(n), key=lambda j: (best_len[j], _chain_strength(ts, prev, j)))
    chain = []
    while end >= 0:
        chain.append(ts[end])
        end = prev[end]
    return chain[::-1]


def _chain_strength(ts: list[DiscTrack], prev: list[int], j: int) -> float:
    total = 0.0
    while j >= 0:
        total += ts[j].strength
        j = prev[j]
    return total


def _neighbours(upper: DiscTrack, lower: DiscTrack, plane: SlicePlane) -> bool:
    """Can ``lower`` be the next disc below ``upper`` in one spine?"""
    d = upper.centre_2d - lower.centre_2d
    along = float(d @ plane.superior)
    across = float(d @ plane.anterior)
    return (
        15.0 <= along <= 100.0
        and abs(across) <= 30.0
        and abs(upper.tilt_deg - lower.tilt_deg) <= 25.0
        and 0.6 <= upper.length_mm / lower.length_mm <= 1.6
    )
