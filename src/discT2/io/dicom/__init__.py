"""DICOM input: classic and enhanced MR, grouped into series, sorted, rescaled and validated.

Use :func:`discT2.load_series` and :func:`discT2.find_series`, which dispatch here for DICOM
input. The modules: ``files`` (which files), ``frames`` (one record per image from the headers),
``grouping`` (series, slice x echo grid, merging, choice), ``geometry`` (affine), ``pixels``
(decoding, per-image rescale), ``meta`` (acquisition metadata).
"""

from discT2.io.dicom.grouping import DicomScan, scan_dicom
from discT2.io.dicom.info import DicomEchoTimeError, DicomGeometryError, SeriesInfo
from discT2.io.dicom.load import find_dicom_series, load_dicom_map, load_dicom_series

__all__ = [
    "DicomEchoTimeError",
    "DicomGeometryError",
    "DicomScan",
    "SeriesInfo",
    "find_dicom_series",
    "load_dicom_map",
    "load_dicom_series",
    "scan_dicom",
]
