"""napari reader: multi-echo DICOM or NIfTI series, and discT2 output folders.

- a DICOM folder (searched like :func:`discT2.load_series`), one DICOM file (e.g. an enhanced
  multi-frame object), or a 4-D NIfTI with its JSON sidecar: the echo stack, with the series'
  metadata in the layer;
- a discT2 output folder (``discT2 fit`` wrote ``t2.nii.gz`` there; ``discT2 rois`` wrote
  ``rois.json`` and ``rois.nii.gz`` there or in a sub-folder): the T2 map, S0 and uncertainty, and
  the ROIs as a Labels layer;
- discT2's DICOM results (``--dicom-out``: a folder of them, or one Parametric Map or
  Segmentation): the maps as images with their units in the layer metadata, the SEG as labels.

:func:`napari_get_reader` returns None for anything else, so that other readers can try.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from napari_disct2._exam import Exam, exam_name

__all__ = ["napari_get_reader", "read_dicom_results", "read_output_folder", "read_series"]

LayerData = list[tuple[Any, dict[str, Any], str]]

_T2_FILE = "t2.nii.gz"
_ROIS_FILES = ("rois.json", "rois.nii.gz")
_MAX_FILES_CHECKED = 200
#: SOP classes of the DICOM results: Parametric Map, Segmentation.
_RESULT_CLASSES = ("1.2.840.10008.5.1.4.1.1.30", "1.2.840.10008.5.1.4.1.1.66.4")
#: Layer role of each map read from DICOM results.
_MAP_ROLES = {"t2_ms": "t2", "s0": "s0", "t2_sd_ms": "t2_sd"}


def napari_get_reader(path: str | list[str]) -> Callable[[Any], LayerData] | None:
    """The reader for ``path``, or None when discT2 cannot read it."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    try:
        if p.is_dir():
            if (p / _T2_FILE).is_file() or _rois_folder(p) is not None:
                return read_output_folder
            written = [*p.glob("*.pm.dcm"), *p.glob("*.seg.dcm")]  # names --dicom-out gives
            if any(_is_dicom_result(f) for f in sorted(written)[:_MAX_FILES_CHECKED]):
                return read_dicom_results
            if _has_dicom(p) or _has_series_nifti(p):
                return read_series
            return None
        if p.is_file():
            if _is_nifti(p):
                return read_series if _nifti_ndim(p) == 4 and _sidecar(p).is_file() else None
            if _is_dicom(p):
                return read_dicom_results if _is_dicom_result(p) else read_series
    except OSError:
        return None
    return None


def read_series(path: str | list[str]) -> LayerData:
    """The echo stack of each multi-echo series at ``path`` (:func:`discT2.load_series`).

    A DICOM folder holding several multi-echo series opens them all, one exam each (named after
    the series description); scanner T2 maps and incomplete series are left out.
    """
    from discT2 import find_series, load_series

    if isinstance(path, (list, tuple)):
        path = path[0]
    name = exam_name(path)
    if Path(path).is_dir():
        found = [i for i in find_series(path) if i.kind == "multi-echo" and i.problem is None]
        if len(found) > 1:
            layers = []
            for info in found:
                series = load_series(path, series=info)
                label = f"{name} {info.description or info.number}"
                layers.append(Exam(label, series=series, source=str(path)).series_layer())
            return layers
    series = load_series(path)
    return [Exam(name, series=series, source=str(path)).series_layer()]


def read_output_folder(path: str | list[str]) -> LayerData:
    """The T2 map (with S0 and its uncertainty) and the ROIs of a discT2 output folder."""
    from discT2 import DiscROIs, T2Map

    if isinstance(path, (list, tuple)):
        path = path[0]
    folder = Path(path)
    t2map = T2Map.load(folder) if (folder / _T2_FILE).is_file() else None
    rois_dir = _rois_folder(folder)
    rois = DiscROIs.load(rois_dir) if rois_dir is not None else None
    exam = Exam(exam_name(folder), t2map=t2map, grid=rois, source=str(folder))
    layers: LayerData = []
    if t2map is not None:
        layers += exam.map_layers()
    if rois is not None:
        if t2map is not None and (
            tuple(rois.shape) != tuple(t2map.shape) or not _same_affine(rois, t2map)
        ):
            raise ValueError(
                f"{rois_dir}: the ROIs are not on the grid of {folder / _T2_FILE}; open them "
                "with the exam they were placed on"
            )
        exam.session.adopt(rois)
        layers.append(exam.labels_layer(rois.labels))
    return layers


