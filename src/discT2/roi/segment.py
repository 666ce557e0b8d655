"""Grow a disc from one click: find its endplates and corners on the echo images or T2 map.

The disc is followed in its own frame. Around the click the images are resampled on a grid
(``a`` along the disc's antero-posterior axis, ``b`` across it, 0.5 mm steps), after the disc's
tilt is found as the rotation (within +-45 degrees) that makes the edges above and below the
click sharpest. Beyond each endplate lies a vertebral body: its signal is taken from the first
edge-free stretch of at least 6 mm past the disc. In every column the endplate is where the
signal turns into that body's (within 3 noise SDs, or a dark cortical line), placed at the
half-way point of the transition. The endplate is the straight line most 2 mm stretches of the
disc agree with (the nucleus' boundary, which a thin annulus blurs into something bone-like,
covers only the middle); it ends where the vertebral body ends, which gives the corners.

A click is refused (not inside a disc) unless the structure around it is 2-20 mm high, at least
1.5 times as long as high, between two bodies of the same tissue, unlike them, and thinner
than them. The algorithm works in mm on any in-plane axis order, sign or pixel size, and uses all
given channels (echoes, or S0 and T2), so it does not depend on whether the nucleus is brighter
or darker than the bone.
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

__all__ = ["DiscTrack", "feature_channels", "grow_disc", "track_disc"]

logger = logging.getLogger(__name__)

_STEP_MM = 0.5  # sampling step of the disc-frame grid


def feature_channels(image: Any, k: int) -> np.ndarray:
    """Normalised image channels of slice k, shape (C, I, J), for edge finding.

    A multi-echo series gives its first, middle and last echo; a T2 map gives S0 and T2 (clipped
    to 0-300 ms). The first channel is the most proton-density weighted one (first echo or S0).
    A sequence of images on one grid gives all their channels. Each channel is divided by its
    99th percentile on the slice; NaN becomes 0.
    """
    images = image if isinstance(image, (list, tuple)) else [image]
    channels: list[np.ndarray] = []
    for img in images:
        if hasattr(img, "echo_times_ms"):
            data = np.asarray(img.data[:, :, k, :], dtype=np.float64)
            n = data.shape[-1]
            for e in sorted({0, n // 2, n - 1}):
                channels.append(data[..., e])
        elif hasattr(img, "t2_ms"):
            s0 = getattr(img, "s0", None)
            if s0 is not None and np.isfinite(s0[:, :, k]).any():
                channels.append(np.nan_to_num(np.asarray(s0[:, :, k], np.float64), nan=0.0))
            t2 = np.asarray(img.t2_ms[:, :, k], dtype=np.float64)
            channels.append(np.clip(np.nan_to_num(t2, nan=0.0), 0.0, 300.0))
        else:
            raise RoiError(
                f"growing a disc needs echo images or a T2 map; got {type(img).__name__}"
            )
    out = []
    for raw in channels:
        ch = np.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0)
        scale = np.percentile(ch, 99)
        if scale > 0:
            out.append(ch / scale)
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
    strength: float  # contrast of the disc's interior to the vertebral bodies, in noise SDs
    centre_2d: np.ndarray
    uneven_ends: tuple[str, ...] = ()  # sides where the two endplates end far apart


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


def _edge_strength(samples: np.ndarray, sigma_a: float, sigma_b: float) -> np.ndarray:
    """Strength of edges running along a (across b); shape (len(a), len(b)).

    The multi-channel gradient magnitude across b, less the magnitude along a, after smoothing:
    an edge parallel to the disc's axis (an endplate) keeps its full strength, an oblique or
    perpendicular one (the anterior and posterior margins, the spinal canal) is suppressed.
    """
    sm = ndimage.gaussian_filter(samples, (0, sigma_a / _STEP_MM, sigma_b / _STEP_MM))
    grad_b = np.gradient(sm, _STEP_MM, axis=2)
    grad_a = np.gradient(sm, _STEP_MM, axis=1)
    across = np.sqrt(np.sum(grad_b * grad_b, axis=0))
    along = np.sqrt(np.sum(grad_a * grad_a, axis=0))
    return np.clip(across - along, 0.0, None)


def _slice_edge_level(features: np.ndarray, plane: SlicePlane) -> float:
    """The strength of strong edges on the slice (95th percentile of the gradient magnitude)."""
    spacing = np.linalg.norm(plane.r, axis=0)
    grads = [np.gradient(ndimage.gaussian_filter(ch, 0.7), *spacing) for ch in features]
    mag = np.sqrt(sum(g[0] ** 2 + g[1] ** 2 for g in grads))
    body = features.max(axis=0) > 0.05
    values = mag[body] if body.any() else mag.ravel()
    return float(np.percentile(values, 95)) or 1.0


class _Refusal(RoiError):
    """The seed is not inside a disc."""


class _Unsure(RoiError):
    """Something disc-like is at the seed, but its corners could not be found consistently."""


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

    Raises
    ------
    RoiError
        The seed is not inside anything that looks like a disc.
    """
    frame = _Frame(features, plane)
    level = edge_level if edge_level is not None else _slice_edge_level(features, plane)
    seed = np.asarray(seed_2d, float)
    theta = _best_tilt(frame, seed, max_height_mm, max_tilt_deg)
    half = max_half_length_mm + 5.0
    a = np.arange(-half, half + _STEP_MM / 2, _STEP_MM)
    reach = max(2.5 * max_height_mm, 45.0)
    b = np.arange(-reach, reach + _STEP_MM / 2, _STEP_MM)
    samples = frame.sample(seed, theta, a, b)
    valid = frame.inside(seed, theta, a, b)
    strength = _edge_strength(samples, sigma_a=1.0, sigma_b=0.5)
    floor = 0.15 * level
    ia0 = int(np.argmin(np.abs(a)))
    ib0 = int(np.argmin(np.abs(b)))
    h_lim = round(max_height_mm / _STEP_MM)
    near = np.abs(a) <= 5.0
    seed_value = samples[:, np.abs(a) <= 1.0][:, :, np.abs(b) <= 1.0].mean(axis=(1, 2))
    sides = {}
    for name, sign in (("sup", +1), ("inf", -1)):
        model = _vertebra_model(samples[:, near], strength[near], ib0, sign, floor, h_lim)
        if model is None:
            raise _Refusal(f"no vertebral body {'above' if sign > 0 else 'below'} the point")
        # A click in bone looks like the next bone (the interior is checked again below).
        if float(_distance(seed_value[:, None], model)[0]) < 0.5 * _VERTEBRA_SIGMAS:
            raise _Refusal("the point looks like the vertebral body next to it")
        est = _boundaries(samples, valid, ib0, sign, model, h_lim)
        chain = _chain(est, ia0, sign)
        if chain is None:
            raise _Refusal(f"no {'upper' if sign > 0 else 'lower'} endplate near the point")
        sides[name] = {
            **chain,
            "b0": b[0] + chain["b_at_seed"] * _STEP_MM,
            "neighbour_mm": model["thickness_mm"],
            "model": model,
        }
    sup, inf = sides["sup"], sides["inf"]
    # The disc between the endplates, near the click, must not look like the bone.
    inner = samples[:, near][:, :, (b >= inf["b0"] + 1.0) & (b <= sup["b0"] - 1.0)]
    if inner.shape[2] == 0:
        raise _Refusal("the endplates found above and below the point touch")
    interior = np.median(inner.reshape(inner.shape[0], -1), axis=1)
    contrast = min(float(_distance(interior[:, None], t["model"])[0]) for t in (sup, inf))
    if contrast < _VERTEBRA_SIGMAS:
        raise _Refusal("the structure at the point looks like the vertebral bodies next to it")
    # A disc lies between two vertebral bodies of the same tissue.
    up, down = sup["model"]["mean"], inf["model"]["mean"]
    scale = np.maximum(np.abs(up), np.abs(down))
    differ = (np.abs(up - down) > _SAME_BODY * scale) & (scale > 0.05)
    if differ.any():
        raise _Refusal(
            "the structures above and below the point are different tissues, not two "
            "vertebral bodies"
        )
    h0 = sup["b0"] - inf["b0"]
    if not min_height_mm <= h0 <= max_height_mm:
        raise _Refusal(
            f"the structure at the point is {h0:.1f} mm high (a disc is "
            f"{min_height_mm:g}-{max_height_mm:g} mm)"
        )
    for trk in (sup, inf):
        if trk["neighbour_mm"] < 1.1 * h0:
            raise _Refusal(
                f"the structure at the point ({h0:.1f} mm high) is thicker than its neighbour "
                f"({trk['neighbour_mm']:.1f} mm): a vertebral body, not a disc"
            )
    # The last column that sees the vertebral body lies half a pixel inside its blurred margin.
    half_px = 0.5 * plane.voxel_length_mm(frame.axes(theta)[0])
    for trk in (sup, inf):
        trk["ant"] += half_px / _STEP_MM
        trk["post"] -= half_px / _STEP_MM
    a_ant = {n: a[0] + t["ant"] * _STEP_MM for n, t in (("sup", sup), ("inf", inf))}
    a_post = {n: a[0] + t["post"] * _STEP_MM for n, t in (("sup", sup), ("inf", inf))}
    if not (min(a_ant.values()) > 0 > max(a_post.values())):
        raise _Unsure("the endplates found do not extend both ways from the point")
    length = 0.5 * ((a_ant["sup"] - a_post["sup"]) + (a_ant["inf"] - a_post["inf"]))
    if length < 1.5 * h0 or length < 10.0:
        raise _Refusal(
            f"the structure at the point is {length:.1f} mm long and {h0:.1f} mm "
            "high; a disc is much longer than high"
        )
    uneven = []
    for side, vals in (("anterior", a_ant), ("posterior", a_post)):
        if abs(vals["sup"] - vals["inf"]) > max(4.0, 8.0 * half_px):
            uneven.append(side)
        if abs(vals["sup"] - vals["inf"]) > max(10.0, h0, 12.0 * half_px):
            raise _Unsure(
                f"the {side} ends of the two endplates are "
                f"{abs(vals['sup'] - vals['inf']):.1f} mm apart"
            )
    mean_strength = contrast
    u, v = frame.axes(theta)

    def to_2d(aa: float, bb: float) -> np.ndarray:
        return seed + aa * u + bb * v

    def end_point(trk: dict[str, Any], which: str) -> np.ndarray:
        ia = trk[which]
        return to_2d(a[0] + ia * _STEP_MM, b[0] + float(np.polyval(trk["line"], ia)) * _STEP_MM)

    corners_2d = {
        "AS": end_point(sup, "ant"),
        "PS": end_point(sup, "post"),
        "AI": end_point(inf, "ant"),
        "PI": end_point(inf, "post"),
    }

    def boundary(trk: dict[str, Any]) -> list[np.ndarray]:
        cols = np.arange(trk["post"] + 2, trk["ant"] - 1, 2.0)  # every mm, corners excluded
        vals = [trk["path"].get(int(i), float(np.polyval(trk["line"], i))) for i in cols]
        return [
            to_2d(a[0] + i * _STEP_MM, b[0] + v * _STEP_MM) for i, v in zip(cols, vals, strict=True)
        ]

    upper, lower = boundary(sup), boundary(inf)
    outline_2d = np.array(
        [
            corners_2d["AS"],
            *upper[::-1],
            corners_2d["PS"],
            corners_2d["PI"],
            *lower,
            corners_2d["AI"],
        ]
    )

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
        height_mm=float(h0),
        length_mm=float(length),
        strength=mean_strength,
        centre_2d=centre,
        uneven_ends=tuple(uneven),
    )


