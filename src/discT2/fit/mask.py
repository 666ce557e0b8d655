"""Automatic foreground mask: drop the background (air) before fitting.

The first echo has the most signal. Its background is Rayleigh noise; a voxel is kept when its
first-echo magnitude exceeds ``k_sigma`` noise standard deviations (pure noise exceeds 5 sigma
with probability exp(-12.5) ~ 4e-6). The noise level is estimated from the image itself:

1. Otsu split of the positive values (the brightest 0.1 % clipped so hot voxels cannot capture
   it); sigma = median of the darker class / 1.1774 (Rayleigh).
2. Capped by the noise inside the bright class (median absolute 2 x 2 Haar detail / 0.6745,
   Donoho's estimate), which matters when there is little background and the darker class is
   dark tissue.
3. Iterated over the voxels below ``k_sigma x sigma`` until it settles.

When the darker class is not noise-like (coefficient of variation far below Rayleigh's 0.52: the
scanner blanked the background to zero, or there is none) every positive voxel is kept. Specks
of fewer than ``min_size`` connected voxels are removed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from discT2.errors import InputError
from discT2.series import MultiEchoSeries

__all__ = ["auto_mask"]


def auto_mask(
    data: MultiEchoSeries | np.ndarray, *, k_sigma: float = 5.0, min_size: int = 5
) -> np.ndarray:
    """Boolean mask of the voxels that hold signal rather than background noise.

    Parameters
    ----------
    data : MultiEchoSeries or ndarray, shape (..., E)
        Magnitude data, echo axis last.
    k_sigma : float
        Threshold on the first echo in noise standard deviations.
    min_size : int
        Connected groups of fewer voxels than this are dropped (face connectivity).

    Returns
    -------
    ndarray of bool, shape (...)
        True where the voxel should be fitted.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> img = np.abs(rng.normal(0, 1, (40, 40, 1, 2)) + 1j * rng.normal(0, 1, (40, 40, 1, 2)))
    >>> img[10:30, 10:30] += 50.0
    >>> m = auto_mask(img)
    >>> int(m.sum()), bool(m[20, 20, 0]), bool(m[0, 0, 0])
    (400, True, False)
    """
    arr = data.data if isinstance(data, MultiEchoSeries) else np.asarray(data)
    if arr.ndim < 1:
        raise InputError("auto_mask needs data with an echo axis last")
    if k_sigma <= 0:
        raise InputError(f"k_sigma must be positive; got {k_sigma}")
    first = np.asarray(arr[..., 0], dtype=np.float32)
    valid = np.isfinite(first)
    values = first[valid & (first > 0)]  # exact zeros: background the scanner blanked
    threshold = _noise_threshold(first, values, k_sigma)
    mask = valid & (first > threshold)
    if min_size > 1 and np.count_nonzero(mask) > min_size:
        labels, n = ndimage.label(mask)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        keep = sizes >= min_size
        keep[0] = False
        mask = keep[labels]
    return mask


def _noise_threshold(first: np.ndarray, values: np.ndarray, k_sigma: float) -> float:
    """``k_sigma`` x the noise sigma, or 0 when there is no noise class to separate."""
    if values.size < 2 or np.ptp(values) == 0:
        return 0.0
    # clip the brightest 0.1 % so that a few hot voxels cannot capture the Otsu split
    clipped = np.minimum(values, np.percentile(values, 99.9))
    otsu = float(threshold_otsu(clipped))
    lower = values[values < otsu]
    # Rayleigh noise has a coefficient of variation of 0.52; a much tighter lower class is
    # tissue (the background was blanked or cropped away), so keep every positive voxel
    if lower.size < 10 or np.std(lower) < 0.3 * np.mean(lower):
        return 0.0
    sigma = _background_sigma(lower)
    # with little background the darker class is dark tissue: the noise in the bright class
    # (finest-scale Haar detail, Donoho's MAD estimate) bounds sigma from above
    tissue_sigma = _haar_sigma(first, otsu)
    if tissue_sigma > 0:
        sigma = min(sigma, tissue_sigma)
    threshold = min(k_sigma * sigma, otsu)
    for _ in range(20):
        below = values[values < threshold]
        if below.size < 10:
            break
        new_threshold = min(k_sigma * _background_sigma(below), otsu)
        if abs(new_threshold - threshold) <= 1e-6 * threshold:
            break
        threshold = new_threshold
    return threshold


def _haar_sigma(first: np.ndarray, floor: float) -> float:
    """Gaussian noise sigma from 2 x 2 diagonal Haar details of voxels all above ``floor``."""
    img = first.reshape(first.shape[0], first.shape[1] if first.ndim > 1 else 1, -1)
    n0, n1 = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    if n0 == 0 or n1 == 0:
        return 0.0
    a = img[0:n0:2, 0:n1:2]
    b = img[1:n0:2, 0:n1:2]
    c = img[0:n0:2, 1:n1:2]
    d = img[1:n0:2, 1:n1:2]
    ok = (a > floor) & (b > floor) & (c > floor) & (d > floor)
    if np.count_nonzero(ok) < 50:
        return 0.0
    detail = 0.5 * (a - b - c + d)[ok]
    return float(np.median(np.abs(detail)) / 0.6745)


def _background_sigma(values: np.ndarray) -> float:
    if values.size == 0:
        return 0.0
    return float(np.median(values) / np.sqrt(2.0 * np.log(2.0)))
