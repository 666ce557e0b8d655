"""A parametric lumbar spine in patient millimetres: the anatomy of the phantom.

The spine is built in its own *anatomy frame*: RAS millimetres with the mid-sagittal plane at
``x = 0``, ``y`` anterior and ``z`` superior. Vertebral bodies T12-S3 and the discs between them
are stacked upward from the top of the sacrum as quadrilaterals in the sagittal plane: each
element has a posterior height, an anterior height (the difference is its wedge angle) and an
anterior-posterior depth, so the lordosis comes out of the wedging (sacral slope ~38 degrees, mid
plane of L5-S1 tilted ~30-35 degrees, L1 roughly level), as in a standing-or-supine adult.

Every structure is a closed-form region, so labels can be evaluated at any point (the signal model
super-samples each voxel):

- vertebral bodies: marrow with a 1.2 mm cortical rim, a concave waist, concave bony endplates,
  a basivertebral vein notch posteriorly;
- discs ``T12-L1`` ... ``L5-S1``: between the endplate lines through the four corners AS, PS, AI,
  PI (where the annulus meets the endplates), bulging ~1.5 mm anteriorly and ~1 mm posteriorly
  beyond the corner lines and filling the endplate concavity (~1.5 mm); their T2 is a step function
  of the disc's own AP coordinate (:class:`~discT2.phantom.tissues.DiscRelaxation`);
- spinal canal behind the posterior wall: posterior longitudinal ligament, epidural fat, thecal sac
  with CSF, the conus medullaris ending at L1-L2 and the cauda equina roots lying dorsally (supine),
  pedicles and foramina lateral to the canal; the sac ends at S2;
- posterior elements: laminae, ligamentum flavum, spinous processes with interspinous and
  supraspinous ligaments, the sacral dorsal wall;
- paraspinal muscle, subcutaneous fat, skin, and air behind the back;
- anterior: anterior longitudinal ligament, prevertebral fat, the aorta (left of the midline, flow
  void) bifurcating at L4, the inferior vena cava, and abdominal soft tissue.

Left-right extent: bodies and discs are ~48 mm wide; their sagittal section is the same within
6-8 mm of the midline and shrinks elliptically beyond, and the nucleus (its bright proton density)
narrows from 3 mm off the midline, so paramedian slices show narrower nuclei and discs. Within
``flat_mm`` of the midline the sagittal section of every disc is exactly the mid-sagittal one, which
keeps the disc ground truth exact under small slice offsets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from discT2.errors import InputError
from discT2.phantom.tissues import DISC_CODE, TISSUES, DiscRelaxation, healthy_disc

__all__ = [
    "LEVELS",
    "TRUTH_LEVELS",
    "DiscGeometry",
    "Quad",
    "SagittalFields",
    "SpineModel",
    "SpineShape",
]

#: Disc levels the anatomy contains, top to bottom.
LEVELS: tuple[str, ...] = ("T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")
#: The five lumbar discs that carry ground truth (discs.json, ROI truth).
TRUTH_LEVELS: tuple[str, ...] = LEVELS[1:]

# Template sizes (mm): body posterior height, anterior height, upper depth, lower depth.
_BODIES: dict[str, tuple[float, float, float, float]] = {
    "T12": (23.0, 21.5, 31.0, 31.0),
    "L1": (25.0, 24.0, 33.0, 33.0),
    "L2": (26.5, 26.0, 35.0, 35.0),
    "L3": (27.0, 27.0, 36.0, 36.0),
    "L4": (26.5, 27.0, 37.0, 37.0),
    "L5": (25.0, 28.0, 37.0, 37.0),
    "S1": (29.0, 25.0, 45.0, 38.0),
    "S2": (24.0, 20.0, 36.0, 30.0),
    "S3": (20.0, 16.0, 28.0, 22.0),
}
# Disc anterior and posterior heights (mm): taller anteriorly, more so lower down (lordosis
# ~45 degrees L1-S1 with the template's sacral slope of 38 degrees: L1 tilted back ~5 degrees).
_DISCS: dict[str, tuple[float, float]] = {
    "T12-L1": (7.0, 5.0),
    "L1-L2": (9.5, 6.0),
    "L2-L3": (11.0, 7.0),
    "L3-L4": (12.0, 7.5),
    "L4-L5": (13.0, 7.5),
    "L5-S1": (15.0, 7.0),
}
_REMNANTS: dict[str, float] = {"S1-S2": 2.0, "S2-S3": 1.5}  # fused sacral discs (mm)
_LUMBAR = ("T12", "L1", "L2", "L3", "L4", "L5")
_SACRAL = ("S1", "S2", "S3")

_CORTEX_MM = 1.2
_CODE = {name: t.code for name, t in TISSUES.items()}
_PD = {t.code: t.pd for t in TISSUES.values()}


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


@dataclass(frozen=True)
class Quad:
    """A quadrilateral in the sagittal (y, z) plane with bilinear coordinates.

    The point with coordinates ``(s, u)`` is ``(1 - u) S(s) + u I(s)`` where
    ``S(s) = AS + s (PS - AS)`` is the superior edge and ``I(s) = AI + s (PI - AI)`` the inferior
    one: ``s`` runs 0 (anterior) to 1 (posterior), ``u`` 0 (superior) to 1 (inferior). For a disc,
    ``s`` is exactly the ``t`` of docs/methods/rois.md, so ROI band ``k`` is
    ``f[k-1] <= s < f[k], 0 <= u <= 1``.
    """

    a_sup: np.ndarray
    p_sup: np.ndarray
    a_inf: np.ndarray
    p_inf: np.ndarray

    def point(self, s: np.ndarray | float, u: np.ndarray | float) -> np.ndarray:
        """Points ``(..., 2)`` at bilinear coordinates ``s``, ``u``."""
        s = np.asarray(s, dtype=float)[..., None]
        u = np.asarray(u, dtype=float)[..., None]
        top = self.a_sup + s * (self.p_sup - self.a_sup)
        bottom = self.a_inf + s * (self.p_inf - self.a_inf)
        return (1.0 - u) * top + u * bottom

    def coords(self, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bilinear coordinates ``(s, u)`` of points (inverse of :meth:`point` near the quad)."""
        q = np.stack(
            [np.asarray(y, float) - self.a_sup[0], np.asarray(z, float) - self.a_sup[1]], -1
        )
        b = self.p_sup - self.a_sup
        c = self.a_inf - self.a_sup
        e = (self.p_inf - self.a_inf) - b
        # (q - s b) x (c + s e) = 0  ->  a2 s^2 + a1 s + a0 = 0
        a2 = -float(_cross(b, e))
        a1 = _cross(q, e) - float(_cross(b, c))
        a0 = _cross(q, c)
        if abs(a2) < 1e-12 * max(1.0, abs(float(_cross(b, c)))):
            s = -a0 / a1
        else:
            root = np.sqrt(np.maximum(a1 * a1 - 4.0 * a2 * a0, 0.0))
            qq = -0.5 * (a1 + np.where(a1 >= 0, root, -root))
            with np.errstate(divide="ignore", invalid="ignore"):
                s1 = qq / a2
                s2 = np.where(qq != 0, a0 / np.where(qq != 0, qq, 1.0), np.inf)
            s = np.where(np.abs(s1 - 0.5) <= np.abs(s2 - 0.5), s1, s2)
        w = c + s[..., None] * e
        r = q - s[..., None] * b
        u = np.sum(r * w, axis=-1) / np.sum(w * w, axis=-1)
        return s, u

    @property
    def depth_mm(self) -> float:
        """Mean anterior-posterior length of the two edges."""
        return 0.5 * float(
            np.linalg.norm(self.p_sup - self.a_sup) + np.linalg.norm(self.p_inf - self.a_inf)
        )

    @property
    def height_mm(self) -> float:
        """Mean of the anterior and posterior heights."""
        return 0.5 * float(
            np.linalg.norm(self.a_inf - self.a_sup) + np.linalg.norm(self.p_inf - self.p_sup)
        )

    def bbox(self, margin_mm: float) -> tuple[float, float, float, float]:
        pts = np.stack([self.a_sup, self.p_sup, self.a_inf, self.p_inf])
        lo = pts.min(axis=0) - margin_mm
        hi = pts.max(axis=0) + margin_mm
        return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def _lateral_shrink(ax: float, half_width_mm: float, flat_mm: float) -> float:
    """Half the fraction of the AP extent lost at lateral distance ``ax`` (0 within ``flat_mm``)."""
    if ax <= flat_mm:
        return 0.0
    if ax >= half_width_mm:
        return 0.5
    r = (ax - flat_mm) / (half_width_mm - flat_mm)
    return 0.5 * (1.0 - np.sqrt(1.0 - r * r))