def _best_tilt(frame: _Frame, seed: np.ndarray, max_height_mm: float, max_tilt_deg: float) -> float:
    """The rotation that makes the edges above and below the seed sharpest."""
    a = np.arange(-8.0, 8.0 + 1e-9, _STEP_MM)
    reach = 0.6 * max_height_mm  # the endplates of a disc centred on the seed, not beyond
    b = np.arange(-reach, reach + 1e-9, _STEP_MM)
    ib0 = int(np.argmin(np.abs(b)))

    def score(theta: float) -> float:
        prof = frame.sample(seed, theta, a, b).mean(axis=1)
        prof = ndimage.gaussian_filter1d(prof, 1.0, axis=1)
        e = np.sqrt(np.sum(np.gradient(prof, _STEP_MM, axis=1) ** 2, axis=0))
        return float(e[ib0 + 1 :].max() + e[: ib0 - 1].max())

    coarse = np.radians(np.arange(-max_tilt_deg, max_tilt_deg + 1e-9, 3.0))
    best = max(coarse, key=score)
    fine = best + np.radians(np.arange(-2.5, 2.6, 0.5))
    limit = math.radians(max_tilt_deg)
    return float(max(np.clip(fine, -limit, limit), key=score))


#: A sample within this many noise SDs of the vertebral body's signal belongs to the body.
_VERTEBRA_SIGMAS = 3.0
#: The vertebral bodies above and below a disc differ by less than this fraction per channel.
_SAME_BODY = 0.3
#: Darker than this fraction of the vertebral body in the first channel is cortical bone (a
#: partial-volumed cortical line is darker than this; the annulus is not).
_DARK = 0.72
#: Edges closer than this belong to one boundary (nucleus-annulus-vertebra, cortical line).
_CLUSTER_MM = 3.5
#: The shortest edge-free stretch taken for the interior of a vertebral body.
_QUIET_MM = 6.0
#: Longest gap between the columns of one stretch of an endplate.
_GAP_MM = 2.5


