"""Grow a disc from one click: find its endplates and corners on the echo images or T2 map.

Every vertebral endplate carries a cortical bone plate that is dark in every spin-echo image
(proton density weighted or T2 weighted) and in S0 and T2 maps, whatever the disc (bright healthy
nucleus, dark degenerated one) and the marrow (fatty or not) look like. The disc is the tissue
between two such dark lines, and its corners are where the lines meet the dark walls of the
vertebral bodies. The algorithm works in the disc's own frame, in millimetres:

1. Around the click the images are resampled on a grid ``a`` along the disc and ``b`` across it
   (0.5 mm steps), rotated by the tilt that makes the edges above and below the click sharpest.
2. A *valley* map marks dark lines running along the disc: in each channel (in noise units) the
   amount by which a sample is darker than both of its neighbours ``delta`` mm above and below
   (``delta`` about half the blurred width of a thin line), summed over channels.
3. Each endplate is first the straight valley line (within +-20 degrees of the frame) that is
   darkest on average within 6 mm of the click, on its side of the click; then it is traced
   column by column in both directions while the valley persists.
4. The disc's boundary lies on the disc side of the cortical line: the valley centre less half
   the line's width, which follows from the valley's relative depth under the pixel's blur
   (``w = p (1 - depth ratio)`` for a line narrower than the pixel ``p``).
5. The boundary of each endplate is modelled as a line plus a concavity (a parabola; endplates
   are concave towards the vertebra, and the chord between the corners is the ROI's endplate
   line), fitted robustly so that a local pit (Schmorl node) or noise does not pull it.
6. The corners: in rows 1.5-5.5 mm beyond each endplate (inside its vertebral body) the body's
   anterior and posterior walls are dark bands (cortex and longitudinal ligament) along ``a``;
   their centres, fitted by a line across the rows and extrapolated to the endplate, meet the
   endplate curve at the corners.

A click is refused ("not inside a disc") unless a dark line is found on both sides within 0.75
``max_height_mm``, the structure between them is ``min_height_mm``-``max_height_mm`` high, at least
1.5 times as long as high, and thinner than the tissue beyond each line (a vertebral body).
Everything is in mm in the slice's plane, so any in-plane axis order, sign or pixel size works,
and all channels given are used (echoes; S0 and T2 of a map; or both).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from discT2.errors import RoiError
from discT2.roi._grid import Grid, SlicePlane, grid_of
from discT2.roi.geometry import DiscGeometry

__all__ = ["DiscTrack", "feature_channels", "grow_disc", "noise_sd", "track_disc"]

logger = logging.getLogger(__name__)

_STEP_MM = 0.5  # sampling step of the disc-frame grid
#: Echo time at which a healthy nucleus is brightest against bone and annulus (ms).
_LONG_TE_MS = 100.0
#: Half-width of the window around the click where an endplate is first found (mm).
_WINDOW_MM = 6.0
#: Largest angle of an endplate to the frame's axis (mm per mm as degrees).
_MAX_SLOPE_DEG = 20.0
#: A traced endplate stops after this many mm without a valley.
_GAP_MM = 3.0
#: A column continues an endplate when its valley is at least this fraction of the window's.
_TRACE_FRACTION = 0.25
#: Smallest mean depth of an endplate's dark line near the click, in noise SDs (the discs of
#: the phantom at SNR 20-50 give 5-30).
_MIN_ENDPLATE_SNR = 4.0
#: Smallest depth of a wall's dark band in one row, in noise SDs.
_MIN_VALLEY_SNR = 3.0
#: A vertebral body is at least this many times as high as the disc next to it.
_BODY_RATIO = 1.5
#: The vertebral bodies above and below a disc differ by less than this fraction per channel.
_SAME_BODY = 0.3
#: Largest angle between the two endplates of a disc (degrees).
_MAX_WEDGE_DEG = 35.0


def noise_sd(channel: np.ndarray) -> float:
    """Noise SD of an image, from the differences of neighbouring pixels (robust median).

    Pixels below the 5th percentile of the non-zero values (background of a fitted map, padding)
    are left out. Returns 0 for an image without variation.
    """
    x = np.asarray(channel, dtype=np.float64)
    keep = np.isfinite(x) & (x != 0)
    if keep.sum() < 16:
        return 0.0
    floor = np.percentile(x[keep], 5)
    keep &= x >= floor
    diffs = []
    for axis in (0, 1):
        d = np.diff(x, axis=axis)
        k = np.logical_and(
            np.take(keep, range(x.shape[axis] - 1), axis=axis), np.diff(keep, axis=axis) == 0
        )
        diffs.append(d[k])
    d = np.concatenate(diffs)
    if d.size < 16:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2.0))


def _echo_indices(echo_times_ms: np.ndarray) -> list[int]:
    """First echo, the echo nearest 100 ms (nucleus bright, bone and annulus dark), and the last."""
    te = np.asarray(echo_times_ms, float)
    n = len(te)
    return sorted({0, int(np.argmin(np.abs(te - _LONG_TE_MS))), n - 1})


def _fill_holes(values: np.ndarray) -> np.ndarray:
    """Voxels a fit left NaN, replaced by the median of their finite 3x3 neighbours.

    An isolated failed fit inside tissue would otherwise be a black dot, which looks like a
    cross-section of a dark line; NaN without finite neighbours (background) stays NaN.
    """
    out = np.array(values, dtype=np.float64)
    holes = ~np.isfinite(out)
    if not holes.any() or holes.all():
        return out
    padded = np.pad(out, 1, constant_values=np.nan)
    for i, j in zip(*np.nonzero(holes), strict=True):
        block = padded[i : i + 3, j : j + 3]
        if np.isfinite(block).sum() >= 5:
            out[i, j] = float(np.nanmedian(block))
    return out


def feature_channels(image: Any, k: int) -> np.ndarray:
    """Image channels of slice k in noise units, shape (C, I, J), for finding discs.

    A multi-echo series gives its first echo, the echo nearest 100 ms and its last echo; a T2 map
    gives S0 and T2 (clipped to 0-300 ms). A sequence of images on one grid gives all their
    channels. Each channel is divided by its noise SD (:func:`noise_sd`, floored at 0.1 % of its
    99th percentile for noise-free data); NaN becomes 0. The first channel is the most proton
    density weighted one (first echo or S0).

    Raises
    ------
    RoiError
        Not a series or T2 map, or an empty slice.
    """
    images = image if isinstance(image, (list, tuple)) else [image]
    channels: list[np.ndarray] = []
    for img in images:
        if hasattr(img, "echo_times_ms"):
            data = np.asarray(img.data[:, :, k, :], dtype=np.float64)
            for e in _echo_indices(img.echo_times_ms):
                channels.append(data[..., e])
        elif hasattr(img, "t2_ms"):
            s0 = getattr(img, "s0", None)
            if s0 is not None and np.isfinite(s0[:, :, k]).any():
                channels.append(_fill_holes(np.asarray(s0[:, :, k], np.float64)))
            t2 = _fill_holes(np.asarray(img.t2_ms[:, :, k], dtype=np.float64))
            channels.append(np.clip(np.nan_to_num(t2, nan=0.0), 0.0, 300.0))
        else:
            raise RoiError(
                f"growing a disc needs echo images or a T2 map; got {type(img).__name__}"
            )
    out = []
    for raw in channels:
        ch = np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0)
        top = float(np.percentile(ch, 99))
        if top <= 0:
            continue
        sd = max(noise_sd(ch), 1e-3 * top)
        out.append(ch / sd)
    if not out:
        raise RoiError("the image slice is empty (all zero or NaN); cannot grow a disc")
    return np.stack(out)


@dataclass
class DiscTrack:
    """A disc found from a seed, in the slice's plane mm and in RAS."""

    corners_2d: dict[str, np.ndarray]
    outline_2d: np.ndarray
    corners_ras: dict[str, np.ndarray]
    outline_ras: np.ndarray
    slice: int
    tilt_deg: float
    height_mm: float
    length_mm: float
    strength: float  # mean depth of the weaker endplate's dark line, in noise SDs
    centre_2d: np.ndarray
    uneven_ends: tuple[str, ...] = ()  # sides where the corners could not be found cleanly


