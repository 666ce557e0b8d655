"""Readers and writers: DICOM and NIfTI."""

from discT2.io.nifti import (
    is_nifti,
    load_map,
    load_nifti_series,
    save_map,
    save_nifti_series,
    vendor_name,
)

__all__ = [
    "is_nifti",
    "load_map",
    "load_nifti_series",
    "save_map",
    "save_nifti_series",
    "vendor_name",
]
