"""Fixtures for the fitting tests: Rician noise, Cramer-Rao bounds, DICOM series for real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from discT2 import MultiEchoSeries

#: Echo times of a typical disc protocol (12 echoes, 10 ms apart).
TE_MS = np.arange(1, 13) * 10.0


def rician(rng: np.random.Generator, signal: np.ndarray, sigma: float, n: int) -> np.ndarray:
    """``n`` magnitude realisations (rows) of a noise-free echo train with Rician noise."""
    signal = np.asarray(signal, dtype=float)
    shape = (n, signal.size)
    return np.abs(signal + rng.normal(0, sigma, shape) + 1j * rng.normal(0, sigma, shape))


def crlb_t2(t2_ms: float, s0: float, sigma: float, te_ms: np.ndarray, offset: bool = False):
    """Cramer-Rao lower bound on the SD of T2 for S0 exp(-TE/T2) (+ C) in Gaussian noise."""
    e = np.exp(-te_ms / t2_ms)
    cols = [e, s0 * te_ms / t2_ms**2 * e]
    if offset:
        cols.append(np.ones_like(te_ms))
    jac = np.stack(cols, axis=1)
    return float(np.sqrt(sigma**2 * np.linalg.inv(jac.T @ jac)[1, 1]))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def read_dicom_series(folder: Path) -> MultiEchoSeries:
    """Read one single-stack multi-echo series with pydicom (test helper, not library code).

    Files are grouped by EchoTime and slice position (``ImagePositionPatient . normal``), each
    file's RescaleSlope/Intercept applied; the affine follows the conventions of
    :mod:`discT2.series` (i along rows, j down columns, RAS).
    """
    records = []
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        ds = pydicom.dcmread(path)
        if "PixelData" not in ds:
            continue
        iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
        ipp = np.asarray(ds.ImagePositionPatient, dtype=float)
        normal = np.cross(iop[:3], iop[3:])
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        image = ds.pixel_array.astype(np.float64) * slope + intercept
        records.append((float(ds.EchoTime), round(float(ipp @ normal), 2), image, ipp, iop, ds))
    echo_times = sorted({r[0] for r in records})
    positions = sorted({r[1] for r in records})
    rows, cols = records[0][2].shape
    data = np.zeros((cols, rows, len(positions), len(echo_times)), dtype=np.float32)
    for te, pos, image, *_ in records:
        data[:, :, positions.index(pos), echo_times.index(te)] = image.T
    first = next(r for r in records if r[1] == positions[0])
    ipp, iop, ds = first[3], first[4], first[5]
    spacing = [float(v) for v in ds.PixelSpacing]
    normal = np.cross(iop[:3], iop[3:])
    dz = positions[1] - positions[0] if len(positions) > 1 else float(ds.SliceThickness)
    affine = np.eye(4)
    affine[:3, 0] = iop[:3] * spacing[1]
    affine[:3, 1] = iop[3:] * spacing[0]
    affine[:3, 2] = normal * dz
    affine[:3, 3] = ipp
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    meta = {"source": str(folder), "vendor": str(ds.Manufacturer).split()[0].lower()}
    return MultiEchoSeries(data, echo_times, affine, meta)


@pytest.fixture(scope="session")
def dicom_series():
    """The DICOM reader above, as a fixture (test modules cannot import each other)."""
    return read_dicom_series


@pytest.fixture(scope="session")
def noisy():
    """``noisy(rng, signal, sigma, n)``: Rician realisations of an echo train."""
    return rician


@pytest.fixture(scope="session")
def crlb():
    """``crlb(t2_ms, s0, sigma, te_ms, offset=False)``: Cramer-Rao bound on SD(T2)."""
    return crlb_t2


@pytest.fixture(scope="session")
def te_ms() -> np.ndarray:
    """12 echoes, 10-120 ms."""
    return TE_MS.copy()


def find_spheres(t2_ms: np.ndarray) -> list[np.ndarray]:
    """Interiors of a phantom slice's round regions shorter than the surrounding fluid (~2.4 s).

    Found on a T2 map of the first slice, without coordinates: connected regions below 1.5 s,
    20-400 pixels, at least 60 % of their bounding circle, eroded by two pixels.
    """
    from scipy import ndimage

    t2 = t2_ms[:, :, 0]
    labels, n = ndimage.label(ndimage.binary_opening(np.isfinite(t2) & (t2 < 1500.0)))
    regions = []
    for i in range(1, n + 1):
        region = labels == i
        area = region.sum()
        rows, cols = np.nonzero(region)
        extent = max(np.ptp(rows), np.ptp(cols)) + 1
        if 20 <= area <= 400 and area / (np.pi * (extent / 2) ** 2) > 0.6:
            core = ndimage.binary_erosion(region, iterations=2)
            if core.sum() >= 5:
                regions.append(core)
    return regions


@pytest.fixture(scope="session")
def phantom_spheres():
    """:func:`find_spheres`, as a fixture (test modules cannot import each other)."""
    return find_spheres
