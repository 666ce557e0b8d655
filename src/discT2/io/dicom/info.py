"""What :func:`discT2.find_series` tells about each series it finds."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from discT2.errors import DicomSeriesError, EchoTimeError, GeometryError

__all__ = ["DicomEchoTimeError", "DicomGeometryError", "SeriesInfo"]


class DicomEchoTimeError(DicomSeriesError, EchoTimeError):
    """Echo times of a DICOM series that are missing, duplicated or a single echo."""


class DicomGeometryError(DicomSeriesError, GeometryError):
    """Missing geometry tags, mixed orientations or uneven slices in a DICOM series."""


@dataclass(frozen=True)
class SeriesInfo:
    """One series found in DICOM input: how to choose it and what it holds.

    Choose a series for :func:`discT2.load_series` by ``number``, ``uid`` or ``description``, or
    pass the ``SeriesInfo`` itself.

    Attributes
    ----------
    number : int or None
        SeriesNumber (0020,0011); for echoes merged from several series, the first one's.
    uid : str
        SeriesInstanceUID (0020,000E) (the first one's when merged).
    description : str
        SeriesDescription (0008,103E).
    kind : str
        ``'multi-echo'`` (echo images that :func:`discT2.load_series` reads) or ``'map'`` (a
        scanner-computed T2 map, read with :func:`discT2.io.dicom.load_dicom_map`).
    vendor : str
        ``'siemens'``, ``'ge'``, ``'philips'`` or the manufacturer lower-cased.
    n_echoes : int
        Number of distinct echo times (0 for a map).
    echo_times_ms : tuple of float
        The echo times, increasing.
    matrix : (int, int)
        Voxels along ``i`` and ``j`` (Columns, Rows).
    n_slices : int
        Slices (``k``).
    voxel_size_mm : (float, float, float)
        Voxel size along ``i``, ``j``, ``k`` (``k``: centre-to-centre slice distance).
    orientation : str
        ``'sagittal'``, ``'coronal'``, ``'axial'``, ``'oblique'`` or ``'mixed'``.
    n_files : int
        Files that hold its images.
    paths : tuple of Path
        Those files.
    notes : tuple of str
        What the reader did that a user should know (merged series, skipped images, ...).
    problem : str or None
        Why the series cannot be loaded (incomplete grid, duplicate echo times, ...); None if it
        can.
    study_uid : str
        StudyInstanceUID.
    merged_from : tuple of int
        Series numbers whose echoes were merged into this series (empty when not merged).
    part_uids : tuple of str
        SeriesInstanceUIDs of all parts (one entry unless merged).
    map_type : str or None
        For maps, the ImageType value that marks it (e.g. ``'T2 MAP'``).
    acquisition_time : str or None
        Time of day ``HH:MM:SS`` of the first image, when known.
    """

    number: int | None
    uid: str
    description: str
    kind: str
    vendor: str
    n_echoes: int
    echo_times_ms: tuple[float, ...]
    matrix: tuple[int, int]
    n_slices: int
    voxel_size_mm: tuple[float, float, float]
    orientation: str
    n_files: int
    paths: tuple[Path, ...] = field(repr=False)
    notes: tuple[str, ...] = ()
    problem: str | None = None
    study_uid: str = field(default="", repr=False)
    merged_from: tuple[int, ...] = ()
    part_uids: tuple[str, ...] = field(default=(), repr=False)
    map_type: str | None = None
    acquisition_time: str | None = None

    @property
    def loadable(self) -> bool:
        """True when the series makes a complete multi-echo grid (or map)."""
        return self.problem is None

    @property
    def label(self) -> str:
        """``series 7 'T2 MAP SAG'`` (number and description)."""
        number = "?" if self.number is None else str(self.number)
        if self.merged_from:
            number = "+".join(str(n) for n in self.merged_from)
        description = repr(self.description) if self.description else "(no description)"
        return f"series {number} {description}"

    def summary(self) -> str:
        """One line: number, description, vendor, echoes, matrix, slices, voxel size, orientation.

        Examples
        --------
        >>> info = SeriesInfo(7, "1.2.3", "T2 MAP SAG", "multi-echo", "siemens", 3,
        ...                   (10.0, 20.0, 30.0), (320, 320), 12, (0.6, 0.6, 4.4),
        ...                   "sagittal", 36, ())
        >>> print(info.summary())
        series 7 'T2 MAP SAG': siemens, 3 echoes 10-30 ms (every 10 ms), 320x320, 12 slices, 0.6x0.6x4.4 mm, sagittal
        """  # noqa: E501
        if self.kind == "map":
            what = f"T2 map ({self.map_type or 'map'})"
        else:
            what = f"{self.n_echoes} echoes {_echo_text(self.echo_times_ms)}"
        size = "x".join(f"{v:.3g}" for v in self.voxel_size_mm)
        text = (
            f"{self.label}: {self.vendor or 'unknown vendor'}, {what}, "
            f"{self.matrix[0]}x{self.matrix[1]}, {self.n_slices} slice"
            f"{'s' if self.n_slices != 1 else ''}, {size} mm, {self.orientation}"
        )
        if self.problem:
            text += f" - NOT LOADABLE: {self.problem}"
        return text


def _ms(value: float) -> str:
    """A time in ms with up to 3 decimals and no trailing zeros: 6.312, 50.496, 10, 406.4."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _echo_text(te: tuple[float, ...]) -> str:
    if not te:
        return "(no echo times)"
    if len(te) == 1:
        return f"{_ms(te[0])} ms"
    text = f"{_ms(te[0])}-{_ms(te[-1])} ms"
    steps = [b - a for a, b in pairwise(te)]
    if max(steps) - min(steps) <= 1e-3 * max(steps) + 1e-3:
        text += f" (every {_ms(steps[0])} ms)"
    else:
        text += " (" + ", ".join(_ms(t) for t in te) + ")"
    return text
