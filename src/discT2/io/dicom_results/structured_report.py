"""ROI statistics as a DICOM Comprehensive SR measurement report (TID 1500).

One TID 1411 volumetric ROI group per row of the ``measure`` table, referencing its segment of the
Segmentation and the T2 Parametric Map the values were read from, with the disc level as finding
site. Measurements: mean, median and SD of T2 (ms; SNOMED CT derivations Mean, Median, Standard
Deviation) and the number of voxels used (local code ``99DISCT2 n_voxels``); a statistic that is
NaN (no usable voxel) is left out. The whole-disc group also carries the disc's Pfirrmann grade
when a reader gave one (``99DISCT2 pfirrmann``). The fit method and its assumptions are the
algorithm identification of every group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import highdicom as hd
import pandas as pd
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from discT2._version import __version__
from discT2.io.dicom_results._identity import content_uid, mark_deidentified
from discT2.io.dicom_results._source import SourceSeries
from discT2.io.dicom_results.parametric_map import MANUFACTURER, MAP_SERIES
from discT2.io.dicom_results.segmentation import (
    INTERVERTEBRAL_DISC,
    LEVEL_CODES,
    Segment,
)

__all__ = ["N_VOXELS", "PFIRRMANN", "SR_SERIES", "T2", "T2_STATISTICS", "measurement_report"]

SR_SERIES = MAP_SERIES + 20

T2 = Code("113065", "DCM", "T2")
N_VOXELS = Code("n_voxels", "99DISCT2", "Number of voxels used")
PFIRRMANN = Code("pfirrmann", "99DISCT2", "Pfirrmann grade of disc degeneration")
_GRADE = Code("{grade}", "UCUM", "grade")
_MS = Code("ms", "UCUM", "millisecond")
_VOXELS = Code("{voxels}", "UCUM", "voxels")

#: ``measure`` column -> SNOMED CT derivation of the T2 statistic.
T2_STATISTICS: dict[str, Code] = {
    "t2_mean_ms": codes.SCT.Mean,
    "t2_median_ms": codes.SCT.Median,
    "t2_sd_ms": codes.SCT.StandardDeviation,
}

_PROCEDURE = codes.SCT.ImagingProcedure


def measurement_report(
    source: SourceSeries,
    table: pd.DataFrame,
    segmentation: Dataset,
    segments: Sequence[Segment],
    t2_map: Dataset,
    provenance: Mapping[str, Any],
) -> Dataset:
    """The measurement table as a TID 1500 Comprehensive SR.

    Parameters
    ----------
    source : SourceSeries
        The series measured.
    table : pandas.DataFrame
        :func:`discT2.measure` output (one row per disc x ROI).
    segmentation : Dataset
        The Segmentation written from the same ROIs.
    segments : sequence of Segment
        Its segments (:func:`~discT2.io.dicom_results.segmentation.segmentation`).
    t2_map : Dataset
        The T2 Parametric Map measured.
    provenance : mapping
        The fit's provenance (method and options), recorded as algorithm parameters.
    """
    by_name = {(s.level, s.roi): s for s in segments}
    algorithm = hd.sr.AlgorithmIdentification(
        name="discT2",
        version=__version__,
        parameters=_parameters(provenance),
    )
    rwv_map = hd.sr.RealWorldValueMap(referenced_sop_instance_uid=t2_map.SOPInstanceUID)
    # The values' real-world mapping lives in the Parametric Map itself, not in a separate Real
    # World Value Mapping object: reference it by its own SOP class.
    rwv_map.ReferencedSOPSequence[0].ReferencedSOPClassUID = t2_map.SOPClassUID
    groups = []
    for row in table.itertuples(index=False):
        segment = by_name.get((row.level, row.roi))
        if segment is None:
            continue  # a level without a segment (not placed)
        groups.append(_group(row, segment, segmentation, source, rwv_map, algorithm))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=content_uid("discT2", __version__),
            manufacturer_name=MANUFACTURER,
            model_name=MANUFACTURER,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=_PROCEDURE,
        imaging_measurements=groups,
    )
    series = source.series_uid
    sr = hd.sr.ComprehensiveSR(
        evidence=[segmentation, t2_map],
        content=report,
        series_instance_uid=content_uid(series, "measurement report"),
        series_number=SR_SERIES,
        sop_instance_uid=content_uid(
            series,
            "measurement report",
            segmentation.SOPInstanceUID,
            t2_map.SOPInstanceUID,
            table.to_csv(index=False),
        ),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
    )
    sr.SeriesDescription = "discT2 disc T2 measurements"
    mark_deidentified([sr], source.identity)
    return sr


def _group(
    row: Any,
    segment: Segment,
    segmentation: Dataset,
    source: SourceSeries,
    rwv_map: hd.sr.RealWorldValueMap,
    algorithm: hd.sr.AlgorithmIdentification,
) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    site = hd.sr.FindingSite(anatomic_location=LEVEL_CODES[segment.level])
    measurements = [
        hd.sr.Measurement(
            name=T2,
            value=float(getattr(row, column)),
            unit=_MS,
            derivation=derivation,
        )
        for column, derivation in T2_STATISTICS.items()
        if math.isfinite(float(getattr(row, column)))
    ]
    measurements.append(hd.sr.Measurement(name=N_VOXELS, value=int(row.n_voxels), unit=_VOXELS))
    grade = getattr(row, "pfirrmann", None)
    if segment.roi == "disc" and grade is not None and not pd.isna(grade):
        measurements.append(hd.sr.Measurement(name=PFIRRMANN, value=int(grade), unit=_GRADE))
    referenced = hd.sr.ReferencedSegment(
        sop_class_uid=segmentation.SOPClassUID,
        sop_instance_uid=segmentation.SOPInstanceUID,
        segment_number=segment.number,
        source_series=hd.sr.SourceSeriesForSegmentation(source.series_uid),
    )
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=content_uid(source.series_uid, "segment", segment.label),
            identifier=segment.label,
        ),
        referenced_segment=referenced,
        referenced_real_world_value_map=rwv_map,
        finding_type=INTERVERTEBRAL_DISC,
        algorithm_id=algorithm,
        finding_sites=[site],
        measurements=measurements,
    )


def _parameters(provenance: Mapping[str, Any]) -> list[str]:
    """Fit method and assumptions as ``name=value`` strings (each at most 64 characters)."""
    out = [f"method={provenance.get('method', 'unknown')}"]
    options = provenance.get("options") or {}
    for key, value in sorted(options.items()):
        if isinstance(value, (str, int, float, bool)) or value is None:
            out.append(f"{key}={value}"[:64])
    used = provenance.get("echo_times_used_ms")
    if used:
        out.append(f"echoes_used={len(used)}")
    return out