@dataclass(frozen=True)
class DiscGeometry:
    """One disc: its corner quadrilateral in the anatomy frame, shape details and relaxation.

    Attributes
    ----------
    level : str
        ``'L4-L5'`` etc.
    quad : Quad
        Corners AS, PS, AI, PI (sagittal y, z in mm, anatomy frame).
    relaxation : DiscRelaxation
        Band T2/T1 and proton-density layout.
    bulge_anterior_mm, bulge_posterior_mm : float
        How far the annulus bulges beyond the corner lines at mid height.
    concavity_mm : float
        Depth of the endplate concavity at the disc centre (both endplates).
    half_width_mm, flat_mm : float
        Left-right half width, and the half width within which the section does not change.
    nucleus_half_width_mm, nucleus_flat_mm : float
        The same for the nucleus (its proton density only).
    """

    level: str
    quad: Quad
    relaxation: DiscRelaxation
    bulge_anterior_mm: float = 1.5
    bulge_posterior_mm: float = 1.0
    concavity_mm: float = 1.5
    half_width_mm: float = 24.0
    flat_mm: float = 6.0
    nucleus_half_width_mm: float = 12.0
    nucleus_flat_mm: float = 3.0

    @property
    def corners(self) -> dict[str, np.ndarray]:
        """Corner points ``{'AS', 'PS', 'AI', 'PI'}`` in the sagittal plane (y, z)."""
        q = self.quad
        return {"AS": q.a_sup, "PS": q.p_sup, "AI": q.a_inf, "PI": q.p_inf}

    def _limits(self, s: np.ndarray, u: np.ndarray, ax: float):
        depth, height = self.quad.depth_mm, self.quad.height_mm
        m = _lateral_shrink(ax, self.half_width_mm, self.flat_mm)
        hump_u = 4.0 * np.clip(u, 0, 1) * (1.0 - np.clip(u, 0, 1))
        hump_s = 4.0 * np.clip(s, 0, 1) * (1.0 - np.clip(s, 0, 1))
        s_lo = -self.bulge_anterior_mm / depth * hump_u + m
        s_hi = 1.0 + self.bulge_posterior_mm / depth * hump_u - m
        u_lo = -self.concavity_mm / height * hump_s
        u_hi = 1.0 + self.concavity_mm / height * hump_s
        return s_lo, s_hi, u_lo, u_hi

    def inside(self, s: np.ndarray, u: np.ndarray, ax: float) -> np.ndarray:
        """Whether points at bilinear ``(s, u)`` and lateral distance ``ax`` are disc tissue."""
        if ax >= self.half_width_mm:
            return np.zeros(np.shape(s), dtype=bool)
        s_lo, s_hi, u_lo, u_hi = self._limits(s, u, ax)
        return (s >= s_lo) & (s <= s_hi) & (u >= u_lo) & (u <= u_hi)

    def endplate_layer(self, s: np.ndarray, u: np.ndarray, ax: float) -> np.ndarray:
        """Points of the bony endplates (the cortical layer just outside the disc)."""
        if ax >= self.half_width_mm:
            return np.zeros(np.shape(s), dtype=bool)
        _, _, u_lo, u_hi = self._limits(s, u, ax)
        t = _CORTEX_MM / self.quad.height_mm
        in_s = (s >= -0.05) & (s <= 1.05)
        return in_s & (((u < u_lo) & (u >= u_lo - t)) | ((u > u_hi) & (u <= u_hi + t)))

    def proton_density(self, s: np.ndarray, u: np.ndarray, ax: float) -> np.ndarray:
        """Proton density: an elliptical nucleus with a soft edge inside the darker annulus."""
        r = self.relaxation
        a_s, a_u = r.nucleus_size
        lateral = max(0.0, ax - self.nucleus_flat_mm) / (
            self.nucleus_half_width_mm - self.nucleus_flat_mm
        )
        rho = np.sqrt(((s - r.nucleus_center) / a_s) ** 2 + ((u - 0.5) / a_u) ** 2 + lateral**2)
        weight = 1.0 / (1.0 + np.exp((rho - 1.0) / 0.12))
        pd = r.annulus_pd + (r.nucleus_pd - r.annulus_pd) * weight
        if r.cleft:
            width_u = 0.8 / self.quad.height_mm
            pd = pd * (1.0 - 0.3 * weight * np.exp(-(((u - 0.5) / width_u) ** 2)))
        return pd

    def band_index(self, s: np.ndarray) -> np.ndarray:
        """ROI band 0..4 of AP coordinate ``s`` (values outside [0, 1] take the nearest band)."""
        return np.clip(np.floor(np.asarray(s) * 5.0), 0, 4).astype(np.int8)

    def outline(self, n_per_side: int = 12) -> np.ndarray:
        """Closed outline of the mid-sagittal section, ``(N, 2)`` (y, z), starting at AS.

        The corners AS, PS, PI, AI are vertices of the outline (anterior-superior first, then along
        the superior endplate, down the posterior margin, back along the inferior endplate and up
        the anterior margin).
        """
        t = np.linspace(0.0, 1.0, n_per_side + 1)[:-1]
        depth, height = self.quad.depth_mm, self.quad.height_mm
        hump = 4.0 * t * (1.0 - t)
        top = self.quad.point(t, -self.concavity_mm / height * hump)
        post = self.quad.point(1.0 + self.bulge_posterior_mm / depth * hump, t)
        bottom = self.quad.point(1.0 - t, 1.0 + self.concavity_mm / height * hump)
        ant = self.quad.point(-self.bulge_anterior_mm / depth * hump, 1.0 - t)
        return np.concatenate([top, post, bottom, ant])


