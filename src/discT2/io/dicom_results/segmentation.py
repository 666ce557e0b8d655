"""Disc ROIs as a binary DICOM Segmentation: one segment per disc x ROI, coded anatomy.

Each disc has eight segments: its five ROIs (anterior annulus, three nucleus bands, posterior
annulus; together they equal the labels of ``rois.nii.gz`` voxel for voxel) and the pooled NP,
AF and whole disc that ``measure`` reports (overlapping the five, which a binary Segmentation
allows), so that every row of the measurement report references a segment of its own.

Segmented property: SNOMED CT 360499006 *Intervertebral disc* for every segment, with the disc's
level as the anatomic region (SNOMED CT *Intervertebral disc structure of <upper> vertebra*) and
the part of the disc (nucleus pulposus or annulus fibrosus and the band) as a type modifier in the
local coding scheme ``99DISCT2``.
"""

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
from discT2.io.dicom_results.parametric_map import MANUFACTURER, MAP_SERIES, geometry
from discT2.roi.levels import DERIVED_ROIS, ROI_NAMES, label_value
from discT2.roi.rois import DiscROIs

__all__ = ["INTERVERTEBRAL_DISC", "LEVEL_CODES", "SEG_SERIES", "Segment", "segmentation"]

SEG_SERIES = MAP_SERIES + 10

#: SNOMED CT "Intervertebral disc" (the segmented property type of every segment).
INTERVERTEBRAL_DISC = Code("360499006", "SCT", "Intervertebral disc")

#: SNOMED CT code of each disc level (the disc below the named upper vertebra).
LEVEL_CODES: dict[str, Code] = {
    level: Code(code.value, code.scheme_designator, code.meaning.removesuffix(" (body structure)"))
    for level, code in {
        "T12-L1": codes.SCT.IntervertebralDiscStructureOfTwelfthThoracicVertebra,
        "L1-L2": codes.SCT.IntervertebralDiscStructureOfFirstLumbarVertebra,
        "L2-L3": codes.SCT.IntervertebralDiscStructureOfSecondLumbarVertebra,
        "L3-L4": codes.SCT.IntervertebralDiscStructureOfThirdLumbarVertebra,
        "L4-L5": codes.SCT.IntervertebralDiscStructureOfFourthLumbarVertebra,
        "L5-S1": codes.SCT.IntervertebralDiscStructureOfFifthLumbarVertebra,
    }.items()
}

_LOCAL = "99DISCT2"
#: What each ROI name means, for the segment description and its local code.
ROI_MEANINGS: dict[str, str] = {
    "AF_anterior": "Annulus fibrosus, anterior band",
    "NP_anterior": "Nucleus pulposus, anterior band",
    "NP_central": "Nucleus pulposus, central band",
    "NP_posterior": "Nucleus pulposus, posterior band",
    "AF_posterior": "Annulus fibrosus, posterior band",
    "NP": "Nucleus pulposus (ROIs 2-4)",
    "AF": "Annulus fibrosus (ROIs 1 and 5)",
    "disc": "Whole disc (ROIs 1-5)",
}
# Display colours (RGB): annulus blue, nucleus warm, pooled light.
_COLOURS: dict[str, tuple[int, int, int]] = {
    "AF_anterior": (70, 130, 180),
    "NP_anterior": (255, 165, 0),
    "NP_central": (220, 20, 60),
    "NP_posterior": (255, 215, 0),
    "AF_posterior": (100, 149, 237),
    "NP": (240, 128, 128),
    "AF": (135, 206, 250),
    "disc": (200, 200, 200),
}


@dataclass(frozen=True)
class Segment:
    """One segment: its number, disc level, ROI name and the label values it covers."""

    number: int
    level: str
    roi: str
    labels: tuple[int, ...]

    @property
    def label(self) -> str:
        """SegmentLabel, e.g. ``'L4-L5 NP_central'``."""
        return f"{self.level} {self.roi}"


