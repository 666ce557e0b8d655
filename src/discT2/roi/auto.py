"""Find the lumbar discs of a whole exam without a reader, and name their levels.

On the middle slice (or the slice given):

1. Candidate points are thin structures lying within 50 degrees of the axial plane (Hessian of
   the proton-density weighted channel at the scale of a disc's half height). From each a disc
   is grown (:func:`~discT2.roi.segment.track_disc`, which refuses points not inside a disc) and,
   unless the point was near its middle, grown again from the centre of what it found.
2. The discs are chained from the top into columns a spine can make (neighbours 15-100 mm apart
   along the superior axis, less than 30 mm apart along the anterior one, similar tilt and
   length). Where a column has a gap of about two spacings, the missed disc is looked for again
   around where its neighbours put it; beyond its ends the next disc is looked for one spacing
   away, else two (a disc missed in between), until none is found.
3. The spine is the longest column with the spinal canal (fluid: T2 above ~250 ms, from the map
   or between the first and last echo) behind its discs; the gaps between the spinous processes
   are rimmed by bone as well and may form a column behind the canal. Without fluid behind any
   column, a column nearly as long lying 25 mm or more in front of the longest one wins, and
   every level is flagged ``level_unverified``.
4. The neighbouring slices are searched for the same discs (the whole search when the middle
   slice gave fewer than three, or no column with the canal behind it); a column with the canal
   behind it wins, then the slice that cuts the discs longest (the mid-sagittal one).
5. Levels are named from the bottom: the lowest disc is ``L5-S1`` (or ``lowest_level``) when the
   search below it looked inside the image and found no disc (the sacrum, whose fused segments
   have no disc between two endplates). When the place one spacing below the lowest disc lies
   outside the image the sacrum is not seen: every disc is flagged ``level_unverified``. A gap
   that stays open skips a level and flags the disc below it ``disc_missed_above``. Levels are
   never shifted silently; a reader renames them with :func:`relabel`.

Every disc is ``method="auto"`` and flagged ``review``.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.measure import points_in_poly

from discT2.errors import RoiError
from discT2.roi._grid import Grid, SlicePlane, grid_of
from discT2.roi.geometry import DiscGeometry
from discT2.roi.levels import LEVELS, normalise_level
from discT2.roi.segment import DiscTrack, feature_channels, track_disc

__all__ = ["detect_discs", "relabel"]

logger = logging.getLogger(__name__)

#: Candidate points tried per slice.
_MAX_SEEDS = 120
#: Candidates closer than this (mm) to an accepted disc's centre are not tried again.
_MERGE_MM = 8.0
#: A column this far (mm) behind another over the same levels is the posterior elements.
_POSTERIOR_MM = 25.0
#: Behind the spine's discs the fluid indicator (T2 / 300 ms) reaches at least this.
_CANAL_FLUID = 0.8
#: No lumbar level (vertebral body and disc) is taller than this (mm).
_MAX_SPACING_MM = 52.0
#: Neighbouring discs differ in tilt by at most this (degrees): the lumbosacral disc is often
#: tilted 30-45 degrees while L4-L5 lies at 5-20.
_MAX_TILT_STEP_DEG = 35.0
#: Chains of discs grown into columns per slice (longest first).
_MAX_CHAINS = 3
#: Offsets (mm, along the superior and anterior axes) of the points tried where a disc is
#: expected but was not found.
_SEARCH_OFFSETS = [
    (0.0, 0.0),
    (4.0, 0.0),
    (-4.0, 0.0),
    (0.0, 6.0),
    (0.0, -6.0),
    (8.0, 0.0),
    (-8.0, 0.0),
]


@dataclass
class _Column:
    """The discs found on one slice, top to bottom, and what is known about the levels."""

    tracks: list[DiscTrack] = field(default_factory=list)
    missed_above: set[int] = field(default_factory=set)  # indices of discs below an open gap
    bottom_seen: bool = False  # a search one spacing below the lowest disc was inside the image
    canal: bool = True  # fluid (the spinal canal) lies behind most of its discs

    def key(self, centrality: float) -> tuple[float, ...]:
        """Rank of a slice: most discs, then the longest discs (the mid-sagittal slice cuts
        them at their full length), then the slice nearest the middle, then contrast."""
        if not self.tracks:
            return (0.0, 0.0, centrality, 0.0)
        length = float(np.mean([t.length_mm for t in self.tracks]))
        strength = float(np.mean([t.strength for t in self.tracks]))
        return (
            float(len(self.tracks) - len(self.missed_above)),
            round(length),
            centrality,
            strength,
        )


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
        each side of it; the slice where the most discs are found (then the strongest) wins.
    lowest_level : str
        Level of the lowest disc above the sacrum (default ``L5-S1``; e.g. ``L4-L5`` for a
        sacralised L5).
    max_discs : int
        Keep at most this many discs, the lowest ones.
    reader : str
        Recorded as who ran the detection.
    search_slices : int
        How many slices each side of the middle slice to search when ``slice`` is not given.

    Returns
    -------
    list of DiscGeometry
        From the top down, ``method="auto"``, with corners, outline and the slice, flagged
        ``review``; ``level_unverified`` on every disc when the sacrum was not in the image,
        ``disc_missed_above`` below a level that could not be found, ``check_corners`` when a
        corner could not be placed cleanly.

    Raises
    ------
    RoiError
        No disc found, or a slice outside the image.
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
    best, best_key = _Column(), (False, -1.0)
    mid = grid.shape[2] // 2
    for k in sorted(candidates, key=lambda k: abs(k - mid)):  # the middle slice first
        if len(best.tracks) >= 3 and best.canal:
            # The column is known: the same discs on this slice (the mid-sagittal slice is the
            # one that cuts them longest).
            found = _same_discs(image, grid, plane, k, best)
        else:
            found = _discs_on_slice(image, grid, plane, k, LEVELS.index(lowest) + 1)
        logger.debug("slice %d: %d discs", k, len(found.tracks))
        # A column with the spinal canal behind it is the spine; one without may be the
        # posterior elements (the canal can fall between slices or be missed on one).
        key = (found.canal and bool(found.tracks), *found.key(-abs(k - mid)))
        if key > best_key:
            best, best_key = found, key
    if not best.tracks:
        raise RoiError(
            "no disc found automatically on the mid-sagittal slice(s) "
            f"{candidates}; place the discs by hand (corners or one click each)"
        )
    tracks = best.tracks
    # Levels from the bottom up; an open gap skips a level.
    index = [LEVELS.index(lowest)]
    for i in range(len(tracks) - 1, 0, -1):
        index.append(index[-1] - (2 if i in best.missed_above else 1))
    index = index[::-1]  # top first, like tracks
    keep = [i for i, n in enumerate(index) if n >= 0][-max_discs:]
    if len(keep) < len(tracks):
        logger.info(
            "%d disc(s) above T12-L1 or beyond max_discs; left out", len(tracks) - len(keep)
        )
    unverified = not (best.bottom_seen and best.canal)
    if not best.bottom_seen:
        logger.warning(
            "the image ends below the lowest disc found: the sacrum is not seen, so the levels "
            "(lowest named %s) are unverified; check them",
            lowest,
        )
    discs = []
    for i in keep:
        track = tracks[i]
        flags = ["review"]
        if i in best.missed_above:
            flags.append("disc_missed_above")
        if unverified:
            flags.append("level_unverified")
        if track.uneven_ends:
            flags.append("check_corners")
        discs.append(
            DiscGeometry(
                level=LEVELS[index[i]],
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
                        "n_found": len(tracks),
                        "sacrum_seen": bool(best.bottom_seen),
                        "canal_behind": bool(best.canal),
                    },
                    "flags": flags,
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


def _grow(
    features: np.ndarray, grid: Grid, plane: SlicePlane, k: int, seed: np.ndarray
) -> DiscTrack | None:
    """A disc grown from a point, then again from its own centre; None when refused."""
    try:
        track = track_disc(features, grid, plane, k, seed)
    except RoiError:
        return None
    if np.linalg.norm(track.centre_2d - seed) < 0.15 * track.length_mm:
        return track  # the seed was in the middle of the disc already
    try:
        again = track_disc(features, grid, plane, k, track.centre_2d)
    except RoiError:
        return track
    return again if np.linalg.norm(again.centre_2d - track.centre_2d) < 5.0 else track


def _same_discs(image: Any, grid: Grid, plane: SlicePlane, k: int, column: _Column) -> _Column:
    """The discs of a column grown again on slice k from their centres (empty if any fails)."""
    features = feature_channels(image, k)
    tracks = []
    for track in column.tracks:
        try:
            tracks.append(track_disc(features, grid, plane, k, track.centre_2d))
        except RoiError:
            return _Column()
    return _Column(tracks, set(column.missed_above), column.bottom_seen, column.canal)


def _discs_on_slice(image: Any, grid: Grid, plane: SlicePlane, k: int, max_count: int) -> _Column:
    """The spine's discs on one slice, ordered from the top (see the module docstring)."""
    features = feature_channels(image, k)
    tracks: list[DiscTrack] = []
    for seed in _seeds(features, plane):
        if any(_inside_disc(seed, t) for t in tracks):
            continue
        track = _grow(features, grid, plane, k, seed)
        if track is None:
            continue
        if any(np.linalg.norm(t.centre_2d - track.centre_2d) < _MERGE_MM for t in tracks):
            continue
        tracks.append(track)
    columns: list[_Column] = []
    for chain in _chains(tracks, plane)[:_MAX_CHAINS]:
        if any(all(_has(col.tracks, t) for t in chain) for col in columns):
            continue  # already part of a column grown from a longer chain
        column = _Column(tracks=list(chain))
        _fill_gaps(column, features, grid, plane, k)
        _extend(column, features, grid, plane, k, max_count)
        columns.append(column)
        if len(column.tracks) >= max_count:
            break
    return _pick(columns, plane, _fluid(image, k))


