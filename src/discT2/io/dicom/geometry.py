"""Slice geometry of a DICOM stack: the slice normal, slice order and the voxel-to-RAS affine."""

from __future__ import annotations

import numpy as np

__all__ = ["LPS_TO_RAS", "cluster", "slice_normal", "stack_affine", "uniform_spacing_problem"]

#: DICOM patient coordinates are LPS; NIfTI/nibabel world coordinates are RAS.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def cluster(values: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Group nearly equal numbers: sort, and start a new group where the gap exceeds ``tolerance``.

    Returns
    -------
    centres : ndarray, shape (G,)
        Mean of each group, increasing.
    labels : ndarray of int, shape (N,)
        Group index of each input value.

    Examples
    --------
    >>> centres, labels = cluster(np.array([20.0, 10.0, 10.001, 30.0]), 0.01)
    >>> centres.round(4).tolist(), labels.tolist()
    ([10.0005, 20.0, 30.0], [1, 0, 0, 2])
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return np.empty(0), np.empty(0, dtype=int)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.concatenate([[True], np.diff(sorted_values) > tolerance])
    group_sorted = np.cumsum(starts) - 1
    labels = np.empty(values.size, dtype=int)
    labels[order] = group_sorted
    centres = np.array(
        [sorted_values[group_sorted == g].mean() for g in range(group_sorted[-1] + 1)]
    )
    return centres, labels


def slice_normal(orientation: np.ndarray) -> np.ndarray:
    """Unit normal ``row x column`` of an ImageOrientationPatient (6 values, LPS)."""
    iop = np.asarray(orientation, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return normal / np.linalg.norm(normal)


def stack_affine(
    orientation: np.ndarray,
    pixel_spacing: tuple[float, float],
    positions_lps: np.ndarray,
    single_slice_spacing_mm: float,
) -> np.ndarray:
    """Voxel ``(i, j, k)`` to RAS mm affine of a stack sorted along its normal.

    Parameters
    ----------
    orientation : array_like, shape (6,)
        ImageOrientationPatient: direction of a row (increasing column index, ``i``) then of a
        column (increasing row index, ``j``), LPS.
    pixel_spacing : (float, float)
        PixelSpacing as DICOM writes it: (between rows, between columns) = (along ``j``, along
        ``i``), mm.
    positions_lps : ndarray, shape (K, 3)
        ImagePositionPatient of each slice in order (the centre of its first transmitted pixel).
    single_slice_spacing_mm : float
        Length of the ``k`` axis when there is only one slice (SpacingBetweenSlices or thickness).

    Returns
    -------
    ndarray, shape (4, 4)
        The affine; its ``k`` column is the mean step between consecutive slice positions (the
        slice normal times the spacing for an ordinary stack).
    """
    iop = np.asarray(orientation, dtype=float)
    # direction cosines are unit vectors; scanners print them to ~6 digits
    row_dir = iop[:3] / np.linalg.norm(iop[:3])
    col_dir = iop[3:] / np.linalg.norm(iop[3:])
    positions = np.asarray(positions_lps, dtype=float).reshape(-1, 3)
    if positions.shape[0] > 1:
        step = (positions[-1] - positions[0]) / (positions.shape[0] - 1)
    else:
        step = slice_normal(iop) * single_slice_spacing_mm
    affine = np.eye(4)
    affine[:3, 0] = LPS_TO_RAS @ row_dir * float(pixel_spacing[1])
    affine[:3, 1] = LPS_TO_RAS @ col_dir * float(pixel_spacing[0])
    affine[:3, 2] = LPS_TO_RAS @ step
    affine[:3, 3] = LPS_TO_RAS @ positions[0]
    return affine


def uniform_spacing_problem(positions_lps: np.ndarray, s_mm: np.ndarray) -> str | None:
    """Why a sorted stack cannot be described by one affine (None when it can).

    Each position must lie on the line ``first + k * step`` within 5 % of the step (at least
    0.05 mm): a missing slice or irregular gaps break this.
    """
    positions = np.asarray(positions_lps, dtype=float)
    n = positions.shape[0]
    if n < 3:
        return None
    step = (positions[-1] - positions[0]) / (n - 1)
    expected = positions[0] + np.arange(n)[:, None] * step
    error = np.linalg.norm(positions - expected, axis=1)
    tolerance = max(0.05, 0.05 * float(np.linalg.norm(step)))
    if np.all(error <= tolerance):
        return None
    gaps = np.diff(s_mm)
    typical = float(np.median(gaps))
    worst = int(np.argmax(np.abs(gaps - typical)))
    return (
        f"slices are not evenly spaced: the gap between slice positions {s_mm[worst]:.2f} and "
        f"{s_mm[worst + 1]:.2f} mm is {gaps[worst]:.2f} mm where the others are about "
        f"{typical:.2f} mm (a slice may be missing)"
    )