class _Frame:
    """Samples image channels on a rotated grid around a point of one slice."""

    def __init__(self, features: np.ndarray, plane: SlicePlane) -> None:
        self.features = features
        self.plane = plane

    def axes(self, theta: float) -> tuple[np.ndarray, np.ndarray]:
        u = math.cos(theta) * self.plane.anterior + math.sin(theta) * self.plane.superior
        v = -math.sin(theta) * self.plane.anterior + math.cos(theta) * self.plane.superior
        return u, v

    def sample(self, origin: np.ndarray, theta: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Channels on the grid origin + a u + b v; shape (C, len(a), len(b)).

        Points outside the slice take the nearest edge value; :meth:`inside` tells which.
        """
        ij = self._ij(origin, theta, a, b)
        out = np.stack(
            [ndimage.map_coordinates(ch, ij, order=1, mode="nearest") for ch in self.features]
        )
        return out.reshape(len(self.features), len(a), len(b))

    def inside(self, origin: np.ndarray, theta: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Which grid points lie inside the slice; shape (len(a), len(b))."""
        ij = self._ij(origin, theta, a, b)
        upper = np.asarray(self.features.shape[1:], float)[:, None] - 0.5
        ok = np.all((ij >= -0.5) & (ij <= upper), axis=0)
        return ok.reshape(len(a), len(b))

    def _ij(self, origin: np.ndarray, theta: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        u, v = self.axes(theta)
        pts = origin + a[:, None, None] * u + b[None, :, None] * v
        return self.plane.to_ij(pts.reshape(-1, 2)).T


def _best_tilt(frame: _Frame, seed: np.ndarray, max_tilt_deg: float) -> float:
    """The disc's tilt near the seed: the dominant gradient orientation (structure tensor).

    Around a click inside a disc the strongest edges are the endplates above and below it; the
    gradients across them set the orientation (proton-density weighted channel, 6 mm Gaussian
    window). The result is clipped to +-``max_tilt_deg``; the endplate search allows 20 more
    degrees either way.
    """
    half = 12.0
    grid_mm = np.arange(-half, half + 1e-9, _STEP_MM)
    # The proton-density weighted channel: its strongest edges are the cortical lines (a T2
    # map's strongest may be the nucleus' rim, which runs every way).
    patch = frame.sample(seed, 0.0, grid_mm, grid_mm)[:1]  # (1, A, B) in the patient's axes
    patch = ndimage.gaussian_filter(patch, (0, 1.0 / _STEP_MM, 1.0 / _STEP_MM))
    ga = np.gradient(patch, _STEP_MM, axis=1)
    gb = np.gradient(patch, _STEP_MM, axis=2)
    r2 = grid_mm[:, None] ** 2 + grid_mm[None, :] ** 2
    w = np.exp(-0.5 * r2 / 6.0**2)
    jaa = float(np.sum(w * (ga * ga).sum(axis=0)))
    jbb = float(np.sum(w * (gb * gb).sum(axis=0)))
    jab = float(np.sum(w * (ga * gb).sum(axis=0)))
    # Orientation of the dominant gradient, measured from the superior axis towards anterior.
    phi = 0.5 * math.atan2(2.0 * jab, jbb - jaa)
    limit = math.radians(max_tilt_deg)
    # The endplates' normal is v(theta) = (-sin theta, cos theta): theta = -phi.
    return float(np.clip(-phi, -limit, limit))


def _valley(samples: np.ndarray, shift: int, axis: int) -> np.ndarray:
    """How much darker each sample is than both neighbours ``shift`` samples away, >= 0.

    ``samples`` (C, ...) in noise units; the result sums the channels. Edges take the nearest
    value (no valley at the border).
    """
    n = samples.shape[axis]
    idx = np.arange(n)
    lo = np.take(samples, np.clip(idx - shift, 0, n - 1), axis=axis)
    hi = np.take(samples, np.clip(idx + shift, 0, n - 1), axis=axis)
    return np.clip(np.minimum(lo, hi) - samples, 0.0, None).sum(axis=0)


class _Refusal(RoiError):
    """The seed is not inside a disc."""


class _Unsure(RoiError):
    """Something disc-like is at the seed, but its corners could not be found consistently."""


@dataclass
class _Endplate:
    """One endplate in the disc frame: the traced valley and the fitted boundary curve."""

    sign: int  # +1 superior (b > 0), -1 inferior
    cols: np.ndarray  # a (mm) of the traced columns
    valley_b: np.ndarray  # b (mm) of the valley centre in each column
    depth: np.ndarray  # valley depth in each column (noise units, summed)
    score: float  # mean valley depth in the window around the click
    width_mm: float = 0.0  # estimated width of the cortical line
    coef: np.ndarray | None = None  # boundary b(a) = polyval(coef, a)
    ant: float = 0.0  # a of the anterior corner
    post: float = 0.0  # a of the posterior corner
    wall_ok: tuple[bool, bool] = (False, False)

    def boundary(self, a: np.ndarray | float) -> np.ndarray:
        """The disc's boundary b(a): the fitted parabola over the traced columns, continued
        straight (along its tangent) beyond them, where a parabola is not to be trusted."""
        assert self.coef is not None
        lo, hi = float(self.cols.min()), float(self.cols.max())
        x = np.asarray(a, float)
        inner = np.clip(x, lo, hi)
        slope = np.polyval(np.polyder(self.coef), inner)
        return np.polyval(self.coef, inner) + slope * (x - inner)


def _line_search(
    vmap: np.ndarray, a: np.ndarray, b: np.ndarray, sign: int, c_min: float, c_max: float
) -> tuple[float, float, float] | None:
    """Darkest straight line ``b = c + m a`` within the window, on one side: (c, m, mean depth).

    A coarse grid (0.5 mm, 2 degrees, every other column) is refined around its best line.
    """
    win = np.nonzero(np.abs(a) <= _WINDOW_MM)[0]

    def scores(offsets: np.ndarray, slopes: np.ndarray, cols: np.ndarray) -> np.ndarray:
        bb = offsets[None, :, None] + slopes[:, None, None] * a[cols][None, None, :]
        ia = np.broadcast_to(cols[None, None, :], bb.shape).astype(float)
        ib = (bb - b[0]) / _STEP_MM
        vals = ndimage.map_coordinates(vmap, [ia.ravel(), ib.ravel()], order=1, mode="constant")
        return vals.reshape(bb.shape).mean(axis=2)

    if c_max < c_min:
        return None
    angles = np.arange(-_MAX_SLOPE_DEG, _MAX_SLOPE_DEG + 0.1, 2.0)
    offsets = sign * np.arange(c_min, c_max + 1e-9, 0.5)
    coarse = scores(offsets, np.tan(np.radians(angles)), win[::2])
    im, ic = np.unravel_index(int(np.argmax(coarse)), coarse.shape)
    if coarse[im, ic] <= 0:
        return None
    fine_angles = angles[im] + np.arange(-2.0, 2.01, 0.5)
    fine_offsets = offsets[ic] + sign * np.arange(-0.5, 0.51, 0.125)
    fine_offsets = fine_offsets[(sign * fine_offsets >= c_min) & (sign * fine_offsets <= c_max)]
    fine = scores(fine_offsets, np.tan(np.radians(fine_angles)), win)
    jm, jc = np.unravel_index(int(np.argmax(fine)), fine.shape)
    return float(fine_offsets[jc]), float(np.tan(np.radians(fine_angles[jm]))), float(fine[jm, jc])


def _peak(profile: np.ndarray, lo: int, hi: int) -> tuple[float, float]:
    """Sub-sample position and height of the maximum of ``profile[lo:hi]``."""
    seg = profile[lo:hi]
    j = int(np.argmax(seg))
    height = float(seg[j])
    pos = float(lo + j)
    if 0 < j < len(seg) - 1:
        y0, y1, y2 = seg[j - 1], seg[j], seg[j + 1]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            pos += float(np.clip(0.5 * (y0 - y2) / denom, -0.5, 0.5))
    return pos, height


def _trace(
    vmap: np.ndarray,
    valid: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    c: float,
    m: float,
    score: float,
    sign: int,
    other: _Endplate | None = None,
) -> _Endplate:
    """Follow a valley from the window line in both directions along ``a``.

    Each next column is searched within 0.75 mm of the curve (a line, then a parabola) fitted
    to all columns found so far; the trace stops after 2 mm without a valley at least 0.3 times
    the window's. With ``other`` (the opposite endplate) a valley closer than 1.5 mm to it is
    not taken (a thin disc's two endplates must not merge).
    """
    n_a, n_b = vmap.shape
    tau = _TRACE_FRACTION * score
    reach = max(round(0.75 / _STEP_MM), 1)
    gap = round(_GAP_MM / _STEP_MM)
    found: dict[int, tuple[float, float]] = {}
    other_coef = None
    if other is not None and other.cols.size >= 6:
        other_coef = np.polyfit(other.cols, other.valley_b, 2 if other.cols.size >= 12 else 1)

    def look(ia: int, b_pred: float) -> tuple[float, float] | None:
        ib = round((b_pred - b[0]) / _STEP_MM)
        lo, hi = max(ib - reach, 0), min(ib + reach + 1, n_b)
        if hi - lo < 3 or not valid[ia, int(np.clip(ib, 0, n_b - 1))]:
            return None
        pos, height = _peak(vmap[ia], lo, hi)
        if height < tau:
            return None
        hit = b[0] + pos * _STEP_MM
        if other_coef is not None and sign * (hit - np.polyval(other_coef, a[ia])) < 1.5:
            return None
        return hit, height

    win = np.nonzero(np.abs(a) <= _WINDOW_MM)[0]
    for ia in win:
        hit = look(int(ia), c + m * a[ia])
        if hit is not None:
            found[int(ia)] = hit

    fit: dict[str, Any] = {"n": -1, "coef": np.array([m, c])}

    def predict(ia: int) -> float:
        # Refit every 4 new columns (the curve changes slowly).
        if len(found) >= 6 and len(found) - fit["n"] >= 4:
            xs = a[list(found)]
            ys = np.array([v[0] for v in found.values()])
            fit["coef"] = np.polyfit(xs, ys, 2 if np.ptp(xs) >= 16.0 else 1)
            fit["n"] = len(found)
        return float(np.polyval(fit["coef"], a[ia]))

    for direction in (+1, -1):
        misses = 0
        ia = int(win[-1] if direction > 0 else win[0])
        while 0 <= ia + direction < n_a and misses < gap:
            ia += direction
            hit = look(ia, predict(ia))
            if hit is None:
                misses += 1
                continue
            misses = 0
            found[ia] = hit
    cols = np.array(sorted(found))
    return _Endplate(
        sign=sign,
        cols=a[cols] if cols.size else np.zeros(0),
        valley_b=np.array([found[i][0] for i in cols]),
        depth=np.array([found[i][1] for i in cols]),
        score=score,
    )


def _robust_parabola(x: np.ndarray, y: np.ndarray, sign: int) -> np.ndarray:
    """``y = c2 x^2 + c1 x + c0`` by iteratively trimmed least squares.

    The curvature may only bend the curve outward (an endplate concave towards the vertebra,
    ``sign * c2 <= 0``); a straight line is fitted otherwise.
    """
    keep = np.ones(x.size, bool)
    coef = np.polyfit(x, y, 1)
    for _ in range(4):
        if keep.sum() < 6:
            break
        coef = np.polyfit(x[keep], y[keep], 2)
        if sign * coef[0] > 0:
            coef = np.r_[0.0, np.polyfit(x[keep], y[keep], 1)]
        resid = np.abs(y - np.polyval(coef, x))
        scale = max(1.4826 * float(np.median(resid[keep])), 0.25)
        keep = resid <= 2.5 * scale
    return coef


def _line_centre(prof: np.ndarray, near: float, shift: int) -> tuple[float, float] | None:
    """Sub-sample centre of the dark line near index ``near`` of a profile, and its depth ratio.

    A line of width ``w`` blurred by a pixel ``p`` leaves ``r = 1 - w / p`` of the darker side at
    its bottom and ramps from each side's level (``shift`` samples away) to ``r`` times it; the
    half-way points of the two ramps lie symmetrically about the line's centre whatever the two
    sides' levels are, so their midpoint is the centre (the darkest sample leans towards the
    darker side). Returns None when the line or its sides cannot be measured.
    """
    n = prof.shape[0]
    ib = round(near)
    lo, hi = max(ib - 2, shift + 1), min(ib + 3, n - shift - 1)
    if hi <= lo:
        return None
    im = lo + int(np.argmin(prof[lo:hi]))
    left, right = prof[im - shift], prof[im + shift]
    if min(left, right) <= 0:
        return None
    r = float(np.clip(prof[im] / min(left, right), 0.0, 1.0))
    ends = []
    for level, step in ((left * (1 + r) / 2, -1), (right * (1 + r) / 2, 1)):
        pos = None
        for j in range(im, im + step * shift, step):
            y0, y1 = prof[j], prof[j + step]
            if (y0 - level) * (y1 - level) <= 0 and y1 != y0:
                pos = j + step * (level - y0) / (y1 - y0)
                break
        if pos is None:
            return None
        ends.append(pos)
    return 0.5 * (ends[0] + ends[1]), r


def _refine_line(
    profile0: np.ndarray, b: np.ndarray, ep: _Endplate, a: np.ndarray, shift: int, pixel_mm: float
) -> float:
    """Centre each traced column on its dark line (:func:`_line_centre`); the line's width (mm).

    ``profile0`` (A, B) is the proton-density weighted channel. Updates ``ep.valley_b``; the
    width comes from the median depth ratio, the darkest sample holding on average 3/4 of a
    narrow line (it falls anywhere within a pixel; interpolation): ``1 - r = 0.75 w / p``.
    """
    ratios, centres = [], []
    for col, vb in zip(ep.cols, ep.valley_b, strict=True):
        prof = profile0[round((col - a[0]) / _STEP_MM)]
        found = _line_centre(prof, (vb - b[0]) / _STEP_MM, shift)
        if found is None:
            centres.append(vb)
            continue
        centres.append(b[0] + found[0] * _STEP_MM)
        ratios.append(found[1])
    ep.valley_b = np.asarray(centres, float)
    if len(ratios) < 3:
        return 0.0
    ratio = float(np.median(ratios))
    return float(min(pixel_mm * (1.0 - ratio) / 0.75, 1.5 * pixel_mm))


def _walls(
    profile0: np.ndarray,
    valid: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    ep: _Endplate,
    pixel_mm: float,
    reach: tuple[float, float],
) -> tuple[tuple[float, bool], tuple[float, bool]]:
    """Anterior and posterior corner positions (a, mm) of one endplate, and whether found.

    Rows 1-5 mm beyond the endplate's cortex (inside the vertebral body) are profiled along
    ``a`` in the proton-density weighted channel ``profile0`` (A, B). Walking from the click's
    column towards each end, the body's wall is the first clear dark band (cortex, and the
    longitudinal ligament outside it; marrow has none). Its centre in each row, fitted by a line
    across the rows, is extrapolated to the endplate and moved out by half the cortex measured
    across the wall (the corner is the bone's outer face; a wall may meet the endplate
    obliquely).
    """
    n_a = profile0.shape[0]
    offsets = ep.width_mm + np.arange(1.0, 5.01, 0.5)
    rows = ep.boundary(a)[None, :] + ep.sign * offsets[:, None]  # (R, A)
    ib = (rows - b[0]) / _STEP_MM
    ia = np.broadcast_to(np.arange(n_a, dtype=float)[None, :], ib.shape)
    coords = [ia.ravel(), ib.ravel()]
    prof = ndimage.map_coordinates(profile0, coords, order=1, mode="nearest").reshape(ib.shape)
    inside = ndimage.map_coordinates(valid.astype(float), coords, order=0, mode="constant")
    shift = max(round((1.2 + 0.6 * pixel_mm) / _STEP_MM), 2)
    vmap = _valley(prof[None], shift, axis=2)  # (R, A)
    vmap[inside.reshape(ib.shape) < 0.5] = 0.0
    # A wall runs across the rows, noise does not: average each row with its neighbours.
    vmap = ndimage.uniform_filter1d(vmap, 3, axis=0, mode="nearest")
    ia0 = int(np.argmin(np.abs(a)))
    out = []
    for end, far, direction in ((ep.cols.max(), reach[0], +1), (ep.cols.min(), reach[1], -1)):
        stop = int(np.clip(round((far + 10.0 * direction - a[0]) / _STEP_MM), 0, n_a - 1))
        span = np.arange(ia0, stop + direction, direction)
        if span.size < 5:
            out.append((float(end), False))
            continue
        pos = []
        for r in range(vmap.shape[0]):
            seg = vmap[r, span]
            top = float(seg.max())
            if top < _MIN_VALLEY_SNR:
                continue
            is_peak = (seg >= 0.5 * top) & (seg >= np.roll(seg, 1)) & (seg >= np.roll(seg, -1))
            is_peak[[0, -1]] = False
            peaks = np.nonzero(is_peak)[0]
            if peaks.size == 0:
                continue
            j = int(span[peaks[0]])
            p, _ = _peak(vmap[r], max(j - 2, 0), min(j + 3, n_a))
            found = _line_centre(prof[r], p, shift)
            if found is not None:
                p = found[0]
            pos.append((offsets[r], a[0] + p * _STEP_MM))
        if len(pos) < 4:
            out.append((float(end), False))
            continue
        o, pa = np.array(pos).T
        # Rows that caught something else (a speck, the endplate's own line) lie far from the
        # others: start from the rows near the median, then trim.
        keep = np.abs(pa - np.median(pa)) <= 3.0
        if keep.sum() < 4:
            out.append((float(end), False))
            continue
        coef = np.polyfit(o[keep], pa[keep], 1)
        for _ in range(2):
            resid = np.abs(pa - np.polyval(coef, o))
            keep = resid <= max(2.5 * 1.4826 * float(np.median(resid[keep])), 0.5)
            if keep.sum() < 4:
                break
            coef = np.polyfit(o[keep], pa[keep], 1)
        # The valley marks the middle of the wall's cortex; the corner is its outer face.
        outward = 0.5 * ep.width_mm * math.hypot(1.0, float(coef[0]))
        out.append((float(np.polyval(coef, 0.0)) + direction * outward, True))
    return out[0], out[1]


def _check_shape(corners: dict[str, np.ndarray], plane: SlicePlane, max_tilt_deg: float) -> None:
    """Refuse corners that make no disc: an axis far from anterior, endplates far from parallel."""
    a_mid = 0.5 * (corners["AS"] + corners["AI"])
    p_mid = 0.5 * (corners["PS"] + corners["PI"])
    axis = a_mid - p_mid
    cos = float(axis @ plane.anterior) / max(float(np.linalg.norm(axis)), 1e-9)
    tilt = math.degrees(math.acos(float(np.clip(cos, -1.0, 1.0))))
    if tilt > max_tilt_deg + 10.0:
        raise _Refusal(
            f"the structure at the point runs {tilt:.0f} degrees from the patient's anterior "
            f"direction (a disc at most {max_tilt_deg:.0f})"
        )
    sup = corners["AS"] - corners["PS"]
    inf = corners["AI"] - corners["PI"]
    cross = float(sup[0] * inf[1] - sup[1] * inf[0])
    wedge = math.degrees(math.atan2(abs(cross), float(sup @ inf)))
    if wedge > _MAX_WEDGE_DEG:
        raise _Refusal(
            f"the two dark lines at the point meet at {wedge:.0f} degrees; a disc's endplates "
            f"are within {_MAX_WEDGE_DEG:.0f} degrees of parallel"
        )


def _tissues(
    samples: np.ndarray, a: np.ndarray, b: np.ndarray, sup: _Endplate, inf: _Endplate
) -> dict[str, np.ndarray]:
    """Median signal (per channel, noise units) of the disc and of the bone beyond each endplate,
    within 5 mm of the click along the disc."""
    cols = np.nonzero(np.abs(a) <= 5.0)[0]
    out: dict[str, list[np.ndarray]] = {"disc": [], "upper": [], "lower": []}
    for ia in cols:
        top, bottom = float(sup.boundary(a[ia])), float(inf.boundary(a[ia]))
        col = samples[:, ia, :]
        out["disc"].append(col[:, (b > bottom + 1.0) & (b < top - 1.0)])
        up = top + sup.width_mm
        out["upper"].append(col[:, (b >= up + 1.5) & (b <= up + 5.5)])
        down = bottom - inf.width_mm
        out["lower"].append(col[:, (b <= down - 1.5) & (b >= down - 5.5)])
    return {
        k: (
            np.median(np.concatenate(v, axis=1), axis=1)
            if v and np.concatenate(v, axis=1).size
            else np.zeros(samples.shape[0])
        )
        for k, v in out.items()
    }


def track_disc(
    features: np.ndarray,
    grid: Grid,
    plane: SlicePlane,
    k: int,
    seed_2d: np.ndarray,
    *,
    edge_level: float | None = None,
    max_height_mm: float = 20.0,
    min_height_mm: float = 2.0,
    max_half_length_mm: float = 40.0,
    max_tilt_deg: float = 45.0,
) -> DiscTrack:
    """Find the disc around a seed point of slice k (plane mm); see the module docstring.

    Parameters
    ----------
    features : ndarray, shape (C, I, J)
        Channels of the slice in noise units (:func:`feature_channels`).
    grid, plane : Grid, SlicePlane
        The image's grid and its slice frame.
    k : int
        The slice.
    seed_2d : ndarray, shape (2,)
        The click in plane mm.
    edge_level : float, optional
        Unused (kept for callers of the earlier signature).
    max_height_mm, min_height_mm, max_half_length_mm, max_tilt_deg : float
        Limits of the disc searched.

    Raises
    ------
    RoiError
        The seed is not inside anything that looks like a disc.
    """
    del edge_level
    frame = _Frame(features, plane)
    seed = np.asarray(seed_2d, float)
    theta = _best_tilt(frame, seed, max_tilt_deg)
    u_dir, v_dir = frame.axes(theta)
    pixel_b = plane.voxel_length_mm(v_dir)
    pixel_a = plane.voxel_length_mm(u_dir)
    shift = max(round((0.75 + 0.6 * pixel_b) / _STEP_MM), 2)
    c_max = 0.75 * max_height_mm

    def valley_map(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        raw = frame.sample(seed, theta, a, b)
        valid = frame.inside(seed, theta, a, b)
        samples = ndimage.gaussian_filter1d(raw, 0.75 / _STEP_MM, axis=1)
        # The cortical lines are darkest against their surroundings in the proton-density
        # weighted channel; at long echoes the annulus next to them is dark as well and would
        # widen them.
        vmap = _valley(samples[:1], shift, axis=2)
        vmap[~valid] = 0.0
        return samples, valid, vmap

    # First only the window around the click: most points that are not in a disc (tried by
    # detect_discs) are refused here at a fraction of the cost.
    near_a = np.arange(-_WINDOW_MM - 1.0, _WINDOW_MM + 1.0 + _STEP_MM / 2, _STEP_MM)
    near_b = np.arange(-c_max - 4.0, c_max + 4.0 + _STEP_MM / 2, _STEP_MM)
    vmap_near = valley_map(near_a, near_b)[2]
    for sign in (+1, -1):
        line = _line_search(vmap_near, near_a, near_b, sign, 1.0, c_max)
        if line is None or line[2] < _MIN_ENDPLATE_SNR:
            raise _Refusal(f"no dark endplate line {'above' if sign > 0 else 'below'} the point")
    half = max_half_length_mm + 12.0
    a = np.arange(-half, half + _STEP_MM / 2, _STEP_MM)
    reach = 1.6 * max_height_mm
    b = np.arange(-reach, reach + _STEP_MM / 2, _STEP_MM)
    samples, valid, vmap = valley_map(a, b)
    ends: dict[int, _Endplate] = {}
    for sign in (+1, -1):
        line = _line_search(vmap, a, b, sign, 1.0, c_max)
        where = "above" if sign > 0 else "below"
        if line is None or line[2] < _MIN_ENDPLATE_SNR:
            raise _Refusal(f"no dark endplate line {where} the point")
        ep = _trace(vmap, valid, a, b, *line, sign, other=ends.get(-sign))
        if ep.cols.size < 8:
            raise _Refusal(f"the dark line {where} the point is too short for an endplate")
        width = _refine_line(samples[0], b, ep, a, shift, pixel_b)
        # Near the corners the endplate's cortex turns into the wall's: leave the ends out.
        span = ep.cols.max() - ep.cols.min()
        inner = (ep.cols >= ep.cols.min() + 0.12 * span) & (ep.cols <= ep.cols.max() - 0.12 * span)
        valley_coef = _robust_parabola(ep.cols[inner], ep.valley_b[inner], sign)
        # The boundary is the disc-side face of the cortical line.
        ep.width_mm = width
        ep.coef = valley_coef.copy()
        ep.coef[-1] -= sign * 0.5 * width
        ends[sign] = ep
    sup, inf = ends[+1], ends[-1]
    h0 = float(sup.boundary(0.0) - inf.boundary(0.0))
    if not min_height_mm <= h0 <= max_height_mm:
        raise _Refusal(
            f"the structure at the point is {h0:.1f} mm high (a disc is "
            f"{min_height_mm:g}-{max_height_mm:g} mm)"
        )
    # Beyond each endplate lies a vertebral body, at least 1.5 times as high as the disc (lumbar
    # discs are a third to a half of their bodies' height; the gaps between spinous processes,
    # which are also dark-rimmed bone, are not much thinner than the processes): no other dark
    # line along the frame within 1.5 disc heights of it.
    for ep in (sup, inf):
        start = abs(ep.boundary(0.0)) + ep.width_mm + 1.5
        stop = min(abs(ep.boundary(0.0)) + max(_BODY_RATIO * h0, 6.0), b[-1] - 2.0)
        if stop > start:
            other = _line_search(vmap, a, b, ep.sign, start, stop)
            if other is not None and other[2] >= max(0.6 * ep.score, _MIN_VALLEY_SNR):
                raise _Refusal(
                    f"another dark line lies {other[0] * ep.sign:.1f} mm beyond the "
                    f"{'upper' if ep.sign > 0 else 'lower'} one: the structure at the point is "
                    "not a disc between two vertebral bodies"
                )
    tissue = _tissues(samples, a, b, sup, inf)
    # A disc lies between two vertebral bodies of the same tissue.
    up, down = tissue["upper"], tissue["lower"]
    scale = np.maximum(np.abs(up), np.abs(down))
    differ = (np.abs(up - down) > _SAME_BODY * scale) & (scale > 5.0)
    if differ.any():
        raise _Refusal(
            "the structures beyond the two dark lines are different tissues, not two vertebral "
            "bodies"
        )
    uneven: list[str] = []
    # Search each wall beyond the further of the two endplates' traced ends (one endplate may
    # fade before its corner).
    reach = (max(sup.cols.max(), inf.cols.max()), min(sup.cols.min(), inf.cols.min()))
    for ep in (sup, inf):
        (ep.ant, ok_a), (ep.post, ok_p) = _walls(samples[0], valid, a, b, ep, pixel_a, reach)
        ep.wall_ok = (ok_a, ok_p)
    # A wall not found: the vertebral bodies are stacked, so take the other endplate's corner
    # (flagged for review); without either, the traced end.
    for side, name in ((0, "anterior"), (1, "posterior")):
        for ep, other in ((sup, inf), (inf, sup)):
            if not ep.wall_ok[side]:
                uneven.append(name)
                if other.wall_ok[side]:
                    if side == 0:
                        ep.ant = other.ant
                    else:
                        ep.post = other.post
    uneven = sorted(set(uneven))
    if not (min(sup.ant, inf.ant) > 0 > max(sup.post, inf.post)):
        raise _Unsure("the endplates found do not extend both ways from the point")
    length = 0.5 * ((sup.ant - sup.post) + (inf.ant - inf.post))
    if length < 1.5 * h0 or length < 10.0:
        raise _Refusal(
            f"the structure at the point is {length:.1f} mm long and {h0:.1f} mm "
            "high; a disc is much longer than high"
        )
    u, v = u_dir, v_dir

    def to_2d(aa: float | np.ndarray, bb: float | np.ndarray) -> np.ndarray:
        aa, bb = np.asarray(aa, float), np.asarray(bb, float)
        return seed + aa[..., None] * u + bb[..., None] * v

    corners_2d = {
        "AS": to_2d(sup.ant, sup.boundary(sup.ant)),
        "PS": to_2d(sup.post, sup.boundary(sup.post)),
        "AI": to_2d(inf.ant, inf.boundary(inf.ant)),
        "PI": to_2d(inf.post, inf.boundary(inf.post)),
    }
    _check_shape(corners_2d, plane, max_tilt_deg)
    ij = plane.to_ij(np.stack(list(corners_2d.values())))
    upper = np.asarray(features.shape[1:], float) - 0.5
    if np.any(ij < -0.5) or np.any(ij > upper):
        raise _Unsure("a corner of the disc found lies outside the image")

    def arc(ep: _Endplate, forward: bool) -> np.ndarray:
        # The endplate from corner to corner, never inside the chord (the ROI's line).
        xs = np.linspace(ep.post, ep.ant, 25)
        chord = np.interp(xs, [ep.post, ep.ant], [ep.boundary(ep.post), ep.boundary(ep.ant)])
        curve = ep.boundary(xs)
        ys = np.maximum(curve, chord) if ep.sign > 0 else np.minimum(curve, chord)
        pts = to_2d(xs, ys)
        return pts if forward else pts[::-1]

    # AS along the superior endplate to PS, down to PI, along the inferior endplate to AI.
    outline_2d = np.vstack([arc(sup, False), arc(inf, True)])

    def to_ras(p2: np.ndarray) -> np.ndarray:
        ij = plane.to_ij(np.atleast_2d(p2))
        ijk = np.column_stack([ij, np.full(len(ij), float(k))])
        return grid.voxel_to_world(ijk)

    corners_ras = {n: to_ras(p)[0] for n, p in corners_2d.items()}
    centre = np.mean(list(corners_2d.values()), axis=0)
    return DiscTrack(
        corners_2d=corners_2d,
        outline_2d=outline_2d,
        corners_ras=corners_ras,
        outline_ras=to_ras(outline_2d),
        slice=k,
        tilt_deg=math.degrees(theta),
        height_mm=h0,
        length_mm=float(length),
        strength=float(min(sup.score, inf.score)),
        centre_2d=centre,
        uneven_ends=tuple(uneven),
    )


def grow_disc(
    image: Any,
    center_ras_mm: Sequence[float] | np.ndarray,
    level: str,
    *,
    slice: int | None = None,
    reader: str = "",
    max_height_mm: float = 20.0,
    max_half_length_mm: float = 40.0,
) -> DiscGeometry:
    """Grow a disc from one click inside it and derive its corners and outline.

    Parameters
    ----------
    image : MultiEchoSeries, T2Map, or a sequence of them on one grid
        Echo images and/or T2 map (all their channels are used).
    center_ras_mm : array_like, shape (3,)
        The click, RAS mm, anywhere inside the disc (best in its middle third).
    level : str
        The disc's level.
    slice : int, optional
        Sagittal slice to grow on (default: the slice nearest the click).
    reader : str
        Who clicked.
    max_height_mm, max_half_length_mm : float
        Largest disc height and half AP length searched.

    Returns
    -------
    DiscGeometry
        ``method="grown"``, with corners, outline, the click as centre, the slice, and in ``qa``
        the tilt, height and length found and the endplates' contrast (noise SDs).

    Raises
    ------
    RoiError
        The click is outside the image or not inside a disc.
    """
    first = image[0] if isinstance(image, (list, tuple)) else image
    grid = grid_of(first)
    grid.check_sagittal()
    plane = grid.plane()
    click = np.asarray(center_ras_mm, dtype=float)
    if click.shape != (3,) or not np.all(np.isfinite(click)):
        raise RoiError(f"disc {level}: the click must be [x, y, z] in RAS mm; got {center_ras_mm}")
    ijk = grid.world_to_voxel(click)
    if not grid.contains(ijk):
        raise RoiError(
            f"disc {level}: the click at RAS {np.round(click, 1).tolist()} mm lies outside the "
            f"image (voxel {np.round(ijk, 1).tolist()}, grid {list(grid.shape)})"
        )
    k = int(np.clip(np.rint(ijk[2]), 0, grid.shape[2] - 1)) if slice is None else int(slice)
    if not 0 <= k < grid.shape[2]:
        raise RoiError(f"disc {level}: slice {k} is outside the image (0..{grid.shape[2] - 1})")
    features = feature_channels(image, k)
    seed = plane.to_plane(ijk[:2])
    try:
        found = track_disc(
            features,
            grid,
            plane,
            k,
            seed,
            max_height_mm=max_height_mm,
            max_half_length_mm=max_half_length_mm,
        )
    except _Unsure as exc:
        raise RoiError(
            f"disc {level}: could not find the disc's corners from the click at RAS "
            f"{np.round(click, 1).tolist()} mm ({exc}); click nearer the middle of the disc, or "
            "place its four corners"
        ) from exc
    except RoiError as exc:
        raise RoiError(
            f"disc {level}: the click at RAS {np.round(click, 1).tolist()} mm is not inside a "
            f"disc ({exc}); click in the middle of the disc on a sagittal slice through it"
        ) from exc
    return DiscGeometry(
        level=level,
        corners_ras_mm=found.corners_ras,
        outline_ras_mm=found.outline_ras,
        center_ras_mm=click,
        slice=k,
        method="grown",
        reader=reader,
        qa={
            "grow": {
                "tilt_deg": round(found.tilt_deg, 2),
                "height_mm": round(found.height_mm, 2),
                "length_mm": round(found.length_mm, 2),
                "contrast_sd": round(found.strength, 2),
            },
            "flags": ["check_corners"] if found.uneven_ends else [],
        },
    )