def _inside_disc(point: np.ndarray, track: DiscTrack) -> bool:
    """Whether a point lies in a disc already found (its corner quadrilateral, 2 mm wider)."""
    c = track.corners_2d
    quad = np.array([c["AS"], c["PS"], c["PI"], c["AI"]])
    centre = quad.mean(axis=0)
    grown = centre + (quad - centre) * (1.0 + 2.0 / max(track.height_mm, 1.0))
    return bool(points_in_poly(np.asarray(point, float)[None], grown)[0])


def _has(tracks: list[DiscTrack], track: DiscTrack) -> bool:
    return any(np.linalg.norm(t.centre_2d - track.centre_2d) < _MERGE_MM for t in tracks)


def _search_near(
    guess: np.ndarray,
    features: np.ndarray,
    grid: Grid,
    plane: SlicePlane,
    k: int,
    accept: Any,
) -> DiscTrack | None:
    """A disc grown from points around ``guess`` that ``accept`` takes, or None."""
    for ds, da in _SEARCH_OFFSETS:
        seed = guess + ds * plane.superior + da * plane.anterior
        found = _grow(features, grid, plane, k, seed)
        if found is not None and accept(found):
            return found
    return None


def _spacing(tracks: list[DiscTrack], plane: SlicePlane) -> float:
    """One level's spacing along the superior axis (mm): the median of the gaps between
    neighbouring discs that are not much longer than the shortest one (the others skip a disc).

    No lumbar level (a vertebral body and a disc) is taller than ~50 mm; a longer gap between the
    only two discs known spans two or more levels (taken as ~36 mm each).
    """
    pos = np.array([t.centre_2d @ plane.superior for t in tracks])
    gaps = np.abs(np.diff(pos))
    if gaps.size == 0:
        return 36.0
    spacing = float(np.median(gaps[gaps <= 1.5 * gaps.min()]))
    if spacing > _MAX_SPACING_MM:
        spacing /= round(spacing / 36.0)
    return spacing


