"""The five bands between the endplate lines, in the 2-D mm frame of a slice.

Band k (k = 1..5, anterior to posterior) is the quadrilateral S(f_{k-1}) S(f_k) I(f_k) I(f_{k-1})
with S(t) = AS + t (PS - AS), I(t) = AI + t (PI - AI). A point X is located by its bilinear
coordinates (t, s): X = (1 - s) I(t) + s S(t); t runs from the anterior (0) to the posterior (1)
edge, s from the inferior (0) to the superior (1) endplate. The line S(f) I(f) is exactly the set
{t = f}, so band membership is a comparison of t with the fractions. This follows tilt and wedge
shape and needs no axis-aligned rectangle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from skimage.measure import points_in_poly

from discT2.errors import RoiError

__all__ = [
    "DEFAULT_FRACTIONS",
    "band_index",
    "bilinear_coordinates",
    "check_corners_2d",
    "check_fractions",
    "edge_distances",
]

#: Band boundaries along the endplates: fifths.
DEFAULT_FRACTIONS: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def check_fractions(fractions: Sequence[float]) -> np.ndarray:
    """Validate band boundaries: 6 strictly increasing numbers in [0, 1].

    Raises
    ------
    RoiError
        Wrong count, not increasing, or outside [0, 1].

    Examples
    --------
    >>> check_fractions((0, 0.1, 0.3, 0.7, 0.9, 1)).tolist()
    [0.0, 0.1, 0.3, 0.7, 0.9, 1.0]
    """
    f = np.asarray(fractions, dtype=float).ravel()
    if f.size != 6 or not np.all(np.isfinite(f)):
        raise RoiError(
            f"fractions must be 6 boundaries for the 5 ROIs (e.g. 0 0.2 0.4 0.6 0.8 1); "
            f"got {list(fractions)}"
        )
    if np.any(np.diff(f) <= 0) or f[0] < 0 or f[-1] > 1:
        raise RoiError(f"fractions must increase strictly from >= 0 to <= 1; got {f.tolist()}")
    return f


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def bilinear_coordinates(
    points: np.ndarray, corners: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear coordinates (t, s) of 2-D points in the corner quadrilateral.

    Parameters
    ----------
    points : ndarray, shape (N, 2)
        Plane mm.
    corners : mapping
        ``AS``, ``PS``, ``AI``, ``PI`` -> (2,) plane mm.

    Returns
    -------
    t, s : ndarray, shape (N,)
        ``t`` from anterior (0) to posterior (1), ``s`` from inferior (0) to superior (1). Inside
        the quadrilateral both lie in [0, 1]. NaN where no real solution exists (far outside).

    Examples
    --------
    >>> import numpy as np
    >>> c = {"AS": np.array([10.0, 5]), "PS": np.array([-10.0, 5]),
    ...      "AI": np.array([10.0, -5]), "PI": np.array([-10.0, -5])}
    >>> t, s = bilinear_coordinates(np.array([[10.0, -5], [0, 0], [-6, 2.5]]), c)
    >>> t.round(3).tolist(), s.round(3).tolist()
    ([0.0, 0.5, 0.8], [0.0, 0.5, 0.75])
    """
    pts = np.asarray(points, float)
    a_s, p_s, a_i, p_i = (np.asarray(corners[k], float) for k in ("AS", "PS", "AI", "PI"))
    e = p_i - a_i  # inferior endplate vector
    h0 = a_s - a_i  # anterior edge vector (I(0) -> S(0))
    dh = (p_s - a_s) - e  # change of S(t) - I(t) per unit t
    w = pts - a_i
    qa = -_cross(dh, e)
    qb = _cross(dh, w) - _cross(h0, e)
    qc = _cross(h0, w)
    scale = max(float(np.abs(_cross(h0, e))), 1e-12)
    t = np.full(len(pts), np.nan)
    linear = abs(float(qa)) < 1e-9 * scale
    if linear:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(np.abs(qb) > 0, -qc / qb, np.nan)
    else:
        disc = qb * qb - 4 * qa * qc
        ok = disc >= 0
        root = np.sqrt(np.where(ok, disc, 0.0))
        q = -0.5 * (qb + np.where(qb >= 0, root, -root))
        with np.errstate(divide="ignore", invalid="ignore"):
            r1 = q / qa
            r2 = np.where(q != 0, qc / q, np.nan)
        # Inside a proper quadrilateral exactly one root lies in [0, 1]; take the root nearest
        # to the middle so that points outside get a consistent t as well.
        pick1 = np.abs(r1 - 0.5) <= np.nan_to_num(np.abs(r2 - 0.5), nan=np.inf)
        t = np.where(ok, np.where(pick1, r1, r2), np.nan)
    lower = a_i + t[:, None] * e
    d = h0 + t[:, None] * dh
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.einsum("ij,ij->i", pts - lower, d) / np.einsum("ij,ij->i", d, d)
    return t, s


