"""The multi-echo image series that every part of discT2 works on.

Conventions
-----------
``data`` has axes ``(i, j, k, echo)``. For a DICOM series, ``i`` runs along the image rows (the
column index of the pixel array, direction cosine ``ImageOrientationPatient[:3]``), ``j`` runs down
the columns (the row index, ``ImageOrientationPatient[3:]``) and ``k`` runs along the slice normal
``n = row x col``, slices sorted by ``ImagePositionPatient . n``. In other words
``data[i, j, k, e] == pixel_array_of_slice_k_echo_e[j, i]``, as nibabel and dcm2niix lay it out.

``affine`` maps voxel indices ``(i, j, k, 1)`` to patient **RAS** millimetres (the NIfTI/nibabel
convention), so the centre of voxel ``(i, j, k)`` lies at ``affine @ [i, j, k, 1]``. DICOM patient
coordinates are LPS; RAS = diag(-1, -1, 1) @ LPS.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from discT2.errors import EchoTimeError, GeometryError, InputError, ShapeMismatchError

__all__ = ["META_KEYS", "MultiEchoSeries", "orientation_name"]

#: Metadata keys a loader fills when the source tells it (missing ones are absent, never guessed).
#: None of them identifies a patient.
META_KEYS: dict[str, str] = {
    "source": "file or folder the series was read from",
    "format": "'dicom', 'dicom-enhanced' or 'nifti'",
    "vendor": "normalised manufacturer: 'siemens', 'ge', 'philips', or the raw string lower-cased",
    "manufacturer": "Manufacturer (0008,0070) as written",
    "model": "ManufacturerModelName (0008,1090)",
    "software_versions": "SoftwareVersions (0018,1020)",
    "field_strength_t": "MagneticFieldStrength (0018,0087) in tesla",
    "repetition_time_ms": "RepetitionTime (0018,0080)",
    "echo_spacing_ms": "spacing of the echo train (from the echo times when they are uniform)",
    "excitation_angle_deg": "FlipAngle (0018,1314)",
    "refocusing_angle_deg": "nominal refocusing flip angle when the source gives it",
    "echo_train_length": "EchoTrainLength (0018,0091)",
    "sequence_name": "SequenceName (0018,0024) or the vendor's pulse sequence name",
    "series_description": "SeriesDescription (0008,103E)",
    "series_number": "SeriesNumber (0020,0011)",
    "series_instance_uid": "SeriesInstanceUID (0020,000E)",
    "study_instance_uid": "StudyInstanceUID (0020,000D)",
    "frame_of_reference_uid": "FrameOfReferenceUID (0020,0052)",
    "acquisition_date": "ISO date YYYY-MM-DD of the acquisition",
    "acquisition_time": "time of day HH:MM:SS of the acquisition",
    "slice_thickness_mm": "SliceThickness (0018,0050)",
    "slice_spacing_mm": "centre-to-centre distance of adjacent slices (from the positions)",
    "slice_gap_mm": "slice_spacing_mm - slice_thickness_mm",
    "pixel_spacing_mm": "in-plane spacing [along i, along j]",
    "intensity": "which intensity representation the data holds, e.g. 'stored', 'rescaled', "
    "'philips-fp (rescaled / scale slope)'",
    "merged_series": "series numbers merged into this one when echoes were split over series",
    "merged_series_uids": "SeriesInstanceUIDs of the merged series",
    "refocusing_angle_source": "where refocusing_angle_deg came from",
    "patient_position": "PatientPosition (0018,5100), e.g. 'HFS' (not identifying)",
    "n_files": "number of files the series was read from",
    "rescale_slope": "RescaleSlope: one value, or one per echo when they differ",
    "rescale_type": "RescaleType (0028,1054), e.g. 'normalized' (Philips)",
    "philips_scale_slope": "Philips private scale slope (2005,100E) (FP = rescaled / (RS x SS))",
    "skipped_files": "files or images skipped while reading, counted by reason",
    "notes": "what the reader did that a user should know (list of sentences)",
}


def orientation_name(affine: np.ndarray, tolerance_deg: float = 10.0) -> str:
    """Name the slice orientation of an affine: 'sagittal', 'coronal', 'axial' or 'oblique'.

    Parameters
    ----------
    affine : ndarray, shape (4, 4)
        Voxel to RAS mm.
    tolerance_deg : float
        Largest angle between the slice normal and a patient axis still named after that axis.

    Examples
    --------
    >>> import numpy as np
    >>> orientation_name(np.diag([1.0, 1.0, 3.0, 1.0]))
    'axial'
    """
    rot = np.asarray(affine, dtype=float)[:3, :3]
    normal = np.cross(rot[:, 0], rot[:, 1])
    norm = np.linalg.norm(normal)
    if norm == 0:
        raise GeometryError("affine has parallel in-plane axes; cannot tell the slice orientation")
    normal = np.abs(normal / norm)
    axis = int(np.argmax(normal))
    if np.degrees(np.arccos(np.clip(normal[axis], -1.0, 1.0))) > tolerance_deg:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


class MultiEchoSeries:
    """A multi-echo magnitude series on one voxel grid, valid once constructed.

    Parameters
    ----------
    data : array_like, shape (I, J, K, E)
        Magnitude images, echo axis last. Stored as float32.
    echo_times_ms : array_like, shape (E,)
        Echo times in milliseconds, strictly increasing, positive.
    affine : array_like, shape (4, 4)
        Voxel indices to patient RAS millimetres.
    meta : mapping, optional
        Acquisition metadata; see :data:`META_KEYS` for the keys loaders fill.

    Raises
    ------
    ShapeMismatchError
        ``data`` is not 4-D or its echo axis does not match ``echo_times_ms``.
    EchoTimeError
        Fewer than two echoes, non-finite, non-positive or non-increasing echo times.
    GeometryError
        ``affine`` is not a finite, invertible 4x4 matrix with last row (0, 0, 0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> te = np.array([10.0, 20.0, 30.0])
    >>> s = MultiEchoSeries(np.ones((4, 4, 2, 3)), te, np.eye(4))
    >>> s.shape, s.n_echoes
    ((4, 4, 2), 3)
    """

    __slots__ = ("_affine", "_data", "_echo_times_ms", "meta")

    def __init__(
        self,
        data: np.ndarray,
        echo_times_ms: Sequence[float] | np.ndarray,
        affine: np.ndarray,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        data = np.asarray(data)
        if data.ndim != 4:
            raise ShapeMismatchError(
                f"multi-echo data must be 4-D (i, j, k, echo); got shape {data.shape}. "
                "Add a slice axis of length 1 for a single slice."
            )
        if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
            raise InputError(f"multi-echo data must be real numbers; got dtype {data.dtype}")
        te = np.asarray(echo_times_ms, dtype=np.float64).ravel()
        if te.size != data.shape[3]:
            raise ShapeMismatchError(
                f"data has {data.shape[3]} echoes on its last axis but {te.size} echo times were "
                "given"
            )
        if te.size < 2:
            raise EchoTimeError(f"a T2 fit needs at least 2 echoes; got {te.size}")
        if not np.all(np.isfinite(te)) or np.any(te <= 0):
            raise EchoTimeError(f"echo times must be finite and positive (ms); got {te.tolist()}")
        if np.any(np.diff(te) <= 0):
            raise EchoTimeError(
                f"echo times must be strictly increasing (ms); got {te.tolist()}. "
                "Duplicate echo times usually mean two series were mixed."
            )
        aff = np.asarray(affine, dtype=np.float64)
        if aff.shape != (4, 4) or not np.all(np.isfinite(aff)):
            raise GeometryError(f"affine must be a finite 4x4 matrix; got shape {aff.shape}")
        if not np.allclose(aff[3], [0, 0, 0, 1]):
            raise GeometryError(f"affine's last row must be (0, 0, 0, 1); got {aff[3].tolist()}")
        if abs(np.linalg.det(aff[:3, :3])) < 1e-9:
            raise GeometryError("affine is singular: a voxel axis has zero length or two coincide")
        self._data = np.ascontiguousarray(data, dtype=np.float32)
        self._data.flags.writeable = False
        self._echo_times_ms = te
        self._echo_times_ms.flags.writeable = False
        self._affine = aff
        self._affine.flags.writeable = False
        self.meta: dict[str, Any] = dict(meta or {})

    @property
    def data(self) -> np.ndarray:
        """Magnitude images, shape (I, J, K, E), float32, read-only."""
        return self._data

    @property
    def echo_times_ms(self) -> np.ndarray:
        """Echo times in ms, shape (E,), read-only."""
        return self._echo_times_ms

    @property
    def affine(self) -> np.ndarray:
        """Voxel to RAS mm, shape (4, 4), read-only."""
        return self._affine

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape (I, J, K)."""
        return self._data.shape[:3]  # type: ignore[return-value]

    @property
    def n_echoes(self) -> int:
        """Number of echoes E."""
        return int(self._data.shape[3])

    @property
    def voxel_size_mm(self) -> np.ndarray:
        """Voxel edge lengths along i, j, k in mm."""
        return np.linalg.norm(self._affine[:3, :3], axis=0)

    @property
    def orientation(self) -> str:
        """'sagittal', 'coronal', 'axial' or 'oblique' (see :func:`orientation_name`)."""
        return orientation_name(self._affine)

    @property
    def echo_spacing_ms(self) -> float | None:
        """Echo spacing when the echoes are uniformly spaced starting at one spacing, else None."""
        te = self._echo_times_ms
        spacing = np.diff(te)
        if np.allclose(spacing, spacing[0], rtol=1e-3, atol=1e-3) and np.isclose(
            te[0], spacing[0], rtol=1e-3, atol=1e-3
        ):
            return float(spacing[0])
        return None

    def select_echoes(self, indices: Sequence[int] | np.ndarray | slice) -> MultiEchoSeries:
        """Return a new series holding only some echoes (e.g. ``slice(1, None)`` drops echo 1).

        The metadata are copied and record which echoes of the source were kept.

        Parameters
        ----------
        indices : sequence of int, ndarray or slice
            Echo indices (0-based, in the order of ``echo_times_ms``) to keep.
        """
        idx = np.arange(self.n_echoes)[indices]
        meta = copy.deepcopy(self.meta)
        meta["echo_indices_from_source"] = [
            int(i)
            for i in np.asarray(meta.get("echo_indices_from_source", range(self.n_echoes)))[idx]
        ]
        return MultiEchoSeries(self._data[..., idx], self._echo_times_ms[idx], self._affine, meta)

    def world_to_voxel(self, points_ras_mm: np.ndarray) -> np.ndarray:
        """Map RAS mm points, shape (..., 3), to continuous voxel indices (..., 3).

        Parameters
        ----------
        points_ras_mm : ndarray, shape (..., 3)
            Points in patient RAS millimetres.
        """
        pts = np.asarray(points_ras_mm, dtype=float)
        inv = np.linalg.inv(self._affine)
        return pts @ inv[:3, :3].T + inv[:3, 3]

    def voxel_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """Map voxel indices, shape (..., 3), to RAS mm points (..., 3).

        Parameters
        ----------
        ijk : ndarray, shape (..., 3)
            Voxel indices ``(i, j, k)``, integer or continuous.
        """
        ijk = np.asarray(ijk, dtype=float)
        return ijk @ self._affine[:3, :3].T + self._affine[:3, 3]

    def __repr__(self) -> str:
        desc = self.meta.get("series_description", "")
        size = "x".join(f"{v:.3g}" for v in self.voxel_size_mm)
        te = self._echo_times_ms
        return (
            f"MultiEchoSeries({desc!r}, shape={self.shape}, echoes={self.n_echoes} "
            f"({te[0]:.4g}-{te[-1]:.4g} ms), voxel={size} mm, {self.orientation})"
        )