def _fill_gaps(
    column: _Column, features: np.ndarray, grid: Grid, plane: SlicePlane, k: int
) -> None:
    """Look again where the column has a gap of about two disc spacings (a missed disc)."""
    tracks = column.tracks
    if len(tracks) < 2:
        return
    spacing = _spacing(tracks, plane)
    out = [tracks[0]]
    missed: set[int] = set()
    for upper, lower in itertools.pairwise(tracks):
        gap = float((upper.centre_2d - lower.centre_2d) @ plane.superior)
        steps = max(round(gap / spacing), 1)
        for m in range(1, steps):
            guess = upper.centre_2d + (lower.centre_2d - upper.centre_2d) * m / steps
            prev = out[-1]
            found = _search_near(
                guess,
                features,
                grid,
                plane,
                k,
                lambda t, prev=prev, lower=lower: (
                    _neighbours(prev, t, plane) and _neighbours(t, lower, plane)
                ),
            )
            if found is not None:
                out.append(found)
        if (out[-1].centre_2d - lower.centre_2d) @ plane.superior > 1.6 * spacing:
            missed.add(len(out))
        out.append(lower)
    column.tracks = out
    column.missed_above = missed


def _extend(
    column: _Column, features: np.ndarray, grid: Grid, plane: SlicePlane, k: int, max_count: int
) -> None:
    """Look for more discs beyond the lowest and the top one, one spacing away, else two (a disc
    missed in between is flagged).

    Records whether the place one spacing below the lowest disc lies inside the image: only
    then does "no disc found there" mean the sacrum.
    """
    upper_edge = np.asarray(features.shape[1:], float) - 0.5

    def inside(point: np.ndarray) -> bool:
        ij = plane.to_ij(point)
        margin = 8.0 / np.linalg.norm(plane.r, axis=0)  # half a disc's length is enough
        return bool(np.all(ij >= -0.5 + margin) and np.all(ij <= upper_edge - margin))

    for downward in (True, False):
        for _ in range(len(LEVELS)):
            ts = column.tracks
            if not downward and len(ts) >= max_count:
                break  # no level left to name above the top disc
            end = ts[-1] if downward else ts[0]
            nxt = (ts[-2] if downward else ts[1]) if len(ts) > 1 else None
            if nxt is not None:
                # One level's spacing (the last two discs may be two levels apart).
                levels = max(
                    round(
                        abs((end.centre_2d - nxt.centre_2d) @ plane.superior) / _spacing(ts, plane)
                    ),
                    1,
                )
                step = (end.centre_2d - nxt.centre_2d) / levels
            else:
                # One disc known: a lumbar spacing (~32 mm) along its own normal.
                theta = math.radians(end.tilt_deg)
                normal = -math.sin(theta) * plane.anterior + math.cos(theta) * plane.superior
                step = (-32.0 if downward else 32.0) * normal
            found, skipped = None, 0
            for skipped, guess in enumerate((end.centre_2d + step, end.centre_2d + 2 * step)):
                if not inside(guess):
                    break
                if downward and skipped == 0:
                    column.bottom_seen = True
                found = _search_near(
                    guess,
                    features,
                    grid,
                    plane,
                    k,
                    (lambda t, end=end: _neighbours(end, t, plane))
                    if downward
                    else (lambda t, end=end: _neighbours(t, end, plane)),
                )
                if found is not None:
                    break
            if found is None:
                break
            if downward:
                column.bottom_seen = False
                column.tracks.append(found)
                if skipped:
                    column.missed_above.add(len(column.tracks) - 1)
            else:
                column.tracks.insert(0, found)
                column.missed_above = {i + 1 for i in column.missed_above}
                if skipped:
                    column.missed_above.add(1)


