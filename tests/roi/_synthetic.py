"""Small synthetic sagittal lumbar spines with known disc geometry, for the ROI tests.

The anatomy lives in the patient's mid-sagittal (y, z) plane in RAS mm (y anterior, z superior)
and is extruded left-right (x). From the sacrum upwards: vertebral bodies as quadrilaterals whose
endplates follow the lordosis, wedge-shaped discs between them (annulus) with an elliptic nucleus,
the spinal canal (CSF) behind, muscle and fat behind that, soft tissue in front. Images are
rasterised on any voxel grid (in-plane axes in any order and sign, anisotropic pixels, several
sagittal slices) with partial volume from supersampling, then S = PD exp(-TE / T2) with optional
Rician noise. A follow-up exam applies a known rigid transform to the anatomy.

Ground truth: the disc corners in RAS mm, and the true bands (label ``10 n + k`` as in
``rois.nii.gz``) from point-in-polygon tests on the band quadrilaterals of docs/methods/rois.md,
computed here independently of discT2's own band code.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from matplotlib.path import Path as MplPath

from discT2 import MultiEchoSeries, T2Map
from discT2.maps import FitFlag

LEVELS = ("T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")

#: (proton density, T2 ms) per tissue.
TISSUES: dict[str, tuple[float, float]] = {
    "air": (0.0, 1.0),
    "soft": (0.55, 45.0),
    "muscle": (0.6, 35.0),
    "fat": (0.9, 150.0),
    "csf": (1.0, 1000.0),
    "marrow": (0.8, 80.0),
    "cortex": (0.08, 15.0),
    "annulus": (0.7, 55.0),
    "nucleus": (0.95, 125.0),
    "nucleus_degenerated": (0.7, 72.0),
}
_INDEX = {name: i for i, name in enumerate(TISSUES)}

#: T2 per band when a map is made of bands (anterior to posterior).
BAND_T2_MS = (58.0, 110.0, 128.0, 116.0, 64.0)


def _unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def _normal(e):
    """Superior-pointing normal of an AP direction e = (y, z) pointing anterior."""
    return np.array([-e[1], e[0]])


@dataclass
class Spine:
    """2-D anatomy in the (y, z) plane and its left-right half-widths."""

    discs: dict[str, dict[str, np.ndarray]]  # level -> corners (2,) in (y, z)
    vertebrae: list[np.ndarray]  # quads AI, PI, PS, AS (each (4, 2)), bottom (sacrum) first
    degenerated: tuple[str, ...] = ()
    half_width_mm: float = 22.0
    canal: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    posterior_line: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    anterior_line: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    cortex_mm: float = 0.0


def make_spine(
    *,
    sacral_slope_deg: float = -35.0,
    centre_yz: tuple[float, float] = (0.0, 0.0),
    disc_heights_mm: dict[str, tuple[float, float]] | None = None,
    body_height_mm: float = 25.0,
    width_mm: float = 38.0,
    degenerated: tuple[str, ...] = (),
    cortex_mm: float = 0.0,
) -> Spine:
    """A lordotic lumbar spine from the sacrum up, centred (L3) near ``centre_yz``.

    ``disc_heights_mm`` gives (anterior, posterior) height per level; the defaults are wedge
    shaped, tallest at L4-L5 and L5-S1.
    """
    heights = {
        "L5-S1": (12.0, 7.0),
        "L4-L5": (12.5, 8.0),
        "L3-L4": (11.0, 8.0),
        "L2-L3": (10.0, 7.5),
        "L1-L2": (9.0, 7.0),
        "T12-L1": (7.5, 6.0),
    }
    heights.update(disc_heights_mm or {})
    body_wedge = {"L5": 2.5, "L4": 1.5, "L3": 1.0, "L2": 0.0, "L1": -1.0}
    theta = math.radians(sacral_slope_deg)
    e = np.array([math.cos(theta), math.sin(theta)])
    ant = np.array([0.0, 0.0]) + e * width_mm / 2
    post = np.array([0.0, 0.0]) - e * width_mm / 2
    n = _normal(e)
    sacrum = np.array([ant - 45 * n + 8 * e, post - 45 * n, post, ant])
    vertebrae = [sacrum]
    discs: dict[str, dict[str, np.ndarray]] = {}
    bodies = ["L5", "L4", "L3", "L2", "L1", "T12"]
    for level, body in zip(reversed(LEVELS), bodies, strict=True):
        ha, hp = heights[level]
        n = _normal(_unit(ant - post))
        a_s, p_s = ant + ha * n, post + hp * n
        discs[level] = {"AS": a_s, "PS": p_s, "AI": ant.copy(), "PI": post.copy()}
        e = _unit(a_s - p_s)
        n = _normal(e)
        wedge = math.radians(body_wedge.get(body, 0.0))
        ba = body_height_mm + math.tan(wedge) * width_mm / 2
        bp = body_height_mm - math.tan(wedge) * width_mm / 2
        top_a, top_p = a_s + ba * n, p_s + bp * n
        vertebrae.append(np.array([a_s, p_s, top_p, top_a]))
        ant, post = top_a, top_p
    # Centre the spine on L3 (middle of the L3 body).
    shift = np.asarray(centre_yz, float) - vertebrae[3].mean(axis=0)
    discs = {lv: {k: v + shift for k, v in c.items()} for lv, c in discs.items()}
    vertebrae = [q + shift for q in vertebrae]
    # Posterior and anterior column lines (bottom to top), for the canal and soft tissue.
    post_pts = [vertebrae[0][1]] + [q[k] for q in vertebrae[1:] for k in (1, 2)]
    ant_pts = [vertebrae[0][0]] + [q[k] for q in vertebrae[1:] for k in (0, 3)]
    post_line = np.array(post_pts)
    ant_line = np.array(ant_pts)
    return Spine(
        discs=discs,
        vertebrae=vertebrae,
        degenerated=tuple(degenerated),
        posterior_line=post_line,
        anterior_line=ant_line,
        cortex_mm=cortex_mm,
    )


def _offset_band(line, near, far, direction_sign):
    """Polygon between the line offset by ``near`` and by ``far`` mm along its normal."""
    pts = np.asarray(line, float)
    tang = np.gradient(pts, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True)
    # Normal pointing anterior (+y-ish) when direction_sign = +1.
    nrm = np.stack([tang[:, 1], -tang[:, 0]], axis=1)
    nrm *= np.sign(nrm[:, 0:1] + 1e-12)
    nrm *= direction_sign
    ext = np.vstack([pts[0] - 300 * tang[0], pts, pts[-1] + 300 * tang[-1]])
    nrm = np.vstack([nrm[0], nrm, nrm[-1]])
    return np.vstack([ext + near * nrm, (ext + far * nrm)[::-1]])


def _ellipse_mask(yz, corners, frac_ap=0.62, frac_si=0.76):
    a_mid = (corners["AS"] + corners["AI"]) / 2
    p_mid = (corners["PS"] + corners["PI"]) / 2
    centre = (a_mid + p_mid) / 2
    e = _unit(a_mid - p_mid)
    n = _normal(e)
    length = np.linalg.norm(a_mid - p_mid)
    height = np.linalg.norm(
        (corners["AS"] + corners["PS"]) / 2 - (corners["AI"] + corners["PI"]) / 2
    )
    rel = yz - centre
    u = rel @ e / (frac_ap * length / 2)
    v = rel @ n / (frac_si * height / 2)
    return u * u + v * v <= 1.0


def band_quads(corners, fractions=(0, 0.2, 0.4, 0.6, 0.8, 1.0)):
    """The five band quadrilaterals S(f0) S(f1) I(f1) I(f0), as in docs/methods/rois.md."""
    c = corners
    quads = []
    for f0, f1 in itertools.pairwise(fractions):
        s0 = c["AS"] + f0 * (c["PS"] - c["AS"])
        s1 = c["AS"] + f1 * (c["PS"] - c["AS"])
        i0 = c["AI"] + f0 * (c["PI"] - c["AI"])
        i1 = c["AI"] + f1 * (c["PI"] - c["AI"])
        quads.append(np.array([s0, s1, i1, i0]))
    return quads


def classify(spine: Spine, points_ras: np.ndarray, *, bands=False, fractions=None):
    """Tissue index (into TISSUES) of each RAS point; with ``bands``, also the true band label."""
    pts = np.asarray(points_ras, float)
    x, yz = pts[:, 0], pts[:, 1:]
    tissue = np.full(len(pts), _INDEX["soft"], dtype=np.int16)
    lateral = np.abs(x) <= spine.half_width_mm
    # Behind the column: canal (CSF), muscle, fat, then air beyond the skin.
    line = spine.posterior_line
    for near, far, name in (
        (2.0, 16.0, "csf"),
        (16.0, 75.0, "muscle"),
        (75.0, 90.0, "fat"),
        (90.0, 400.0, "air"),
    ):
        poly = MplPath(_offset_band(line, near, far, -1))
        inside = poly.contains_points(yz)
        if name == "csf":
            inside &= np.abs(x) <= 9.0
        tissue[inside] = _INDEX[name]
    poly = MplPath(_offset_band(spine.anterior_line, 80.0, 400.0, 1))
    tissue[poly.contains_points(yz)] = _INDEX["air"]
    for quad in spine.vertebrae:
        inside = MplPath(quad).contains_points(yz) & lateral
        tissue[inside] = _INDEX["marrow"]
        if spine.cortex_mm > 0 and inside.any():
            # Thin dark rim along both endplates of the body.
            lower, upper = quad[[0, 1]], quad[[3, 2]]
            for p, q, sign in ((lower[0], lower[1], 1), (upper[0], upper[1], -1)):
                e = _unit(p - q)
                nrm = _normal(e) * sign
                d = (yz - q) @ nrm
                tissue[inside & (d >= 0) & (d < spine.cortex_mm)] = _INDEX["cortex"]
    label = np.zeros(len(pts), dtype=np.int16)
    for n, level in enumerate(LEVELS):
        c = spine.discs[level]
        quad = np.array([c["AS"], c["PS"], c["PI"], c["AI"]])
        inside = MplPath(quad).contains_points(yz) & lateral
        tissue[inside] = _INDEX["annulus"]
        nucleus = inside & _ellipse_mask(yz, c)
        name = "nucleus_degenerated" if level in spine.degenerated else "nucleus"
        tissue[nucleus] = _INDEX[name]
        if bands:
            for k, q in enumerate(band_quads(c, fractions or (0, 0.2, 0.4, 0.6, 0.8, 1)), 1):
                label[MplPath(q).contains_points(yz) & lateral] = 10 * n + k
    return (tissue, label) if bands else tissue


def sagittal_affine(
    *,
    shape=(160, 160, 5),
    pixel_mm=(1.0, 1.0),
    slice_mm=4.0,
    in_plane=("S-", "A-"),
    slice_dir="R+",
    centre_ras=(0.0, 0.0, 0.0),
    inplane_rotation_deg=0.0,
):
    """Affine of a sagittal grid: ``in_plane`` names the patient direction of i and j."""
    axes = {"R": np.array([1.0, 0, 0]), "A": np.array([0, 1.0, 0]), "S": np.array([0, 0, 1.0])}

    def direction(code):
        return axes[code[0]] * (1 if code[1] == "+" else -1)

    rot = np.eye(3)
    if inplane_rotation_deg:
        a = math.radians(inplane_rotation_deg)
        rot = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    cols = [
        rot @ direction(in_plane[0]) * pixel_mm[0],
        rot @ direction(in_plane[1]) * pixel_mm[1],
        direction(slice_dir) * slice_mm,
    ]
    affine = np.eye(4)
    affine[:3, :3] = np.stack(cols, axis=1)
    centre_vox = (np.asarray(shape, float) - 1) / 2
    affine[:3, 3] = np.asarray(centre_ras, float) - affine[:3, :3] @ centre_vox
    return affine


@dataclass
class Exam:
    series: MultiEchoSeries
    t2map: T2Map
    spine: Spine
    corners_ras: dict[str, dict[str, np.ndarray]]  # true corners on the middle slice
    truth_labels: np.ndarray  # true bands (10 n + k), voxel-centre rule
    mid_slice: int
    transform: np.ndarray  # 4x4 RAS -> RAS applied to the baseline anatomy


def rigid(rotation_deg=0.0, translation_mm=(0.0, 0.0, 0.0), centre=(0.0, 0.0, 0.0)):
    """4x4 rotation about the left-right axis through ``centre``, then a translation (RAS)."""
    a = math.radians(rotation_deg)
    rot = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    c = np.asarray(centre, float)
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = c - rot @ c + np.asarray(translation_mm, float)
    return m


def make_exam(
    spine: Spine | None = None,
    *,
    affine=None,
    shape=(160, 160, 5),
    echo_times_ms=tuple(10.0 * (i + 1) for i in range(10)),
    sigma=0.0,
    supersample=3,
    transform=None,
    t2_layout="anatomy",
    t2_noise_ms=0.0,
    seed=0,
) -> Exam:
    """Rasterise a spine on a grid: a multi-echo series, a T2 map and the true bands.

    ``t2_layout="bands"`` makes the T2 map piecewise constant per true band (BAND_T2_MS) and the
    annulus value elsewhere in the disc, so ROI means have an exact answer.
    """
    spine = spine or make_spine()
    affine = sagittal_affine(shape=shape) if affine is None else np.asarray(affine, float)
    transform = np.eye(4) if transform is None else np.asarray(transform, float)
    inv = np.linalg.inv(transform)
    rng = np.random.default_rng(seed)
    te = np.asarray(echo_times_ms, float)
    ni, nj, nk = shape
    pd_table = np.array([v[0] for v in TISSUES.values()])
    t2_table = np.array([v[1] for v in TISSUES.values()])
    data = np.zeros((ni, nj, nk, te.size), np.float32)
    t2 = np.zeros(shape, np.float32)
    s0 = np.zeros(shape, np.float32)
    truth = np.zeros(shape, np.int16)
    ii, jj = np.meshgrid(np.arange(ni), np.arange(nj), indexing="ij")
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    for k in range(nk):
        # Voxel centres: tissue, T2 and the true bands.
        ijk = np.stack([ii.ravel(), jj.ravel(), np.full(ii.size, k)], axis=1).astype(float)
        world = ijk @ affine[:3, :3].T + affine[:3, 3]
        anat = world @ inv[:3, :3].T + inv[:3, 3]
        tissue, label = classify(spine, anat, bands=True)
        truth[:, :, k] = label.reshape(ni, nj)
        t2_k = t2_table[tissue]
        if t2_layout == "bands":
            band = label % 10
            in_band = label > 0
            t2_k = np.where(in_band, np.asarray((0, *BAND_T2_MS))[band], t2_k)
        t2[:, :, k] = t2_k.reshape(ni, nj)
        s0[:, :, k] = pd_table[tissue].reshape(ni, nj)
        # Echo images with partial volume: average the signal of sub-voxel points.
        sig = np.zeros((ii.size, te.size))
        for di in offsets:
            for dj in offsets:
                sub = ijk + np.array([di, dj, 0.0])
                w = sub @ affine[:3, :3].T + affine[:3, 3]
                a = w @ inv[:3, :3].T + inv[:3, 3]
                ts = classify(spine, a)
                sig += pd_table[ts][:, None] * np.exp(-te[None, :] / t2_table[ts][:, None])
        sig /= supersample**2
        data[:, :, k, :] = sig.reshape(ni, nj, te.size)
    if sigma > 0:
        noise = rng.normal(0, sigma, data.shape) + 1j * rng.normal(0, sigma, data.shape)
        data = np.abs(data + noise).astype(np.float32)
    meta = {
        "series_description": "synthetic MESE sag",
        "series_instance_uid": "1.2.826.0.1.3680043.10.1",
        "source": "synthetic",
    }
    series = MultiEchoSeries(data, te, affine, meta)
    t2_map = t2.copy()
    flags = np.zeros(shape, np.uint16)
    air = s0 == 0
    if t2_noise_ms > 0:
        t2_map = (t2_map + rng.normal(0, t2_noise_ms, shape)).astype(np.float32)
    t2_map[air] = np.nan
    flags[air] = FitFlag.MASKED
    t2map = T2Map(
        t2_ms=t2_map,
        s0=s0,
        t2_sd_ms=np.full(shape, t2_noise_ms, np.float32),
        r2=np.ones(shape),
        rmse=np.zeros(shape),
        flags=flags,
        affine=affine,
        provenance={"method": "truth"},
        meta=meta,
    )
    mid = nk // 2
    corners = {}
    for level, c in spine.discs.items():
        pts = np.array([[0.0, *c[name]] for name in ("AS", "PS", "AI", "PI")])
        moved = pts @ transform[:3, :3].T + transform[:3, 3]
        # Put the corners on the middle slice's plane (project along the slice axis).
        vox = (moved - affine[:3, 3]) @ np.linalg.inv(affine[:3, :3]).T
        vox[:, 2] = mid
        on_slice = vox @ affine[:3, :3].T + affine[:3, 3]
        corners[level] = dict(zip(("AS", "PS", "AI", "PI"), on_slice, strict=True))
    return Exam(series, t2map, spine, corners, truth, mid, transform)


def dice(a, b):
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * (a & b).sum() / total
