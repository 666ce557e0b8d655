"""Voxel grids and the 2-D millimetre frame of one sagittal slice.

Every ROI computation works in the plane of one slice (voxel axes i and j; k is the slice axis,
as for every sagittal series discT2 reads). In-plane voxel indices ``(i, j)`` map to orthonormal
plane coordinates ``p = R @ (i, j)`` in mm, where ``A[:3, :2] = Q @ R`` is the QR factorisation of
the in-plane columns of the affine. This holds for any in-plane axis order or sign, anisotropic
pixels and oblique planes; patient directions enter only through ``Q``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from discT2.errors import GeometryError

__all__ = ["ANTERIOR_RAS", "SUPERIOR_RAS", "Grid", "SlicePlane", "grid_of"]

#: Patient directions in RAS: +y is anterior, +z is superior.
ANTERIOR_RAS = np.array([0.0, 1.0, 0.0])
SUPERIOR_RAS = np.array([0.0, 0.0, 1.0])

#: Largest angle between the slice normal and the patient left-right axis for a "sagittal" grid.
_MAX_OBLIQUITY_DEG = 45.0


@dataclass(frozen=True)
class SlicePlane:
    """The 2-D mm frame of a slice: ``p = R @ (i, j)``, world = ``Q @ p + origin_k``."""

    q: np.ndarray  #: (3, 2) orthonormal in-plane directions (world)
    r: np.ndarray  #: (2, 2) upper-triangular, voxel (i, j) -> plane mm
    anterior: np.ndarray  #: (2,) unit vector, patient anterior in the plane
    superior: np.ndarray  #: (2,) unit vector, patient superior in the plane, orthogonal to anterior

    def to_plane(self, ij: np.ndarray) -> np.ndarray:
        """Voxel (i, j), shape (..., 2), to plane mm (..., 2)."""
        return np.asarray(ij, float) @ self.r.T

    def to_ij(self, p: np.ndarray) -> np.ndarray:
        """Plane mm (..., 2) to continuous voxel (i, j) (..., 2)."""
        return np.linalg.solve(self.r, np.asarray(p, float).reshape(-1, 2).T).T.reshape(np.shape(p))

    def voxel_length_mm(self, direction: np.ndarray) -> float:
        """Length in mm of one voxel step along a unit plane direction (``1 / |R^-1 d|``)."""
        step = np.linalg.solve(self.r, np.asarray(direction, float))
        return float(1.0 / np.linalg.norm(step))


@dataclass(frozen=True)
class Grid:
    """Shape and affine of a voxel grid (of a series, a T2 map or an ROI volume)."""

    shape: tuple[int, int, int]
    affine: np.ndarray

    def world_to_voxel(self, points_ras_mm: np.ndarray) -> np.ndarray:
        """RAS mm (..., 3) to continuous voxel indices (..., 3)."""
        inv = np.linalg.inv(self.affine)
        return np.asarray(points_ras_mm, float) @ inv[:3, :3].T + inv[:3, 3]

    def voxel_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """Voxel indices (..., 3) to RAS mm (..., 3)."""
        return np.asarray(ijk, float) @ self.affine[:3, :3].T + self.affine[:3, 3]

    @property
    def voxel_size_mm(self) -> np.ndarray:
        """Voxel edge lengths along i, j, k in mm."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def slice_normal(self) -> np.ndarray:
        """Unit normal of the (i, j) plane in RAS."""
        n = np.cross(self.affine[:3, 0], self.affine[:3, 1])
        return n / np.linalg.norm(n)

    def check_sagittal(self, what: str = "image") -> None:
        """Refuse a grid whose slices (the i-j planes) are not sagittal within 45 degrees."""
        cos = abs(float(self.slice_normal[0]))
        angle = float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
        if angle > _MAX_OBLIQUITY_DEG:
            raise GeometryError(
                f"{what}: disc ROIs are placed on sagittal slices (the i-j planes, k = slice "
                f"axis), but this grid's slice normal is {angle:.0f} degrees from left-right. "
                "Use the sagittal series."
            )

    def plane(self) -> SlicePlane:
        """The 2-D mm frame shared by every slice of this grid."""
        q, r = np.linalg.qr(self.affine[:3, :2])
        # Make R's diagonal positive so the frame keeps the voxel axes' handedness.
        signs = np.sign(np.diag(r))
        signs[signs == 0] = 1.0
        q, r = q * signs, r * signs[:, None]
        ant = q.T @ ANTERIOR_RAS
        sup = q.T @ SUPERIOR_RAS
        if np.linalg.norm(ant) < 1e-6 or np.linalg.norm(sup) < 1e-6:
            raise GeometryError("the slice plane contains no anterior or superior direction")
        ant = ant / np.linalg.norm(ant)
        sup = sup - (sup @ ant) * ant
        sup = sup / np.linalg.norm(sup)
        return SlicePlane(q=q, r=r, anterior=ant, superior=sup)

    def contains(self, ijk: np.ndarray) -> np.ndarray:
        """True where continuous voxel indices (..., 3) lie inside the image (half-voxel border)."""
        ijk = np.asarray(ijk, float)
        upper = np.asarray(self.shape, float) - 0.5
        return np.all((ijk >= -0.5) & (ijk <= upper), axis=-1)


def grid_of(image: object) -> Grid:
    """The grid of a series, T2 map or ROI volume (anything with ``shape`` and ``affine``)."""
    try:
        shape = tuple(int(n) for n in image.shape[:3])  # type: ignore[attr-defined]
        affine = np.asarray(image.affine, float)  # type: ignore[attr-defined]
    except AttributeError as exc:
        raise GeometryError(
            f"expected a T2Map or MultiEchoSeries (with shape and affine); got "
            f"{type(image).__name__}"
        ) from exc
    if affine.shape != (4, 4):
        raise GeometryError(f"affine must be 4x4; got {affine.shape}")
    return Grid(shape=shape, affine=affine)  # type: ignore[arg-type]