def _seeds(features: np.ndarray, plane: SlicePlane) -> list[np.ndarray]:
    """Candidate disc centres (plane mm): thin structures lying within 50 degrees of the axial
    plane (discs tilt up to ~45 degrees at L5-S1).

    At a scale of a disc's half height (3 mm) the Hessian of the proton-density weighted channel
    (in plane mm; a T2 map's strongest structures are fluid and fat) has one large eigenvalue
    across a thin band and a small one along it; the response is their
    difference where the across direction is within 50 degrees of the patient's superior axis.
    """
    spacing = np.linalg.norm(plane.r, axis=0)
    sigma_mm = 3.0
    r_inv = np.linalg.inv(plane.r)
    response = np.zeros(features.shape[1:])
    cos_limit = math.cos(math.radians(50.0))
    for ch in features[:1]:  # the proton-density weighted channel (see track_disc)
        sig = sigma_mm / spacing
        h_ii = ndimage.gaussian_filter(ch, sig, order=(2, 0))
        h_jj = ndimage.gaussian_filter(ch, sig, order=(0, 2))
        h_ij = ndimage.gaussian_filter(ch, sig, order=(1, 1))
        h_vox = np.array([[h_ii, h_ij], [h_ij, h_jj]])  # (2, 2, I, J)
        # Second derivatives in plane mm: H_p = R^-T H_ij R^-1.
        h_mm = np.einsum("ai,ijxy,jb->abxy", r_inv.T, h_vox, r_inv)
        hxx, hxy, hyy = h_mm[0, 0], h_mm[0, 1], h_mm[1, 1]
        mean = 0.5 * (hxx + hyy)
        root = np.sqrt(0.25 * (hxx - hyy) ** 2 + hxy**2)
        big = np.where(mean >= 0, mean + root, mean - root)  # eigenvalue of larger magnitude
        small = np.where(mean >= 0, mean - root, mean + root)
        # Its eigenvector (hxy, big - hxx), or (big - hyy, hxy) where that one vanishes.
        vx = np.where(np.abs(hxy) > 1e-12, hxy, big - hyy)
        vy = np.where(np.abs(hxy) > 1e-12, big - hxx, hxy)
        norm = np.hypot(vx, vy) + 1e-12
        across = np.abs((vx * plane.superior[0] + vy * plane.superior[1]) / norm)
        score = np.clip(np.abs(big) - np.abs(small), 0, None) * sigma_mm**2
        response += np.where(across >= cos_limit, score, 0.0)
    body = features.max(axis=0) > 0.05 * features.max()
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


