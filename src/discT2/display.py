"""How a voxel grid is shown on screen: slices first, superior up, anterior on the left.

A viewer shows a volume as an array with axes ``(slice, row, column)``: row 0 at the top, column
0 on the left. :class:`DisplayFrame` turns a grid into that order by permuting and flipping its
axes only, never resampling: every displayed pixel is one voxel, voxel centres sit on integer
display indices, the pixel aspect comes from the voxel size, and display indices map to patient
RAS millimetres exactly, both ways. For a sagittal series the slice axis stays the series' own
``k`` in its own order, so a viewer's slice number is the ``slice`` of ``discs.json``.

The display axes are chosen as close as the grid allows to the patient's left-right axis
(slices), inferior (down the rows) and posterior (along the columns): the view a radiologist
expects of a sagittal image. The report figures use the same rule.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from discT2.errors import GeometryError, ShapeMismatchError

__all__ = ["DisplayFrame"]

#: The patient directions (RAS) that display axes 0, 1, 2 follow: left-right (sign free),
#: inferior (down the screen) and posterior (to the right of the screen).
_TARGETS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True, eq=False)
class DisplayFrame:
    """The display order of a grid: which grid axis is shown along each display axis.

    Build it with :meth:`of`. Display index ``d`` (slice, row, column) and voxel index ``ijk``
    are related by ``ijk[axes[a]] = d[a]``, or ``shape[axes[a]] - 1 - d[a]`` where
    ``flipped[a]``.

    Parameters
    ----------
    shape : tuple of int
        The grid's shape (I, J, K).
    affine : ndarray, shape (4, 4)
        The grid's voxel to RAS mm matrix.
    axes : tuple of int
        Grid axis shown along display axes 0 (slices), 1 (rows) and 2 (columns).
    flipped : tuple of bool
        Whether the grid axis runs backwards along each display axis.

    Examples
    --------
    >>> import numpy as np
    >>> affine = np.array([[0, 0, 4.4, 0], [-1.875, 0, 0, 90], [0, -1.875, 0, 110], [0, 0, 0, 1]])
    >>> frame = DisplayFrame.of(np.zeros((96, 120, 3)), affine)
    >>> frame.axes, frame.flipped, frame.display_shape
    ((2, 1, 0), (False, False, False), (3, 120, 96))
    >>> frame.display_to_ras([1, 0, 0]).tolist()
    [4.4, 90.0, 110.0]
    """

    shape: tuple[int, int, int]
    affine: np.ndarray
    axes: tuple[int, int, int]
    flipped: tuple[bool, bool, bool]

    @classmethod
    def of(cls, image: Any, affine: np.ndarray | None = None) -> DisplayFrame:
        """The display frame of a series, T2 map or ROI set, or of an array with an affine.

        Parameters
        ----------
        image : MultiEchoSeries, T2Map, DiscROIs or ndarray
            Anything with ``shape`` (the first three axes are the grid) and ``affine``; an array
            needs ``affine``.
        affine : ndarray, shape (4, 4), optional
            Voxel to RAS mm, when ``image`` carries none.

        Raises
        ------
        GeometryError
            No affine, or one that is not an invertible 4x4 matrix.
        ShapeMismatchError
            Fewer than three axes.
        """
        shape = tuple(int(n) for n in getattr(image, "shape", np.shape(image))[:3])
        if len(shape) != 3:
            raise ShapeMismatchError(f"a display frame needs a 3-D grid; got shape {shape}")
        if affine is None:
            affine = getattr(image, "affine", None)
        if affine is None:
            raise GeometryError(
                f"{type(image).__name__} has no affine; give affine= (voxel to RAS mm)"
            )
        aff = np.asarray(affine, dtype=float)
        if aff.shape != (4, 4) or not np.all(np.isfinite(aff)):
            raise GeometryError(f"affine must be a finite 4x4 matrix; got shape {aff.shape}")
        sizes = np.linalg.norm(aff[:3, :3], axis=0)
        if abs(np.linalg.det(aff[:3, :3])) < 1e-9 or np.any(sizes == 0):
            raise GeometryError("affine is singular: a voxel axis has zero length or two coincide")
        units = aff[:3, :3] / sizes  # columns: RAS direction of each grid axis
        cosines = np.abs(_TARGETS @ units)  # [display axis, grid axis]
        axes = max(
            itertools.permutations(range(3)), key=lambda p: sum(cosines[a, p[a]] for a in range(3))
        )
        flipped = (
            False,  # the slice axis keeps the grid's order: slice numbers stay k
            bool(_TARGETS[1] @ units[:, axes[1]] < 0),
            bool(_TARGETS[2] @ units[:, axes[2]] < 0),
        )
        aff.flags.writeable = False
        return cls(shape=shape, affine=aff, axes=tuple(axes), flipped=flipped)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- shapes and spacing

    @property
    def display_shape(self) -> tuple[int, int, int]:
        """Shape of a volume in display order (slices, rows, columns)."""
        return tuple(self.shape[g] for g in self.axes)  # type: ignore[return-value]

    @property
    def scale_mm(self) -> np.ndarray:
        """Voxel size along each display axis in mm, shape (3,)."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)[list(self.axes)]

    @property
    def directions_ras(self) -> np.ndarray:
        """RAS unit vector along which each display index increases, shape (3, 3) (rows)."""
        units = self.affine[:3, :3] / np.linalg.norm(self.affine[:3, :3], axis=0)
        signs = np.where(self.flipped, -1.0, 1.0)
        return (units[:, list(self.axes)] * signs).T

    @property
    def translate_mm(self) -> np.ndarray:
        """Position of display index 0 for a viewer's world coordinates, shape (3,).

        With ``world = scale_mm * d + translate_mm``, world coordinates are patient millimetres
        along the display directions: for a grid aligned with the patient axes, axis 1 is
        ``-z`` (inferior) and axis 2 ``-y`` (posterior) of RAS exactly, and axis 0 is ``x`` in
        the direction of the slices (``+x`` or ``-x``). Exams of one patient then overlap in a
        viewer up to how the patient moved. For an oblique grid the match holds at the grid's
        centre. Conversions to RAS never rely on it: use :meth:`display_to_ras`.
        """
        centre_d = (np.asarray(self.display_shape, float) - 1) / 2
        centre_ras = self.display_to_ras(centre_d)
        return self.directions_ras @ centre_ras - self.scale_mm * centre_d

    # ---------------------------------------------------------------- arrays

    def to_display(self, volume: np.ndarray) -> np.ndarray:
        """A view of a grid volume, shape (I, J, K, ...), in display order (S, R, C, ...).

        Trailing axes (echoes) stay last. The result shares memory with ``volume``.

        Parameters
        ----------
        volume : numpy.ndarray
            An array whose first three axes are the grid's (I, J, K).

        Returns
        -------
        numpy.ndarray
            The same data with axes (S, R, C, ...).

        Raises
        ------
        ShapeMismatchError
            The first three axes are not the grid's shape.
        """
        arr = np.asarray(volume)
        if tuple(arr.shape[:3]) != tuple(self.shape):
            raise ShapeMismatchError(
                f"volume of shape {arr.shape} is not on this grid {tuple(self.shape)}"
            )
        out = np.transpose(arr, (*self.axes, *range(3, arr.ndim)))
        index = tuple(slice(None, None, -1) if f else slice(None) for f in self.flipped)
        return out[index]

    def from_display(self, array: np.ndarray) -> np.ndarray:
        """A view of a display-order array, shape (S, R, C, ...), in grid order (I, J, K, ...).

        The inverse of :meth:`to_display`.

        Parameters
        ----------
        array : numpy.ndarray
            An array whose first three axes are in display order (S, R, C).

        Returns
        -------
        numpy.ndarray
            The same data with axes (I, J, K, ...), sharing memory with ``array``.

        Raises
        ------
        ShapeMismatchError
            The first three axes are not this frame's display shape.
        """
        arr = np.asarray(array)
        if tuple(arr.shape[:3]) != tuple(self.display_shape):
            raise ShapeMismatchError(
                f"array of shape {arr.shape} is not in this display order "
                f"{tuple(self.display_shape)}"
            )
        index = tuple(slice(None, None, -1) if f else slice(None) for f in self.flipped)
        inverse = np.argsort(self.axes)
        return np.transpose(arr[index], (*inverse, *range(3, arr.ndim)))

    # ---------------------------------------------------------------- points

    def voxel_to_display(self, ijk: Any) -> np.ndarray:
        """Continuous voxel indices to display indices.

        Parameters
        ----------
        ijk : array_like
            Voxel indices (i, j, k), shape (..., 3).

        Returns
        -------
        numpy.ndarray
            Display indices (slice, row, column), shape (..., 3).
        """
        v = np.asarray(ijk, dtype=float)
        if v.shape[-1:] != (3,):
            raise ShapeMismatchError(f"voxel indices must have shape (..., 3); got {v.shape}")
        d = v[..., list(self.axes)]
        n = np.asarray(self.display_shape, float) - 1
        return np.where(self.flipped, n - d, d)

    def display_to_voxel(self, d: Any) -> np.ndarray:
        """Display indices to continuous voxel indices.

        Parameters
        ----------
        d : array_like
            Display indices (slice, row, column), shape (..., 3).

        Returns
        -------
        numpy.ndarray
            Voxel indices (i, j, k), shape (..., 3).
        """
        dd = np.asarray(d, dtype=float)
        if dd.shape[-1:] != (3,):
            raise ShapeMismatchError(f"display indices must have shape (..., 3); got {dd.shape}")
        n = np.asarray(self.display_shape, float) - 1
        dd = np.where(self.flipped, n - dd, dd)
        return dd[..., np.argsort(self.axes)]

    def ras_to_display(self, points_ras_mm: Any) -> np.ndarray:
        """Patient RAS points to display indices.

        Parameters
        ----------
        points_ras_mm : array_like
            Points in patient RAS millimetres, shape (..., 3).

        Returns
        -------
        numpy.ndarray
            Continuous display indices (slice, row, column), shape (..., 3).
        """
        p = np.asarray(points_ras_mm, dtype=float)
        if p.shape[-1:] != (3,):
            raise ShapeMismatchError(f"RAS points must have shape (..., 3); got {p.shape}")
        inv = np.linalg.inv(self.affine)
        return self.voxel_to_display(p @ inv[:3, :3].T + inv[:3, 3])

    def display_to_ras(self, d: Any) -> np.ndarray:
        """Display indices to patient RAS points.

        Parameters
        ----------
        d : array_like
            Display indices (slice, row, column), shape (..., 3).

        Returns
        -------
        numpy.ndarray
            Points in patient RAS millimetres, shape (..., 3).
        """
        ijk = self.display_to_voxel(d)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    @property
    def slice_axis(self) -> int:
        """The grid axis shown as slices (2, i.e. k, for every sagittal series)."""
        return self.axes[0]