def read_dicom_results(path: str | list[str]) -> LayerData:
    """discT2's DICOM results: Parametric Maps as images (unit in the metadata), SEG as labels."""
    from types import SimpleNamespace

    from discT2.io.dicom_results import read_dicom_results as read

    if isinstance(path, (list, tuple)):
        path = path[0]
    results = read(path)
    assert results.affine is not None
    shape = next(iter(results.maps.values()), results.labels).shape  # type: ignore[union-attr]
    t2map = results.t2map()
    grid = SimpleNamespace(shape=shape, affine=results.affine)
    exam = Exam(exam_name(path), t2map=t2map, grid=grid, source=str(path))
    layers: LayerData = []
    if t2map is not None:
        layers += exam.map_layers()
    else:
        for attribute, values in results.maps.items():
            meta = exam._meta(_MAP_ROLES[attribute])
            meta.update(colormap="gray")
            layers.append((exam.frame.to_display(values), meta, "image"))
    for _, meta, _ in layers:
        role = meta["metadata"]["discT2"]["role"]
        attribute = next(a for a, r in _MAP_ROLES.items() if r == role)
        meta["metadata"]["unit"] = results.units[attribute]
    if results.labels is not None:
        layers.append(exam.labels_layer(results.labels))
    return layers


# -------------------------------------------------------------------- recognising inputs


def _rois_folder(folder: Path) -> Path | None:
    """The folder itself, or its one sub-folder, holding the rois.json and rois.nii.gz of
    ``discT2 rois`` (a rois.json without the disc list is someone else's)."""
    if _is_rois_folder(folder):
        return folder
    found = [sub for sub in sorted(folder.iterdir()) if sub.is_dir() and _is_rois_folder(sub)]
    return found[0] if len(found) == 1 and (folder / _T2_FILE).is_file() else None


def _is_rois_folder(folder: Path) -> bool:
    import json

    if not all((folder / f).is_file() for f in _ROIS_FILES):
        return False
    try:
        doc = json.loads((folder / _ROIS_FILES[0]).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("discs"), list) and "labels" in doc


def _same_affine(a: Any, b: Any) -> bool:
    import numpy as np

    return bool(np.allclose(a.affine, b.affine, atol=1e-3))


def _is_nifti(p: Path) -> bool:
    return p.name.endswith((".nii", ".nii.gz"))


def _sidecar(p: Path) -> Path:
    stem = p.name[: -len(".nii.gz")] if p.name.endswith(".nii.gz") else p.stem
    return p.with_name(stem + ".json")


def _nifti_ndim(p: Path) -> int:
    import nibabel as nib

    try:
        return len(nib.load(p).shape)
    except Exception:  # nibabel raises many types for broken files; not ours then
        return 0


def _has_series_nifti(folder: Path) -> bool:
    niftis = [f for f in folder.iterdir() if f.is_file() and _is_nifti(f)]
    with_sidecar = [f for f in niftis if _sidecar(f).is_file()]
    return any(_nifti_ndim(f) == 4 for f in with_sidecar) or len(with_sidecar) >= 2


def _is_dicom(p: Path) -> bool:
    """DICOM Part 10 preamble ('DICM' at byte 128)."""
    try:
        with open(p, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _is_dicom_result(p: Path) -> bool:
    """A Parametric Map or Segmentation file (what ``--dicom-out`` writes)."""
    if not _is_dicom(p):
        return False
    import pydicom

    try:
        ds = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except Exception:  # pydicom raises many types for broken files; not ours then
        return False
    return str(ds.get("SOPClassUID", "")) in _RESULT_CLASSES


def _files(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            yield Path(root) / name


def _has_dicom(folder: Path) -> bool:
    for n, f in enumerate(_files(folder)):
        if n >= _MAX_FILES_CHECKED:
            return False
        if f.name != "DICOMDIR" and _is_dicom(f):
            return True
    return False