@dataclass(frozen=True)
class SpineShape:
    """Parameters of one subject's spine (defaults: an average adult).

    Attributes
    ----------
    sacral_slope_deg : float
        Tilt of the top of the sacrum (S1 endplate) from the axial plane.
    lordosis_scale : float
        Scales the wedging of discs and bodies (1 = template, ~37 degrees L1-S1).
    body_height_scale, body_depth_scale, disc_height_scale : float
        Size of vertebral bodies and discs relative to the template.
    canal_depth_mm : float
        Anterior-posterior depth of the lumbar spinal canal.
    spinous_length_mm : float
        Length of the lumbar spinous processes behind the laminae.
    subcutaneous_fat_mm : float
        Thickness of the fat layer over the back.
    back_y_mm : float
        Anatomy-frame y of the back where it rests on the table (supine).
    lumbar_lift_mm : float
        How far the lordosis lifts the lumbar back off the table.
    discs : mapping of level to DiscRelaxation
        Relaxation per disc; levels not given are healthy.
    """

    sacral_slope_deg: float = 38.0
    lordosis_scale: float = 1.0
    body_height_scale: float = 1.0
    body_depth_scale: float = 1.0
    disc_height_scale: float = 1.0
    canal_depth_mm: float = 16.0
    spinous_length_mm: float = 30.0
    subcutaneous_fat_mm: float = 18.0
    back_y_mm: float = -80.0
    lumbar_lift_mm: float = 15.0
    discs: Mapping[str, DiscRelaxation] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.discs) - set(LEVELS)
        if unknown:
            raise InputError(f"SpineShape.discs: unknown levels {sorted(unknown)}; use {LEVELS}")
        for name in (
            "lordosis_scale",
            "body_height_scale",
            "body_depth_scale",
            "disc_height_scale",
        ):
            if not 0.5 <= getattr(self, name) <= 1.5:
                raise InputError(
                    f"SpineShape.{name} must be within 0.5-1.5; got {getattr(self, name)}"
                )
        if not 20.0 <= self.sacral_slope_deg <= 55.0:
            raise InputError(f"sacral_slope_deg must be 20-55 degrees; got {self.sacral_slope_deg}")

    def disc(self, level: str) -> DiscRelaxation:
        """Relaxation of disc ``level`` (healthy unless given).

        Parameters
        ----------
        level : str
            Disc level, ``'T12-L1'`` ... ``'L5-S1'``.
        """
        return self.discs.get(level, healthy_disc())

    def with_discs(self, discs: Mapping[str, DiscRelaxation]) -> SpineShape:
        """A copy with some discs' relaxation replaced.

        Parameters
        ----------
        discs : mapping of str to DiscRelaxation
            Level to its new relaxation.
        """
        return replace(self, discs={**self.discs, **discs})