def edge_distances(points: np.ndarray, corners: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Signed distances (mm, positive inside) from points to the four edge lines.

    Returns
    -------
    dict
        ``superior`` (line AS-PS), ``inferior`` (AI-PI), ``anterior`` (AS-AI) and
        ``posterior`` (PS-PI) -> ndarray (N,).
    """
    pts = np.asarray(points, float)
    c = {k: np.asarray(v, float) for k, v in corners.items()}
    centre = np.mean([c["AS"], c["PS"], c["AI"], c["PI"]], axis=0)
    out = {}
    for name, (p, q) in {
        "superior": (c["AS"], c["PS"]),
        "inferior": (c["AI"], c["PI"]),
        "anterior": (c["AS"], c["AI"]),
        "posterior": (c["PS"], c["PI"]),
    }.items():
        d = q - p
        n = np.array([-d[1], d[0]]) / max(np.linalg.norm(d), 1e-12)
        if n @ (centre - p) < 0:
            n = -n
        out[name] = (pts - p) @ n
    return out


def band_index(
    points: np.ndarray,
    corners: Mapping[str, np.ndarray],
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    endplate_margin_mm: float | tuple[float, float] = 0.0,
    outer_margin_mm: float | tuple[float, float] = 0.0,
    outline: np.ndarray | None = None,
) -> np.ndarray:
    """Band number (1..5) of each point, 0 outside every band.

    Parameters
    ----------
    points : ndarray, shape (N, 2)
        Voxel centres in plane mm (voxel-centre membership).
    corners : mapping
        ``AS``, ``PS``, ``AI``, ``PI`` -> (2,) plane mm.
    fractions : sequence of 6 floats
        Band boundaries along the endplates (see :func:`check_fractions`).
    endplate_margin_mm : float or (superior, inferior)
        Points closer than this to an endplate line are left out.
    outer_margin_mm : float or (anterior, posterior)
        Points closer than this to the anterior or posterior edge (AS-AI, PS-PI) are left out.
    outline : ndarray, shape (M, 2), optional
        Disc outline; points outside it are left out.

    Returns
    -------
    ndarray of int8, shape (N,)
    """
    f = check_fractions(fractions)
    pts = np.asarray(points, float).reshape(-1, 2)
    t, s = bilinear_coordinates(pts, corners)
    inside = np.isfinite(t) & np.isfinite(s) & (s >= 0) & (s <= 1) & (t >= f[0]) & (t <= f[-1])
    ep = np.broadcast_to(np.asarray(endplate_margin_mm, float), (2,))
    om = np.broadcast_to(np.asarray(outer_margin_mm, float), (2,))
    if np.any(ep > 0) or np.any(om > 0):
        dist = edge_distances(pts, corners)
        inside &= (dist["superior"] >= ep[0]) & (dist["inferior"] >= ep[1])
        inside &= (dist["anterior"] >= om[0]) & (dist["posterior"] >= om[1])
    if outline is not None and inside.any():
        inside[inside] = points_in_poly(pts[inside], np.asarray(outline, float))
    band = np.zeros(len(pts), dtype=np.int8)
    band[inside] = np.clip(np.searchsorted(f, t[inside], side="right"), 1, 5)
    return band


def check_corners_2d(
    corners: Mapping[str, np.ndarray],
    anterior: np.ndarray,
    superior: np.ndarray,
    *,
    where: str,
    max_axis_angle_deg: float = 60.0,
) -> None:
    """Refuse corners that cannot define a disc: swapped, crossed or degenerate.

    Parameters
    ----------
    corners : mapping
        ``AS``, ``PS``, ``AI``, ``PI`` -> (2,) plane mm.
    anterior, superior : ndarray, shape (2,)
        Patient directions in the plane.
    where : str
        Disc and file, for the message.
    max_axis_angle_deg : float
        Largest angle between the disc's AP axis and the patient's anterior direction.

    Raises
    ------
    RoiError
        Anterior and posterior corners swapped, superior and inferior corners swapped, crossed
        endplate lines, or corners that coincide.
    """
    c = {k: np.asarray(v, float) for k, v in corners.items()}
    a_mid = (c["AS"] + c["AI"]) / 2
    p_mid = (c["PS"] + c["PI"]) / 2
    axis = a_mid - p_mid
    length = float(np.linalg.norm(axis))
    if length < 1e-6:
        raise RoiError(f"{where}: the anterior and posterior corners coincide")
    e_ap = axis / length
    angle = math.degrees(math.acos(float(np.clip(e_ap @ anterior, -1, 1))))
    if angle > 180 - max_axis_angle_deg:
        raise RoiError(
            f"{where}: the anterior corners (AS, AI) lie posterior to the posterior corners "
            "(PS, PI); swap anterior and posterior"
        )
    if angle > max_axis_angle_deg:
        raise RoiError(
            f"{where}: the disc's antero-posterior axis is {angle:.0f} degrees from the "
            f"patient's anterior direction (at most {max_axis_angle_deg:.0f} expected); check "
            "the corner names"
        )
    e_si = superior - (superior @ e_ap) * e_ap
    e_si = e_si / np.linalg.norm(e_si)
    h_ant = float((c["AS"] - c["AI"]) @ e_si)
    h_post = float((c["PS"] - c["PI"]) @ e_si)
    if h_ant <= 0 and h_post <= 0:
        raise RoiError(
            f"{where}: the superior corners (AS, PS) lie below the inferior corners (AI, PI); "
            "swap superior and inferior"
        )
    if h_ant <= 0 or h_post <= 0:
        raise RoiError(
            f"{where}: crossed endplate lines: the superior endplate AS-PS crosses the inferior "
            f"endplate AI-PI (height {h_ant:.1f} mm anteriorly, {h_post:.1f} mm posteriorly)"
        )
    for upper, lower, name in (("AS", "PS", "superior"), ("AI", "PI", "inferior")):
        if float((c[upper] - c[lower]) @ e_ap) <= 0:
            raise RoiError(
                f"{where}: on the {name} endplate the anterior corner {upper} is not anterior "
                f"of {lower}; crossed or mislabelled corners"
            )