def _vertebra_model(
    samples: np.ndarray, strength: np.ndarray, ib0: int, sign: int, floor: float, h_lim: int
) -> dict[str, Any] | None:
    """Signal of the vertebral body beyond the disc on one side, from the columns near the seed.

    Walking outwards from the seed line past the first edge, the body's interior is the first
    stretch of at least 6 mm without an edge above ``floor``. Returns its mean signal per
    channel, the noise SD per channel (floored at 2 % of the signal), its distance from the seed
    line (``start``) and its thickness (up to the next edge) in mm.
    """
    prof = strength.mean(axis=0)
    n = len(prof)
    idx = np.arange(ib0 + sign, n if sign > 0 else -1, sign)
    edge = prof[idx] >= floor
    if not edge.any():
        return None
    first = int(np.argmax(edge))
    if first > h_lim:
        return None
    quiet_len = round(_QUIET_MM / _STEP_MM)
    run = 0
    start = None
    for pos in range(first, len(idx)):
        if edge[pos]:
            run = 0
            continue
        run += 1
        if run >= quiet_len:
            start = pos - run + 1
            break
    if start is None or start > h_lim + round(_CLUSTER_MM / _STEP_MM) + quiet_len:
        return None
    stop = start
    while stop + 1 < len(idx) and not edge[stop + 1]:
        stop += 1
    inner = idx[start + 2 : stop - 1] if stop - start > 6 else idx[start : stop + 1]
    region = samples[:, :, inner].reshape(samples.shape[0], -1)
    mean = np.median(region, axis=1)
    mad = np.median(np.abs(region - mean[:, None]), axis=1) * 1.4826
    sd = np.maximum(mad, 0.02 * np.abs(mean) + 1e-6)
    return {
        "mean": mean,
        "sd": sd,
        "thickness_mm": (stop - start + 1) * _STEP_MM if stop < len(idx) - 1 else np.inf,
    }


