"""Sagittal crops in a fixed display orientation (anterior left, superior up, square mm pixels)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from discT2.roi._grid import Grid

__all__ = ["sagittal_crop"]


def sagittal_crop(
    image_2d: np.ndarray,
    grid: Grid,
    centre_ras_mm: np.ndarray,
    *,
    half_width_mm: float = 40.0,
    half_height_mm: float = 25.0,
    step_mm: float = 0.5,
    order: int = 1,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Resample one slice around a point for display, whatever the grid's in-plane axes.

    Parameters
    ----------
    image_2d : ndarray, shape (I, J)
        One slice of an image on ``grid``.
    grid : Grid
        The image's grid.
    centre_ras_mm : ndarray, shape (3,)
        Centre of the crop.
    half_width_mm, half_height_mm : float
        Extent along the patient's anterior-posterior and superior-inferior axes.
    step_mm : float
        Display pixel size.
    order : int
        Interpolation order (0 for labels).

    Returns
    -------
    crop : ndarray, shape (H, W)
        Row 0 is the most superior; column 0 the most anterior. NaN outside the image.
    extent : dict
        ``extent`` for ``imshow`` in mm relative to the centre (posterior positive to the right),
        and ``to_display`` mapping RAS points (N, 3) to (x, y) display mm.
    """
    plane = grid.plane()
    centre_ij = grid.world_to_voxel(centre_ras_mm)[:2]
    centre_p = plane.to_plane(centre_ij)
    xs = np.arange(-half_width_mm, half_width_mm + step_mm / 2, step_mm)  # + = posterior
    ys = np.arange(half_height_mm, -half_height_mm - step_mm / 2, -step_mm)  # + = superior
    pts = centre_p + (-xs[None, :, None]) * plane.anterior + ys[:, None, None] * plane.superior
    ij = plane.to_ij(pts.reshape(-1, 2)).T
    crop = ndimage.map_coordinates(
        np.asarray(image_2d, float), ij, order=order, mode="constant", cval=np.nan
    ).reshape(len(ys), len(xs))

    def to_display(points_ras: np.ndarray) -> np.ndarray:
        ij_pts = grid.world_to_voxel(np.atleast_2d(points_ras))[:, :2]
        rel = plane.to_plane(ij_pts) - centre_p
        return np.stack([-(rel @ plane.anterior), rel @ plane.superior], axis=1)

    half = step_mm / 2
    extent = (xs[0] - half, xs[-1] + half, ys[-1] - half, ys[0] + half)
    return crop, {"extent": extent, "to_display": to_display}