def _chains(tracks: list[DiscTrack], plane: SlicePlane) -> list[list[DiscTrack]]:
    """The discs split into chains a spine can make, longest (then strongest) first."""
    remaining = list(tracks)
    chains: list[list[DiscTrack]] = []
    while remaining:
        chain = _longest_chain(remaining, plane)
        chains.append(chain)
        remaining = [t for t in remaining if not any(t is c for c in chain)]
    return sorted(chains, key=lambda c: (-len(c), -float(np.mean([t.strength for t in c]))))


def _fluid(image: Any, k: int) -> np.ndarray:
    """How fluid-like each voxel of slice k is, 0-1: its T2 over 300 ms (clipped).

    A T2 map gives it directly; echoes give the apparent T2 between the first and the last echo.
    Cerebrospinal fluid (T2 1-2 s) reaches 1; discs, fat and muscle (T2 < 200 ms) stay below
    0.7.
    """
    images = image if isinstance(image, (list, tuple)) else [image]
    out = None
    for img in images:
        if hasattr(img, "echo_times_ms"):
            te = np.asarray(img.echo_times_ms, float)
            first = np.asarray(img.data[:, :, k, 0], float)
            last = np.asarray(img.data[:, :, k, -1], float)
            bright = first > 0.05 * np.percentile(first, 99)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(bright & (last > 0), first / last, np.inf)
                t2 = np.where(ratio > 1.0, (te[-1] - te[0]) / np.log(ratio), 3000.0)
            t2 = np.where(bright, t2, 0.0)
        elif hasattr(img, "t2_ms"):
            t2 = np.nan_to_num(np.asarray(img.t2_ms[:, :, k], float), nan=0.0)
        else:
            continue
        value = np.clip(t2 / 300.0, 0.0, 1.0)
        out = value if out is None else np.maximum(out, value)
    return out if out is not None else np.zeros(grid_of(images[0]).shape[:2])


def _canal_behind(track: DiscTrack, fluid: np.ndarray, plane: SlicePlane) -> float:
    """The most fluid-like signal on a line 2-25 mm behind the disc (the spinal canal)."""
    c = track.corners_2d
    post = 0.5 * (c["PS"] + c["PI"])
    axis = post - 0.5 * (c["AS"] + c["AI"])
    axis = axis / max(float(np.linalg.norm(axis)), 1e-9)
    pts = post + np.arange(2.0, 25.01, 0.5)[:, None] * axis
    ij = plane.to_ij(pts).T
    smooth = ndimage.uniform_filter(fluid, 2)
    return float(ndimage.map_coordinates(smooth, ij, order=1, mode="constant").max())


def _pick(columns: list[_Column], plane: SlicePlane, fluid: np.ndarray) -> _Column:
    """The column that is the spine.

    The spinal canal (cerebrospinal fluid) lies directly behind the discs; the gaps between the
    spinous processes, rimmed by bone as well, may form a column behind it. Among the columns
    with fluid behind most of their discs the longest wins; without such a column, a column at
    most two discs shorter lying ``_POSTERIOR_MM`` or more in front of the longest one wins, and
    the result is marked (its levels are flagged unverified).
    """
    if not columns:
        return _Column()
    for column in columns:
        behind = [_canal_behind(t, fluid, plane) for t in column.tracks]
        column.canal = float(np.median(behind)) >= _CANAL_FLUID
    ranked = sorted(columns, key=lambda c: c.key(0.0), reverse=True)
    with_canal = [c for c in ranked if c.canal]
    if with_canal:
        return with_canal[0]
    best = ranked[0]
    for other in ranked[1:]:
        if len(other.tracks) >= len(best.tracks) - 2 and _ahead(other.tracks, best.tracks, plane):
            best = other
    logger.warning("no spinal canal found behind the discs found; their levels are unverified")
    return best


def _ahead(chain: list[DiscTrack], other: list[DiscTrack], plane: SlicePlane) -> bool:
    """Does ``chain`` lie ``_POSTERIOR_MM`` or more in front of ``other`` over shared levels?"""
    offsets = []
    for t in chain:
        s = t.centre_2d @ plane.superior
        near = [o for o in other if abs(o.centre_2d @ plane.superior - s) < 20.0]
        if near:
            o = min(near, key=lambda o: abs(o.centre_2d @ plane.superior - s))
            offsets.append(float((t.centre_2d - o.centre_2d) @ plane.anterior))
    return len(offsets) >= 1 and float(np.median(offsets)) >= _POSTERIOR_MM


def _longest_chain(tracks: list[DiscTrack], plane: SlicePlane) -> list[DiscTrack]:
    """The longest chain of discs that can be one spine, ordered from the top."""
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
        and abs(upper.tilt_deg - lower.tilt_deg) <= _MAX_TILT_STEP_DEG
        and 0.6 <= upper.length_mm / lower.length_mm <= 1.6
    )
