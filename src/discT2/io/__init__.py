"""Readers and writers: DICOM and NIfTI."""

from discT2.io.nifti import load_map, save_map

__all__ = ["load_map", "save_map"]
