"""Helpers for the DICOM loader tests: known series written the way scanners write them.

The ground truth of every synthetic test is the :class:`MultiEchoSeries` that was written; the
writer itself is checked against plain pydicom in ``tests/io/test_dicom_write.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest

from discT2 import MultiEchoSeries
from discT2.io.dicom_write import write_dicom_series

TE_MS = (10.0, 20.0, 30.0, 40.0)


def rotation(angles_deg: tuple[float, float, float]) -> np.ndarray:
    """Rotation about x, then y, then z (degrees)."""
    ax, ay, az = np.radians(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def sagittal_affine(
    voxel_mm: tuple[float, float, float] = (0.8, 0.7, 4.0),
    angles_deg: tuple[float, float, float] = (8.0, 3.0, 0.0),
    origin_ras: tuple[float, float, float] = (-10.0, 60.0, 110.0),
) -> np.ndarray:
    """A slightly oblique sagittal grid: i -> posterior, j -> inferior, k -> patient left (RAS)."""
    axes = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # columns i, j, k
    affine = np.eye(4)
    affine[:3, :3] = rotation(angles_deg) @ axes @ np.diag(voxel_mm)
    affine[:3, 3] = origin_ras
    return affine


def make_series(
    shape: tuple[int, int, int] = (12, 10, 5),
    te_ms: tuple[float, ...] = TE_MS,
    affine: np.ndarray | None = None,
    seed: int = 0,
    **meta,
) -> MultiEchoSeries:
    """Integer-valued decays, different in every voxel, that fit 12 bits."""
    rng = np.random.default_rng(seed)
    s0 = rng.integers(300, 4000, shape).astype(float)
    t2 = rng.uniform(30.0, 150.0, shape)
    data = np.rint(s0[..., None] * np.exp(-np.asarray(te_ms) / t2[..., None]))
    meta = {"repetition_time_ms": 2000.0, "series_description": "T2 MAP MESE SAG", **meta}
    return MultiEchoSeries(data, te_ms, sagittal_affine() if affine is None else affine, meta)


def write(series: MultiEchoSeries, folder: Path, **kwargs) -> list[Path]:
    kwargs.setdefault("uid_seed", f"{folder}-{kwargs.get('series_number', 1)}")
    return write_dicom_series(series, folder, **kwargs)


def edit(files: list[Path], change: Callable[[pydicom.Dataset], None]) -> None:
    """Apply ``change`` to every file's dataset and save it in place (same transfer syntax)."""
    for f in files:
        ds = pydicom.dcmread(f)
        change(ds)
        ds.save_as(f)


def by_echo_slice(files: list[Path]) -> dict[tuple[float, int], Path]:
    """Map (EchoTime, InstanceNumber order index of the slice) -> file, read independently."""
    out = {}
    dsets = [(pydicom.dcmread(f, stop_before_pixels=True), f) for f in files]
    iop = np.array(dsets[0][0].ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    positions = sorted({round(float(np.dot(d.ImagePositionPatient, normal)), 3) for d, _ in dsets})
    for d, f in dsets:
        k = positions.index(round(float(np.dot(d.ImagePositionPatient, normal)), 3))
        out[(float(d.EchoTime), k)] = f
    return out


@pytest.fixture
def dcm() -> SimpleNamespace:
    """The helpers above, as one fixture."""
    return SimpleNamespace(
        make_series=make_series,
        write=write,
        edit=edit,
        by_echo_slice=by_echo_slice,
        sagittal_affine=sagittal_affine,
        TE_MS=TE_MS,
    )