def _distance(x: np.ndarray, model: dict[str, Any]) -> np.ndarray:
    """Noise-normalised distance of samples (C, N) from the vertebral body's signal."""
    z = (x - model["mean"][:, None]) / model["sd"][:, None]
    return np.sqrt(np.mean(z * z, axis=0))


def _boundaries(
    samples: np.ndarray,
    valid: np.ndarray,
    ib0: int,
    sign: int,
    model: dict[str, Any],
    h_lim: int,
) -> list[float | None]:
    """Where the disc meets the vertebral body in every column (sub-sample b index), or None.

    The body starts at the first run of 3 mm of samples that look like it: within 3 noise SDs of
    its signal, or darker than 72 % of it in the first channel (cortical bone, which belongs to
    the vertebra); single samples between such ones are the partial volume of a thin line. A
    body-like start at the seed line (nucleus and annulus mixed) is skipped. The boundary is
    placed where the signal crosses halfway from the disc side to the body side (its sample most
    unlike the disc), which removes the bias of the threshold under partial volume.
    """
    n_b = samples.shape[2]
    stop = ib0 + sign * (h_lim + round(4.0 / _STEP_MM))
    idx = np.arange(ib0, stop, sign)
    idx = idx[(idx >= 0) & (idx < n_b)]
    x = samples[:, :, idx]  # (C, A, N)
    ok = valid[:, idx]
    z = (x - model["mean"][:, None, None]) / model["sd"][:, None, None]
    like = (np.sqrt(np.mean(z * z, axis=0)) < _VERTEBRA_SIGMAS) & ok
    dark = (x[0] < _DARK * model["mean"][0]) & ok
    raw = like | dark
    body = ndimage.binary_closing(raw, np.ones((1, 3), bool)) | raw
    run = round(3.0 / _STEP_MM)
    n = body.shape[1]
    if n < run + 1:
        return [None] * samples.shape[1]
    counts = ndimage.uniform_filter1d(body.astype(float), run, axis=1, origin=-(run // 2))
    hits = counts[:, : n - run + 1] > 1 - 1e-9
    not_body = ~body
    first_disc = np.where(not_body.any(axis=1), np.argmax(not_body, axis=1), n)
    hits &= np.arange(hits.shape[1])[None, :] >= first_disc[:, None]
    found = hits.any(axis=1)
    j = np.argmax(hits, axis=1)
    found &= j <= h_lim
    out: list[float | None] = [None] * samples.shape[1]
    for col in np.nonzero(found)[0]:
        jj = int(j[col])
        lo = max(jj - 3, 0)
        inside = x[:, col, lo]
        # The body's first 3 mm: its sample most unlike the disc (a dark cortical line, when
        # there is one, is where the disc ends).
        first = x[:, col, jj : jj + run]
        outside = first[:, int(np.argmax(np.sum((first - inside[:, None]) ** 2, axis=0)))]
        w = outside - inside
        ww = float(w @ w)
        pos = jj - 0.5
        if ww > 0:
            q = ((x[:, col, lo : jj + 1] - inside[:, None]).T @ w) / ww
            above = np.nonzero(q >= 0.5)[0]
            if above.size:
                k = int(above[0])
                if k > 0 and q[k] != q[k - 1]:
                    pos = lo + k - 1 + (0.5 - q[k - 1]) / (q[k] - q[k - 1])
                else:
                    pos = float(lo + k)
        out[col] = float(ib0 + sign * pos)
    return out


def _chain(est: list[float | None], ia0: int, sign: int) -> dict[str, Any] | None:
    """Fit the endplate to the per-column boundaries and find its two ends.

    Boundaries next to a bright nucleus are pulled towards the disc's middle (the thin annulus
    between nucleus and bone mixes into something like bone), and noise scatters the rest. The
    endplate is the straight line (within 25 degrees of the disc axis) that the most 2 mm
    stretches of the disc agree with, to 0.75 mm: it reaches both vertebral corners, whereas the
    nucleus' boundary covers only the middle. The line is then refined by least squares on the
    columns that agree with it. The endplate runs over those columns in one group around the
    seed (runs at least 2 mm long, gaps up to 20 mm, the length of a nucleus); its ends are the
    vertebral corners.
    """
    cols = np.array([i for i, e in enumerate(est) if e is not None], dtype=float)
    if cols.size < 6:
        return None
    vals = np.array([est[int(i)] for i in cols], dtype=float)
    band = 0.75 / _STEP_MM
    coef = _consensus_line(cols, vals, band)
    if coef is None:
        return None
    for _ in range(3):
        keep = np.abs(vals - np.polyval(coef, cols)) <= band
        if keep.sum() < 6:
            return None
        coef = np.polyfit(cols[keep], vals[keep], 1)
    keep = np.abs(vals - np.polyval(coef, cols)) <= band
    on_line = cols[keep]
    if on_line.size < 6:
        return None
    # One group of columns around the seed: runs of columns (gaps up to 2.5 mm) at least 2 mm
    # long, joined across gaps up to 20 mm.
    order = np.argsort(on_line)
    on_line = on_line[order]
    values = vals[keep][order]
    runs = np.split(
        np.arange(on_line.size), np.nonzero(np.diff(on_line) > _GAP_MM / _STEP_MM)[0] + 1
    )
    solid = np.concatenate(
        [r for r in runs if on_line[r[-1]] - on_line[r[0]] >= 2.0 / _STEP_MM] or [np.arange(0)]
    )
    if solid.size < 6:
        return None
    on_line, values = on_line[solid], values[solid]
    breaks = np.nonzero(np.diff(on_line) > 20.0 / _STEP_MM)[0]
    groups = np.split(np.arange(on_line.size), breaks + 1)

    def distance(g: np.ndarray) -> float:
        lo, hi = on_line[g[0]], on_line[g[-1]]
        return 0.0 if lo <= ia0 <= hi else float(min(abs(lo - ia0), abs(hi - ia0)))

    g = min(groups, key=distance)
    xs, ys = on_line[g], values[g]
    if xs.size < 6:
        return None
    path = {int(x): float(y) for x, y in zip(xs, ys, strict=True)}
    return {
        "path": path,
        "line": coef,
        "ant": float(xs[-1]),
        "post": float(xs[0]),
        "b_at_seed": float(np.polyval(coef, ia0)),
    }


def _consensus_line(cols: np.ndarray, vals: np.ndarray, band: float) -> np.ndarray | None:
    """Line through two boundary points that the most 2 mm stretches of columns agree with."""
    bins = np.floor(cols * _STEP_MM / 2.0).astype(int)
    pick = np.arange(0, cols.size, max(1, cols.size // 80))
    i, j = np.triu_indices(pick.size, k=1)
    i, j = pick[i], pick[j]
    apart = np.abs(cols[j] - cols[i]) * _STEP_MM >= 5.0
    i, j = i[apart], j[apart]
    if i.size == 0:
        return None
    slope = (vals[j] - vals[i]) / (cols[j] - cols[i])
    ok = np.abs(slope) <= math.tan(math.radians(25.0))
    i, j, slope = i[ok], j[ok], slope[ok]
    if i.size == 0:
        return None
    intercept = vals[i] - slope * cols[i]
    resid = np.abs(vals[None, :] - (slope[:, None] * cols[None, :] + intercept[:, None]))
    inlier = resid <= band
    n_bins = int(bins.max()) + 1
    covered = np.zeros((i.size, n_bins), dtype=bool)
    rows, which = np.nonzero(inlier)
    covered[rows, bins[which]] = True
    score = covered.sum(axis=1) + 1e-3 * inlier.sum(axis=1)
    best = int(np.argmax(score))
    return np.array([slope[best], intercept[best]])


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
        The click, RAS mm, anywhere inside the disc (best near its middle).
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
        the tilt, height and length found and the edge strength.

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
