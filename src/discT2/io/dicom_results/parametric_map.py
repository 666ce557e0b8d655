"""Fitted maps as DICOM Parametric Map objects (float pixels, values in ms through UCUM)."""

from __future__ import annotations

from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from discT2._version import __version__
from discT2.io.dicom_results._identity import content_uid, mark_deidentified
from discT2.io.dicom_results._source import SourceSeries
from discT2.maps import MAP_FILES, T2Map

__all__ = ["MAP_SERIES", "PARAMETRIC_MAPS", "MapKind", "geometry", "parametric_map"]

MANUFACTURER = "discT2"
#: Series numbers of the results, far from the scanner's own.
MAP_SERIES = 9100


@dataclass(frozen=True)
class MapKind:
    """How one :class:`~discT2.maps.T2Map` attribute is written as a Parametric Map."""

    attribute: str
    label: str  # LUT label, at most 16 characters
    explanation: str
    unit: Code
    quantity: Code
    series_offset: int

    @property
    def stem(self) -> str:
        """The file stem of the map's NIfTI (``t2`` for ``t2.nii.gz``)."""
        return MAP_FILES[self.attribute].split(".", 1)[0]


_MS = Code("ms", "UCUM", "millisecond")
_NO_UNITS = Code("1", "UCUM", "no units")
_T2 = Code("113065", "DCM", "T2")

#: The maps written as Parametric Maps, in series order.
PARAMETRIC_MAPS: tuple[MapKind, ...] = (
    MapKind("t2_ms", "T2", "T2 fitted per voxel", _MS, _T2, 0),
    MapKind(
        "t2_sd_ms",
        "T2_SD",
        "standard deviation of the fitted T2 (fit covariance)",
        _MS,
        _T2,
        1,
    ),
    MapKind(
        "s0",
        "S0",
        "signal extrapolated to TE = 0, in the series' signal units",
        _NO_UNITS,
        codes.DCM.MRSignalIntensity,
        2,
    ),
)


def geometry(
    source: SourceSeries,
) -> tuple[hd.PixelMeasuresSequence, hd.PlaneOrientationSequence, list[hd.PlanePositionSequence]]:
    """Pixel measures, orientation and one position per slice of the source grid."""
    measures = hd.PixelMeasuresSequence(
        pixel_spacing=source.pixel_spacing,
        slice_thickness=source.slice_thickness_mm,
        spacing_between_slices=source.slice_spacing_mm,
    )
    orientation = hd.PlaneOrientationSequence(
        coordinate_system="PATIENT", image_orientation=source.orientation
    )
    positions = [
        hd.PlanePositionSequence(coordinate_system="PATIENT", image_position=p)
        for p in source.positions
    ]
    return measures, orientation, positions


def parametric_map(source: SourceSeries, t2map: T2Map, kind: MapKind) -> Dataset:
    """One map of ``t2map`` as a Parametric Map on the source series' grid.

    NaN (voxels not fitted or failed) stays NaN in the float pixel data.

    Parameters
    ----------
    source : SourceSeries
        The series the map was fitted to (:func:`read_source`).
    t2map : T2Map
        The fitted maps.
    kind : MapKind
        Which map (an entry of :data:`PARAMETRIC_MAPS`).
    """
    volume = np.asarray(getattr(t2map, kind.attribute), dtype=np.float32)
    source.check_grid(volume.shape, t2map.affine, f"the {kind.label} map")
    frames = np.ascontiguousarray(np.transpose(volume, (2, 1, 0)))  # (slice, row, column)
    finite = volume[np.isfinite(volume)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=kind.label,
        lut_explanation=kind.explanation,
        unit=kind.unit,
        value_range=(low, high),
        slope=1.0,
        intercept=0.0,
        quantity_definition=kind.quantity,
    )
    measures, orientation, positions = geometry(source)
    series = source.series_uid
    method = t2map.method or "unknown"
    pm = hd.pm.ParametricMap(
        source_images=source.references,
        pixel_array=frames,
        series_instance_uid=content_uid(series, "parametric map", kind.attribute),
        series_number=MAP_SERIES + kind.series_offset,
        sop_instance_uid=content_uid(series, kind.attribute, method, frames.tobytes()),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=__version__,
        device_serial_number="0",
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[
            hd.VOILUTTransformation(window_center=(low + high) / 2, window_width=high - low)
        ],
        content_label=kind.label,
        content_description=f"discT2 {kind.label} map ({method} fit)",
        pixel_measures=measures,
        plane_orientation=orientation,
        plane_positions=positions,
    )
    pm.SeriesDescription = f"discT2 {kind.label} ({method})"
    pm.Laterality = ""  # General Series, type 2C: the spine is not a paired structure
    mark_deidentified([pm], source.identity)
    return pm
