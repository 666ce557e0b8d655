"""Results as DICOM objects beside the source series: Parametric Maps, Segmentation, SR.

:func:`write_dicom_results` writes, on the grid and in the frame of reference of the DICOM series
the maps were fitted to, and referencing it:

- ``t2.pm.dcm``, ``t2_sd.pm.dcm``, ``s0.pm.dcm``: Parametric Maps (32-bit float pixels, Real World
  Value Mapping in ms through UCUM for T2 and its SD);
- ``rois.seg.dcm``: a binary Segmentation, eight segments per disc (its five ROIs, NP, AF, whole
  disc) with the disc level as coded anatomy;
- ``measurements.sr.dcm``: a TID 1500 measurement report (Comprehensive SR) with the mean, median
  and SD of T2 and the voxel count of every ROI, referencing its segment and the T2 map, with the
  fit method and its options.

Identification is de-identified by default (DICOM PS3.15 Basic Application Level
Confidentiality Profile: pseudonymous patient name and ID, new UIDs, dates and other identifying
fields empty); ``identity='source'`` copies the patient and study identification and UIDs from the
source so that the results file beside the exam in a PACS. Only the DICOM source case is
possible: an exam read from NIfTI has nothing to reference.

:func:`read_dicom_results` reads the Parametric Maps and the Segmentation back (maps with their
units, the ROI labels in ``rois.nii.gz`` numbering).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from pydicom.dataset import Dataset

from discT2.errors import InputError
from discT2.io.dicom_results._identity import DEFAULT_PSEUDONYM, IDENTITIES
from discT2.io.dicom_results._source import SourceSeries, read_source
from discT2.io.dicom_results.parametric_map import PARAMETRIC_MAPS, parametric_map
from discT2.io.dicom_results.read import DicomResults, read_dicom_results
from discT2.io.dicom_results.segmentation import segmentation
from discT2.io.dicom_results.structured_report import measurement_report
from discT2.maps import T2Map
from discT2.roi.rois import ROIS_NIFTI, DiscROIs

__all__ = [
    "DEFAULT_PSEUDONYM",
    "IDENTITIES",
    "PARAMETRIC_MAPS",
    "SEG_FILE",
    "SR_FILE",
    "DicomResults",
    "SourceSeries",
    "map_file",
    "read_dicom_results",
    "read_source",
    "write_dicom_results",
]

logger = logging.getLogger(__name__)

#: File names of the Segmentation and the measurement report.
SEG_FILE = ROIS_NIFTI.split(".", 1)[0] + ".seg.dcm"
SR_FILE = "measurements.sr.dcm"


def map_file(attribute: str) -> str:
    """File name of the Parametric Map of a :class:`~discT2.maps.T2Map` attribute.

    Parameters
    ----------
    attribute : str
        ``'t2_ms'``, ``'t2_sd_ms'`` or ``'s0'``.
    """
    for kind in PARAMETRIC_MAPS:
        if kind.attribute == attribute:
            return f"{kind.stem}.pm.dcm"
    raise InputError(
        f"no Parametric Map for {attribute!r}; choose from "
        f"{', '.join(k.attribute for k in PARAMETRIC_MAPS)}"
    )


def write_dicom_results(
    folder: str | os.PathLike,
    source: str | os.PathLike | SourceSeries,
    *,
    t2map: T2Map | None = None,
    rois: DiscROIs | None = None,
    measurements: pd.DataFrame | None = None,
    maps: Sequence[str] = ("t2_ms", "t2_sd_ms", "s0"),
    series: str | int | None = None,
    identity: str = "deidentified",
    pseudonym: str | None = None,
) -> dict[str, Path]:
    """Write the given results as DICOM into ``folder``.

    Parameters
    ----------
    folder : path-like
        Output folder (created); files of the same names are replaced.
    source : path-like or SourceSeries
        The DICOM series the results were computed from (the folder or files it was loaded
        from), or one already read with :func:`read_source`.
    t2map : T2Map, optional
        Fitted maps: written as Parametric Maps (those named in ``maps``).
    rois : DiscROIs, optional
        Placed ROIs: written as a Segmentation.
    measurements : pandas.DataFrame, optional
        :func:`discT2.measure` table (or ``measurements.csv`` read back): written as a
        measurement report, which needs ``t2map`` and ``rois`` too (it references both).
    maps : sequence of str
        T2Map attributes written as Parametric Maps (default T2, its SD and S0).
    series : str or int, optional
        Which series of ``source`` (default: the one the map records, else the only one).
    identity : {'deidentified', 'source'}
        De-identify (default) or copy the source's patient and study identification and UIDs.
    pseudonym : str, optional
        Patient name and ID of de-identified results (default ``ANONYMOUS``); a study run uses
        the subject label of the manifest.

    Returns
    -------
    dict of str to Path
        ``{'t2_ms': ..., 'segmentation': ..., 'report': ...}``: what was written.

    Raises
    ------
    InputError
        Nothing to write, a report without maps or ROIs, a source that is not DICOM, or results
        that are not on the source series' grid (:class:`~discT2.errors.GeometryError`).
    """
    if t2map is None and rois is None:
        raise InputError("nothing to write as DICOM: give a T2 map and/or ROIs")
    if measurements is not None and (t2map is None or rois is None):
        raise InputError("a DICOM measurement report references the T2 map and the ROIs: give both")
    if not isinstance(source, SourceSeries):
        if series is None and t2map is not None:
            series = t2map.meta.get("series_instance_uid")
        source = read_source(source, series, identity=identity, pseudonym=pseudonym)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    try:
        written = _write(out, source, t2map, rois, measurements, maps)
    except (ValueError, TypeError, AttributeError) as exc:
        if isinstance(exc, InputError):
            raise
        # highdicom refuses a source it cannot derive from (missing geometry, odd SOP class)
        raise InputError(f"{source.root}: cannot write DICOM results: {exc}") from exc
    logger.debug("wrote DICOM %s into %s", ", ".join(p.name for p in written.values()), out)
    return written


def _write(
    out: Path,
    source: SourceSeries,
    t2map: T2Map | None,
    rois: DiscROIs | None,
    measurements: pd.DataFrame | None,
    maps: Sequence[str],
) -> dict[str, Path]:
    written: dict[str, Path] = {}
    t2_object: Dataset | None = None
    if t2map is not None:
        wanted = list(maps)
        if measurements is not None and "t2_ms" not in wanted:
            wanted.insert(0, "t2_ms")
        for kind in PARAMETRIC_MAPS:
            if kind.attribute not in wanted or getattr(t2map, kind.attribute) is None:
                continue
            ds = parametric_map(source, t2map, kind)
            if kind.attribute == "t2_ms":
                t2_object = ds
            written[kind.attribute] = _save(ds, out / map_file(kind.attribute))
    if rois is not None:
        seg, segments = segmentation(source, rois)
        written["segmentation"] = _save(seg, out / SEG_FILE)
        if measurements is not None:
            assert t2map is not None and t2_object is not None
            sr = measurement_report(
                source, measurements, seg, segments, t2_object, t2map.provenance
            )
            written["report"] = _save(sr, out / SR_FILE)
    return written


def _save(ds: Dataset, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    ds.save_as(tmp, enforce_file_format=True)
    os.replace(tmp, path)
    return path
