"""Name four clicked disc corners AS, PS, AI, PI, in whatever order they were clicked."""

from __future__ import annotations

from typing import Any

import numpy as np

from discT2.errors import RoiError
from discT2.roi._grid import Grid
from discT2.roi.bands import check_corners_2d
from discT2.roi.geometry import CORNERS

__all__ = ["order_corners"]

#: Below this ratio of the points' spread along their long and short axes, the disc's axis is
#: taken as the patient's anterior direction instead of the points' long axis.
_MIN_ELONGATION = 1.4


def order_corners(
    points_ras_mm: Any, affine: np.ndarray, *, where: str = "disc"
) -> dict[str, np.ndarray]:
    """Name four unordered corner points of a disc on a sagittal slice.

    The points are taken into the slice's plane (the i-j plane of ``affine``). The disc's
    antero-posterior axis is the long axis of the four points, oriented towards the patient's
    anterior; for points about as tall as long it is the patient's anterior direction itself.
    The two points furthest along it are the anterior corners, the upper one (towards the
    patient's superior) being AS; the other two are PS and PI.

    Parameters
    ----------
    points_ras_mm : array_like, shape (4, 3)
        The four corners in patient RAS mm, any order.
    affine : ndarray, shape (4, 4)
        Voxel to RAS mm of the sagittal grid they were placed on.
    where : str
        Which disc, for error messages.

    Returns
    -------
    dict
        ``AS``, ``PS``, ``AI``, ``PI`` -> ndarray, shape (3,): the given points, named.

    Raises
    ------
    RoiError
        Not four finite points, coinciding points, or four points that make no disc (crossed
        endplates, an axis far from anterior-posterior).

    Examples
    --------
    >>> import numpy as np
    >>> affine = np.array([[0, 0, 4.0, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]])
    >>> clicks = [[0, 10, 15], [0, 50, 25], [0, 50, 15], [0, 10, 25]]
    >>> named = order_corners(clicks, affine)
    >>> {k: v[1:].tolist() for k, v in named.items()}
    {'AS': [50.0, 25.0], 'PS': [10.0, 25.0], 'AI': [50.0, 15.0], 'PI': [10.0, 15.0]}
    """
    pts = np.asarray(points_ras_mm, dtype=float)
    if pts.shape != (4, 3) or not np.all(np.isfinite(pts)):
        raise RoiError(
            f"{where}: corners need exactly four finite [x, y, z] points in RAS mm; got "
            f"shape {pts.shape}"
        )
    grid = Grid(shape=(1, 1, 1), affine=np.asarray(affine, dtype=float))
    plane = grid.plane()
    p2 = plane.to_plane(grid.world_to_voxel(pts)[:, :2])
    gaps = np.linalg.norm(p2[:, None] - p2[None], axis=-1)[np.triu_indices(4, 1)]
    if gaps.min() < 1e-6:
        raise RoiError(f"{where}: two of the four corners coincide; click four distinct points")
    rel = p2 - p2.mean(axis=0)
    _, spread, vt = np.linalg.svd(rel, full_matrices=False)
    axis = vt[0] if spread[0] >= _MIN_ELONGATION * spread[1] else plane.anterior
    if axis @ plane.anterior < 0:
        axis = -axis
    up = np.array([-axis[1], axis[0]])
    if up @ plane.superior < 0:
        up = -up
    along = rel @ axis
    order = np.argsort(along)
    posterior, anterior = order[:2], order[2:]
    named: dict[str, int] = {}
    for pair, (upper, lower) in ((anterior, ("AS", "AI")), (posterior, ("PS", "PI"))):
        a, b = pair
        hi, lo = (a, b) if rel[a] @ up >= rel[b] @ up else (b, a)
        named[upper], named[lower] = int(hi), int(lo)
    check_corners_2d(
        {k: p2[i] for k, i in named.items()}, plane.anterior, plane.superior, where=where
    )
    return {k: pts[named[k]].copy() for k in CORNERS}