def segments_of(rois: DiscROIs) -> list[Segment]:
    """The segments of ``rois``, numbered from 1: per disc, its five ROIs then NP, AF, disc."""
    out: list[Segment] = []
    groups = [(name, (k,)) for k, name in enumerate(ROI_NAMES, 1)] + list(DERIVED_ROIS.items())
    for disc in rois.discs:
        for name, members in groups:
            values = tuple(label_value(disc.level, k) for k in members)
            out.append(Segment(len(out) + 1, disc.level, name, values))
    return out


def segmentation(source: SourceSeries, rois: DiscROIs) -> tuple[Dataset, list[Segment]]:
    """The ROIs as a binary Segmentation on the source grid, and its segments.

    Parameters
    ----------
    source : SourceSeries
        The series the ROIs were placed on (:func:`read_source`).
    rois : DiscROIs
        The placed ROIs.

    Returns
    -------
    Dataset
        The Segmentation (highdicom ``Segmentation``).
    list of Segment
        Segment number, level, ROI name and label values of each segment.
    """
    source.check_grid(rois.shape, rois.affine, "the ROI volume")
    segments = segments_of(rois)
    labels = np.transpose(rois.labels, (2, 1, 0))  # (slice, row, column)
    masks = np.zeros((*labels.shape, max(len(segments), 1)), dtype=bool)
    for seg in segments:
        masks[..., seg.number - 1] = np.isin(labels, seg.labels)
    measures, orientation, positions = geometry(source)
    series = source.series_uid
    descriptions = [_description(seg, rois, series) for seg in segments]
    seg_ds = hd.seg.Segmentation(
        source_images=source.references,
        pixel_array=masks,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=content_uid(series, "segmentation"),
        series_number=SEG_SERIES,
        sop_instance_uid=content_uid(series, "segmentation", np.packbits(masks).tobytes()),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=__version__,
        device_serial_number="0",
        content_label="DISC_ROIS",
        content_description="discT2 disc ROIs (5 per disc, with NP, AF and whole disc)",
        pixel_measures=measures,
        plane_orientation=orientation,
        plane_positions=positions,
        omit_empty_frames=True,  # ROIs cover a few slices: the rest would be most of the file
    )
    seg_ds.SeriesDescription = "discT2 disc ROIs"
    for item, seg in zip(seg_ds.SegmentSequence, segments, strict=True):
        item.SegmentDescription = ROI_MEANINGS[seg.roi]
        modifier = Dataset()
        modifier.CodeValue = seg.roi
        modifier.CodingSchemeDesignator = _LOCAL
        modifier.CodeMeaning = ROI_MEANINGS[seg.roi]
        item.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
            modifier
        ]
    _declare_local_scheme(seg_ds)
    mark_deidentified([seg_ds], source.identity)
    return seg_ds, segments


def _description(seg: Segment, rois: DiscROIs, series: str) -> hd.seg.SegmentDescription:
    # Drawn or propagated geometry: a person placed the disc, discT2 cut the bands from it.
    detected = rois.disc(seg.level).method == "auto"
    algorithm = hd.AlgorithmIdentificationSequence(
        name="discT2 ROI placement",
        family=codes.cid7162.MorphologicalOperations,
        version=__version__,
    )
    return hd.seg.SegmentDescription(
        segment_number=seg.number,
        segment_label=seg.label,
        segmented_property_category=codes.SCT.AnatomicalStructure,
        segmented_property_type=INTERVERTEBRAL_DISC,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        if detected
        else hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
        algorithm_identification=algorithm,
        tracking_uid=content_uid(series, "segment", seg.label),
        tracking_id=seg.label,
        anatomic_regions=[LEVEL_CODES[seg.level]],
        display_color=hd.color.CIELabColor.from_rgb(*_COLOURS[seg.roi]),
    )


def _declare_local_scheme(ds: Dataset) -> None:
    item = Dataset()
    item.CodingSchemeDesignator = _LOCAL
    item.CodingSchemeName = "discT2 disc ROI parts"
    item.CodingSchemeResponsibleOrganization = "discT2 developers"
    sequence = list(ds.get("CodingSchemeIdentificationSequence", []))
    ds.CodingSchemeIdentificationSequence = [*sequence, item]