class _Curve:
    """A smooth open curve in the sagittal plane with arc length and signed normal distance."""

    def __init__(self, points: np.ndarray, extend_mm: float = 200.0, step_mm: float = 1.0):
        from scipy.spatial import cKDTree  # imported here: keeps `import discT2` light

        pts = np.asarray(points, dtype=float)
        for _ in range(3):  # Chaikin corner cutting, end points kept
            q = 0.75 * pts[:-1] + 0.25 * pts[1:]
            r = 0.25 * pts[:-1] + 0.75 * pts[1:]
            inner = np.empty((2 * len(q), 2))
            inner[0::2], inner[1::2] = q, r
            pts = np.concatenate([pts[:1], inner, pts[-1:]])
        head = pts[0] - extend_mm * _unit(pts[1] - pts[0])
        tail = pts[-1] + extend_mm * _unit(pts[-1] - pts[-2])
        pts = np.concatenate([head[None], pts, tail[None]])
        seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        arc = np.concatenate([[0.0], np.cumsum(seg)])
        dense_arc = np.arange(0.0, arc[-1], step_mm)
        self.points = np.stack(
            [np.interp(dense_arc, arc, pts[:, 0]), np.interp(dense_arc, arc, pts[:, 1])], -1
        )
        self.sigma = dense_arc - extend_mm  # zero at the first given point
        tangent = np.gradient(self.points, axis=0)
        self.tangent = tangent / np.linalg.norm(tangent, axis=1, keepdims=True)
        self._tree = cKDTree(self.points)

    def project(self, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arc length of the nearest curve point and distance along the *posterior* normal."""
        p = np.stack([np.asarray(y, float).ravel(), np.asarray(z, float).ravel()], -1)
        _, idx = self._tree.query(p)
        q = self.points[idx]
        t = self.tangent[idx]
        diff = p - q
        normal = np.stack([t[:, 1], -t[:, 0]], -1)  # tangent points caudally: rotate to posterior
        distance = np.sum(diff * normal, axis=1)
        sigma = self.sigma[idx] + np.sum(diff * t, axis=1)
        return distance.reshape(np.shape(y)), sigma.reshape(np.shape(y))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _rotate_dir(phi: float) -> np.ndarray:
    """Unit vector pointing anteriorly along an endplate tilted by ``phi`` (anterior end lower)."""
    return np.array([np.cos(phi), -np.sin(phi)])


def _normal(phi: float) -> np.ndarray:
    """Superior normal of an endplate tilted by ``phi``."""
    return np.array([np.sin(phi), np.cos(phi)])


class SpineModel:
    """The phantom's anatomy for one subject, in the anatomy frame (see the module docstring).

    Parameters
    ----------
    shape : SpineShape
        Subject parameters.

    Attributes
    ----------
    bodies : dict of str to Quad
        Vertebral bodies T12 ... S3.
    discs : dict of str to DiscGeometry
        Discs ``T12-L1`` ... ``L5-S1``.

    Examples
    --------
    >>> model = SpineModel(SpineShape())
    >>> sorted(model.discs) == sorted(LEVELS)
    True
    >>> 25 < model.disc_tilt_deg("L5-S1") < 40
    True
    """

    def __init__(self, shape: SpineShape) -> None:
        self.shape = shape
        bodies, discs, remnants = self._build_chain(shape)
        # place: L1-S1 centred at z = 0; back skin at y = back_y_mm
        z_mid = 0.5 * (bodies["L1"].point(0.5, 0.0)[1] + bodies["S1"].point(0.5, 0.0)[1])
        offset = np.array([0.0, -z_mid])
        bodies = {k: _shift(q, offset) for k, q in bodies.items()}
        discs = {k: _shift(q, offset) for k, q in discs.items()}
        remnants = {k: _shift(q, offset) for k, q in remnants.items()}
        self._set_geometry(bodies, discs, remnants)
        # supine: the back rests on the table (y = back_y_mm) except where the lumbar lordosis
        # lifts it; the thinnest fat layer over the spine is subcutaneous_fat_mm
        self._apex_z = float(bodies["L3"].point(1.0, 0.5)[1])
        wall, normal = self._posterior.points, self._posterior_normals()
        valid = (np.abs(wall[:, 1]) <= 130.0) & (normal[:, 0] < -0.3)
        depth = self.muscle_end(self._posterior.sigma) + shape.subcutaneous_fat_mm + 2.0
        reach = wall[:, 0] + depth * normal[:, 0] - self._lift(wall[:, 1])
        offset = np.array([shape.back_y_mm - float(np.min(reach[valid])), 0.0])
        bodies = {k: _shift(q, offset) for k, q in bodies.items()}
        discs = {k: _shift(q, offset) for k, q in discs.items()}
        remnants = {k: _shift(q, offset) for k, q in remnants.items()}
        self._set_geometry(bodies, discs, remnants)
        self._apex_z = float(self.bodies["L3"].point(1.0, 0.5)[1])

    def _lift(self, z: np.ndarray) -> np.ndarray:
        return self.shape.lumbar_lift_mm * np.exp(-(((np.asarray(z) - self._apex_z) / 70.0) ** 2))

    def skin_y(self, z: np.ndarray) -> np.ndarray:
        """Anatomy-frame y of the skin of the back at height ``z`` (air behind it).

        Parameters
        ----------
        z : ndarray
            Height (mm, anatomy frame).
        """
        return self.shape.back_y_mm + self._lift(z)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _build_chain(shape: SpineShape):
        slope = np.radians(shape.sacral_slope_deg)
        bs, ds, dh, lo = (
            shape.body_height_scale,
            shape.body_depth_scale,
            shape.disc_height_scale,
            shape.lordosis_scale,
        )

        def body_dims(name):
            hp, ha, du, dl = _BODIES[name]
            mean, wedge = 0.5 * (hp + ha) * bs, (ha - hp) * lo
            return mean - wedge / 2, mean + wedge / 2, du * ds, dl * ds

        def disc_dims(level):
            ha, hp = _DISCS[level]
            scale = dh * shape.disc(level).height_scale
            mean, wedge = 0.5 * (hp + ha) * scale, (ha - hp) * lo * scale
            return mean - wedge / 2, mean + wedge / 2

        bodies: dict[str, Quad] = {}
        discs: dict[str, Quad] = {}
        remnants: dict[str, Quad] = {}
        # upward from the top of the sacrum
        s1_up_depth = body_dims("S1")[2]
        p_low = np.zeros(2)
        phi_low = slope
        a_low = p_low + s1_up_depth * _rotate_dir(phi_low)
        top_of_s1 = (a_low.copy(), p_low.copy(), phi_low)
        chain = []
        for upper, lower in zip(_LUMBAR[::-1], ("S1", *_LUMBAR[::-1][:-1]), strict=True):
            chain.append(("disc", f"{upper}-{lower}"))
            chain.append(("body", upper))
        for kind, name in chain:
            if kind == "disc":
                hp, ha = disc_dims(name)
                upper_name = name.split("-")[0]
                depth_up = body_dims(upper_name)[3]
            else:
                hp, ha, depth_up, _ = body_dims(name)
            depth_low = float(np.linalg.norm(a_low - p_low))
            p_up = p_low + hp * _normal(phi_low)
            phi_up = phi_low - np.arctan2(ha - hp, depth_low)
            a_up = p_up + depth_up * _rotate_dir(phi_up)
            quad = Quad(a_up, p_up, a_low, p_low)
            (discs if kind == "disc" else bodies)[name] = quad
            a_low, p_low, phi_low = a_up, p_up, phi_up
        # downward through the sacrum
        a_up, p_up, phi_up = top_of_s1
        for kind, name in (
            ("body", "S1"),
            ("remnant", "S1-S2"),
            ("body", "S2"),
            ("remnant", "S2-S3"),
            ("body", "S3"),
        ):
            depth_up = float(np.linalg.norm(a_up - p_up))
            if kind == "body":
                hp, ha, _, depth_low = body_dims(name)
            else:
                hp = ha = _REMNANTS[name]
                depth_low = depth_up
            p_low = p_up - hp * _normal(phi_up)
            phi_low = phi_up + np.arctan2(ha - hp, depth_up)
            a_low = p_low + depth_low * _rotate_dir(phi_low)
            quad = Quad(a_up, p_up, a_low, p_low)
            (bodies if kind == "body" else remnants)[name] = quad
            a_up, p_up, phi_up = a_low, p_low, phi_low
        return bodies, discs, remnants

    def _set_geometry(self, bodies, discs, remnants) -> None:
        shape = self.shape
        self.bodies: dict[str, Quad] = {k: bodies[k] for k in (*_LUMBAR, *_SACRAL)}
        self.remnants: dict[str, Quad] = remnants
        self.discs: dict[str, DiscGeometry] = {
            level: DiscGeometry(level, discs[level], shape.disc(level)) for level in LEVELS
        }
        order = (*_LUMBAR, *_SACRAL)
        posterior = [p for name in order for p in (bodies[name].p_sup, bodies[name].p_inf)]
        anterior = [p for name in order for p in (bodies[name].a_sup, bodies[name].a_inf)]
        self._posterior = _Curve(np.array(posterior))
        self._anterior = _Curve(np.array(anterior))
        # arc-length landmarks along the posterior wall
        sig = {}
        for name in order:
            q = bodies[name]
            _, (top, bottom) = self._posterior.project(
                np.array([q.p_sup[0], q.p_inf[0]]), np.array([q.p_sup[1], q.p_inf[1]])
            )
            sig[name] = (float(top), float(bottom))
        self._sigma = sig
        _, sig_a = self._anterior.project(
            np.array([bodies["L4"].point(0, 0.5)[0], bodies["L5"].point(0, 0.5)[0]]),
            np.array([bodies["L4"].point(0, 0.5)[1], bodies["L5"].point(0, 0.5)[1]]),
        )
        self._sigma_bifurcation, self._sigma_ivc_end = float(sig_a[0]), float(sig_a[1])

    def _posterior_normals(self) -> np.ndarray:
        t = self._posterior.tangent
        return np.stack([t[:, 1], -t[:, 0]], -1)

    # ------------------------------------------------------------------ derived sizes
    @property
    def lamina_mm(self) -> float:
        return 6.0

    def spinous_length(self, sigma: np.ndarray) -> np.ndarray:
        """Length of the spinous processes (or the sacral crest) behind the laminae (mm).

        Parameters
        ----------
        sigma : ndarray
            Arc length (mm) along the posterior wall of the vertebral bodies, from its top.
        """
        l5_bottom, s1_mid = self._sigma["L5"][1], 0.5 * sum(self._sigma["S1"])
        frac = np.clip((np.asarray(sigma) - l5_bottom) / (s1_mid - l5_bottom), 0.0, 1.0)
        return self.shape.spinous_length_mm - frac * (self.shape.spinous_length_mm - 8.0)

    def muscle_end(self, sigma: np.ndarray) -> np.ndarray:
        """Distance behind the posterior wall where the muscles end and the fat begins (mm).

        Parameters
        ----------
        sigma : ndarray
            Arc length (mm) along the posterior wall of the vertebral bodies, from its top.
        """
        return self.canal_depth(sigma) + self.lamina_mm + self.spinous_length(sigma) + 2.5

    def disc_tilt_deg(self, level: str) -> float:
        """Tilt of the disc's mid plane from the axial plane (positive: anterior end lower).

        Parameters
        ----------
        level : str
            Disc level, ``'T12-L1'`` ... ``'L5-S1'``.
        """
        q = self.discs[level].quad
        ap = 0.5 * ((q.a_sup - q.p_sup) + (q.a_inf - q.p_inf))
        return float(np.degrees(np.arctan2(-ap[1], ap[0])))

    def canal_depth(self, sigma: np.ndarray) -> np.ndarray:
        """Canal depth (mm) along the posterior wall: constant in the lumbar spine, tapering in the
        sacrum.

        Parameters
        ----------
        sigma : ndarray
            Arc length (mm) along the posterior wall of the vertebral bodies, from its top.
        """
        s1_top, s3_top = self._sigma["S1"][0], self._sigma["S3"][0]
        lumbar = self.shape.canal_depth_mm
        frac = np.clip((np.asarray(sigma) - s1_top) / (s3_top - s1_top), 0.0, 1.0)
        return lumbar - frac * (lumbar - 8.0)

    # ------------------------------------------------------------------ labelling
    def fields(self, y: np.ndarray, z: np.ndarray) -> SagittalFields:
        """Pre-compute what labelling needs at sagittal positions ``(y, z)`` (anatomy frame).

        Parameters
        ----------
        y, z : ndarray
            Anterior and superior coordinates (mm) of the points, anatomy frame, same shape.
        """
        return SagittalFields(self, np.asarray(y, float).ravel(), np.asarray(z, float).ravel())

    def label(self, f: SagittalFields, x: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tissue at the points of ``f`` displaced to lateral position ``x`` (anatomy frame, mm).

        Parameters
        ----------
        f : SagittalFields
            The sagittal positions, from :meth:`fields`.
        x : float
            Lateral position (mm, anatomy frame; 0 is the mid-sagittal plane).

        Returns
        -------
        code : ndarray of uint8
            Tissue label (:mod:`discT2.phantom.tissues`).
        pd : ndarray of float
            Proton density.
        disc : ndarray of int8
            Index into ``LEVELS`` of the disc a point belongs to, -1 elsewhere.
        """
        ax = abs(float(x))
        n = f.n
        d, e, sig_a = f.d, f.e, f.sigma_a
        code = np.full(n, _CODE["air"], dtype=np.uint8)
        canal = f.canal_depth

        # soft-tissue layers behind the posterior wall, skin and air behind the back
        skin_y = self.skin_y(f.z)
        muscle_end = f.muscle_end
        code[f.y >= skin_y] = _CODE["soft_tissue"]
        code[(f.y >= skin_y) & (f.y < skin_y + 2.0)] = _CODE["skin"]
        code[(d >= muscle_end) & (f.y >= skin_y + 2.0)] = _CODE["subcutaneous_fat"]
        code[(d >= canal) & (d < muscle_end) & (f.y >= skin_y + 2.0)] = _CODE["muscle"]
        in_canal = (d >= 0.0) & (d < canal)
        code[in_canal] = _CODE["epidural_fat"]

        # anterior: ligament, prevertebral fat, vessels
        code[(e >= 0.0) & (e < 1.2) & (ax < 15.0)] = _CODE["ligament"]
        code[(e >= 1.2) & (e < 4.0)] = _CODE["prevertebral_fat"]
        self._vessels(code, e, sig_a, x)

        # canal contents
        self._canal(code, f, x, ax, in_canal)

        # posterior elements
        self._posterior_elements(code, f, x, ax)

        disc_index = np.full(n, -1, dtype=np.int8)

        # vertebral bodies
        for name, (idx, s, u) in f.body_coords.items():
            self._paint_body(code, idx, s, u, ax, self.bodies[name], name in _SACRAL)
        for idx, s, u in f.remnant_coords.values():
            sel = (u >= 0) & (u <= 1) & (s >= 0) & (s <= 1) & (ax < 18.0)
            code[idx[sel]] = _CODE["cortical_bone"]
        bone = (_CODE["marrow"], _CODE["cortical_bone"], _CODE["basivertebral_vein"])
        for level, (idx, s, u) in f.disc_coords.items():
            layer = self.discs[level].endplate_layer(s, u, ax)
            layer &= np.isin(code[idx], bone)
            code[idx[layer]] = _CODE["cortical_bone"]
        pd = _pd_of(code)
        for i, level in enumerate(LEVELS):
            idx, s, u = f.disc_coords[level]
            disc = self.discs[level]
            sel = disc.inside(s, u, ax)
            code[idx[sel]] = DISC_CODE
            pd[idx[sel]] = disc.proton_density(s[sel], u[sel], ax)
            disc_index[idx[sel]] = i
        return code, pd, disc_index

    def _vessels(self, code, e, sig_a, x) -> None:
        # aorta left of the midline down to L4, common iliac arteries diverging below
        x_ao, e_ao, r_ao = -11.0, 15.0, 10.0
        above = sig_a <= self._sigma_bifurcation
        aorta = above & ((x - x_ao) ** 2 + (e - e_ao) ** 2 <= r_ao**2)
        below = (~above) & (sig_a <= self._sigma_bifurcation + 70.0)
        spread = 0.6 * (sig_a - self._sigma_bifurcation)
        iliac = below & (
            ((x - (x_ao - spread)) ** 2 + (e - e_ao) ** 2 <= 36.0)
            | ((x - (x_ao + spread)) ** 2 + (e - e_ao) ** 2 <= 36.0)
        )
        ivc = (sig_a <= self._sigma_ivc_end) & ((x - 18.0) ** 2 + (e - 16.0) ** 2 <= 100.0)
        code[(aorta | iliac | ivc) & (e > 0)] = _CODE["vessel"]

    def static_masks(self, f: SagittalFields) -> dict[str, np.ndarray]:
        """The parts of the labelling that do not depend on the lateral position.

        Parameters
        ----------
        f : SagittalFields
            The sagittal positions, from :meth:`fields`.
        """
        d, sig, canal = f.d, f.sigma, f.canal_depth
        out: dict[str, np.ndarray] = {}
        # thecal sac (an ellipse across the canal), conus, cauda equina roots
        sac_end = 0.5 * sum(self._sigma["S2"])
        front, back = 2.0, canal - 3.0
        half_depth = 0.5 * (back - front) * np.sqrt(np.clip((sac_end - sig) / 10.0, 0.0, 1.0))
        centre = 0.5 * (front + back)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["sac_r2"] = np.where(
                half_depth > 0, ((d - centre) / np.where(half_depth > 0, half_depth, 1.0)) ** 2, 2.0
            )
        conus_tip = self._sigma["L1"][1] + 3.0
        radius = 4.5 * np.sqrt(np.clip((conus_tip - sig) / 35.0, 0.0, 1.0))
        out["cord_room"] = radius**2 - (d - centre) ** 2  # cord where x^2 <= cord_room
        exits = [self._sigma[v][1] for v in ("L2", "L3", "L4", "L5", "S1", "S1")]
        roots = []
        for x_root, depth, end in zip(
            (-4.6, 4.6, -2.6, 2.6, -0.9, 0.9), (2.4, 2.4, 1.8, 1.8, 1.6, 1.6), exits, strict=True
        ):
            along = (sig >= conus_tip - 12.0) & (sig <= end)
            room = np.where(along, 0.8**2 - (d - (back - depth)) ** 2, -1.0)
            roots.append((x_root, room))
        out["roots"] = roots  # type: ignore[assignment]
        pedicle = np.zeros(f.n, dtype=bool)
        for name in (*_LUMBAR, "S1"):
            top, bottom = self._sigma[name]
            pedicle |= (sig >= top + 1.0) & (sig <= top + 0.55 * (bottom - top))
        out["pedicle"] = pedicle
        # posterior elements
        lam = self.lamina_mm
        lamina = np.zeros(f.n, dtype=bool)
        lamina_edge = np.zeros(f.n, dtype=bool)
        spinous = np.zeros(f.n, dtype=bool)
        spinous_core = np.zeros(f.n, dtype=bool)
        gaps = np.zeros(f.n, dtype=bool)
        behind = d - canal
        length = lam + self.shape.spinous_length_mm
        near = (behind > -2.0) & (behind < length + 1.0)
        for upper, lower in zip(_LUMBAR, (*_LUMBAR[1:], "S1"), strict=True):
            top, bottom = self._sigma[upper]
            next_top = self._sigma[lower][0]
            start = top + 0.3 * (bottom - top)
            end = bottom + 0.5 * (next_top - bottom)
            in_sigma = (sig >= start) & (sig <= end)
            lamina |= in_sigma
            lamina_edge |= in_sigma & ((sig - start < _CORTEX_MM) | (end - sig < _CORTEX_MM))
            next_start = next_top + 0.3 * (self._sigma[lower][1] - next_top)
            gaps |= (sig > end) & (sig < next_start)
            # spinous process: a rounded slab sloping slightly caudally
            centre_sp = top + 0.68 * (bottom - top) + 0.12 * behind
            a = behind / length
            half_height = 8.0 - 2.5 * np.clip(a, 0.0, 1.0)  # tapering towards the tip
            b = (sig - centre_sp) / half_height
            slab = near & (a >= 0) & (a <= 1) & (np.abs(2 * a - 1) ** 4 + np.abs(b) ** 4 <= 1.0)
            spinous |= slab
            spinous_core |= slab & (
                (np.minimum(a, 1 - a) * length > _CORTEX_MM)
                & ((1 - np.abs(b)) * half_height > _CORTEX_MM)
            )
        sacral = sig > self._sigma["S1"][0]
        in_lamina = (behind >= 0) & (behind < lam)
        out["lamina_bone"] = in_lamina & (lamina | sacral)
        out["lamina_shell"] = out["lamina_bone"] & (
            (behind < _CORTEX_MM) | (lam - behind < _CORTEX_MM) | lamina_edge
        )
        out["interspinous"] = (behind >= lam) & (d < f.muscle_end) & ~sacral
        tip = lam + self.shape.spinous_length_mm
        out["supraspinous"] = (behind >= tip) & (behind < tip + 2.0) & ~sacral
        out["flavum"] = (behind >= -1.0) & (behind < lam - 2.0) & gaps & ~sacral
        out["spinous"] = spinous & ~sacral & (behind >= 0)
        out["spinous_core"] = spinous_core
        out["crest"] = sacral & (behind >= lam) & (behind < lam + 5.0)
        out["crest_core"] = (
            out["crest"] & (behind >= lam + _CORTEX_MM) & (behind < lam + 5.0 - _CORTEX_MM)
        )
        return out

    def _canal(self, code, f, x, ax, in_canal) -> None:
        st = f.static
        code[in_canal & (f.d < 1.0) & (ax < 9.0)] = _CODE["ligament"]  # posterior longitudinal lig.
        sac = in_canal & ((x / 9.5) ** 2 + st["sac_r2"] <= 1.0)
        code[sac] = _CODE["csf"]
        cord = sac & (x * x <= st["cord_room"])
        code[cord] = _CODE["spinal_cord"]
        roots = np.zeros(f.n, dtype=bool)
        for x_root, room in st["roots"]:
            if (x - x_root) ** 2 <= 0.8**2:
                roots |= (x - x_root) ** 2 <= room
        code[sac & roots & ~cord] = _CODE["nerve_roots"]
        # pedicles beside the canal (upper part of each body), foramina below them
        if ax > 11.0:
            code[in_canal & st["pedicle"]] = _CODE["marrow"]
            code[in_canal & ~st["pedicle"]] = _CODE["epidural_fat"]

    def _posterior_elements(self, code, f, x, ax) -> None:
        st = f.static
        # midline between the spinous processes: interspinous ligament and fat; muscle beside
        if ax < 5.0:
            code[st["interspinous"]] = _CODE["subcutaneous_fat"]
        if ax < 1.0:
            code[st["interspinous"]] = _CODE["ligament"]
        if ax < 3.0:
            code[st["supraspinous"]] = _CODE["ligament"]
        if ax < 20.0:
            code[st["flavum"]] = _CODE["ligament"]
            code[st["lamina_bone"]] = _CODE["marrow"]
            code[st["lamina_shell"]] = _CODE["cortical_bone"]
        if ax < 4.0:
            code[st["spinous"]] = _CODE["cortical_bone"]
            if 4.0 - ax > _CORTEX_MM:
                code[st["spinous"] & st["spinous_core"]] = _CODE["marrow"]
        if ax < 3.0:  # median sacral crest
            code[st["crest"]] = _CODE["cortical_bone"]
            if 3.0 - ax > _CORTEX_MM:
                code[st["crest_core"]] = _CODE["marrow"]

    def _paint_body(self, code, idx, s, u, ax, quad: Quad, sacral: bool) -> None:
        half_width, flat = (26.0, 8.0) if not sacral else (40.0, 10.0)
        if ax >= half_width:
            return
        m = _lateral_shrink(ax, half_width, flat)
        depth, height = quad.depth_mm, quad.height_mm
        hump = 4.0 * np.clip(u, 0, 1) * (1 - np.clip(u, 0, 1))
        s_lo = 1.5 / depth * hump + m
        s_hi = 1.0 - 1.0 / depth * hump - m
        inside = (u >= 0) & (u <= 1) & (s >= s_lo) & (s <= s_hi)
        code[idx[inside]] = _CODE["marrow"]
        rim = inside & (
            ((s - s_lo) * depth < _CORTEX_MM)
            | ((s_hi - s) * depth < _CORTEX_MM)
            | (u * height < _CORTEX_MM)
            | ((1 - u) * height < _CORTEX_MM)
        )
        code[idx[rim]] = _CODE["cortical_bone"]
        if not sacral and ax < 2.5:
            open_ = np.clip((s - 0.8) / 0.2, 0.0, None)
            vein = inside & (s > 0.8) & (np.abs(u - 0.5) < 0.02 + 0.07 * open_)
            code[idx[vein]] = _CODE["basivertebral_vein"]

    def summary(self) -> dict:
        """Key geometry for the truth files: disc tilts, heights and depths."""
        out = {}
        for level, disc in self.discs.items():
            out[level] = {
                "tilt_deg": round(self.disc_tilt_deg(level), 3),
                "height_mm": round(disc.quad.height_mm, 3),
                "ap_length_mm": round(disc.quad.depth_mm, 3),
                "pfirrmann_grade": disc.relaxation.grade,
            }
        return out


def _shift(q: Quad, offset: np.ndarray) -> Quad:
    return Quad(q.a_sup + offset, q.p_sup + offset, q.a_inf + offset, q.p_inf + offset)


def _pd_of(code: np.ndarray) -> np.ndarray:
    lut = np.zeros(256, dtype=np.float64)
    for c, pd in _PD.items():
        if np.isfinite(pd):
            lut[c] = pd
    return lut[code]


class SagittalFields:
    """Everything about sagittal positions that does not depend on the lateral position.

    Built once per exam on the in-plane super-sampling grid (which is the same for every slice
    because repositioning rotates only about the left-right axis), then labelled at each lateral
    position with :meth:`SpineModel.label`.
    """

    def __init__(self, model: SpineModel, y: np.ndarray, z: np.ndarray) -> None:
        self.n = y.size
        self.y, self.z = y, z
        self.d, self.sigma = model._posterior.project(y, z)
        neg_e, self.sigma_a = model._anterior.project(y, z)
        self.e = -neg_e
        self.canal_depth = model.canal_depth(self.sigma)
        self.muscle_end = model.muscle_end(self.sigma)
        self.body_coords = {name: _quad_coords(q, y, z, 3.0) for name, q in model.bodies.items()}
        self.remnant_coords = {
            name: _quad_coords(q, y, z, 2.0) for name, q in model.remnants.items()
        }
        self.disc_coords = {
            level: _quad_coords(disc.quad, y, z, 6.0) for level, disc in model.discs.items()
        }
        self.static = model.static_masks(self)


def _quad_coords(q: Quad, y: np.ndarray, z: np.ndarray, margin_mm: float):
    y0, y1, z0, z1 = q.bbox(margin_mm)
    idx = np.flatnonzero((y >= y0) & (y <= y1) & (z >= z0) & (z <= z1))
    s, u = q.coords(y[idx], z[idx])
    return idx, s, u
