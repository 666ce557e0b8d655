"""Noise level of magnitude images from their background.

In air the true signal is zero, so a magnitude voxel is the modulus of two Gaussian channels of
standard deviation sigma: a Rayleigh variable with median ``sigma * sqrt(2 ln 2)``. The median
is insensitive to the few ghosts and edge voxels that fall into a background mask, which is why
it is used rather than the mean (``sigma * sqrt(pi / 2)``) or the second moment.

Integer-valued data (most DICOM) are dithered over their rounding interval before the median,
which otherwise moves in whole units (up to 15 % of a sigma of a few units).

Caveats: vendor background masking (exact zeros) is ignored; parallel imaging makes the noise
vary in space (the estimate is then a background average); a sum-of-squares combination of N
coils gives a non-central chi distribution whose background median is larger than Rayleigh's.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from scipy import ndimage

from discT2.errors import InputError
from discT2.series import MultiEchoSeries

__all__ = ["estimate_noise_sigma", "rayleigh_sigma"]

logger = logging.getLogger(__name__)

_RAYLEIGH_MEDIAN = math.sqrt(2.0 * math.log(2.0))


def rayleigh_sigma(values: np.ndarray) -> float:
    """Sigma of the Gaussian channels from magnitude samples of pure noise (median / 1.1774).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> m = np.abs(rng.normal(0, 3, 100_000) + 1j * rng.normal(0, 3, 100_000))
    >>> round(rayleigh_sigma(m), 1)
    3.0
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size and np.all(values == np.round(values)):
        # integer data: the median of rounded values jumps by whole units, which is up to 15 %
        # of sigma when sigma is a few units; spreading each value over its rounding interval
        # (a fixed, reproducible dither) restores the continuous median
        values = values + np.random.default_rng(0).uniform(-0.5, 0.5, values.size)
    return float(np.median(values) / _RAYLEIGH_MEDIAN)


def estimate_noise_sigma(
    data: MultiEchoSeries | np.ndarray,
    background: np.ndarray | None = None,
    *,
    min_voxels: int = 100,
) -> float:
    """Noise standard deviation per channel, from the background of a magnitude series.

    Parameters
    ----------
    data : MultiEchoSeries or ndarray, shape (..., E)
        Magnitude data, echo axis last.
    background : ndarray of bool, shape (...), optional
        Voxels holding only noise. By default, everything outside :func:`~discT2.fit.auto_mask`
        grown by two voxels (edges and partial volumes stay out).
    min_voxels : int
        Fewest non-zero background samples (over all echoes) accepted.

    Returns
    -------
    float
        Sigma, in the data's signal units.

    Raises
    ------
    InputError
        Too few non-zero background voxels (e.g. a tightly cropped image, or a vendor that zeroes
        the background): pass ``sigma=`` to the fit instead.
    """
    from discT2.fit.mask import auto_mask

    arr = data.data if isinstance(data, MultiEchoSeries) else np.asarray(data)
    if arr.ndim < 2:
        raise InputError(
            f"cannot estimate the noise from a single voxel (data shape {arr.shape}); give sigma"
        )
    spatial = arr.shape[:-1]
    if background is None:
        foreground = auto_mask(arr)
        if foreground.any():
            foreground = ndimage.binary_dilation(foreground, iterations=2)
        grown = foreground
        background = ~grown
    else:
        background = np.asarray(background, dtype=bool)
        if background.shape != spatial:
            raise InputError(
                f"background mask has shape {background.shape}; the data's voxel grid is {spatial}"
            )
    samples = arr[background]
    samples = samples[np.isfinite(samples) & (samples > 0)]
    if samples.size < min_voxels:
        raise InputError(
            f"only {samples.size} non-zero background samples to estimate the noise from "
            f"(need {min_voxels}); the image may be cropped or its background zeroed by the "
            "scanner. Give the noise level explicitly (sigma=...)."
        )
    sigma = rayleigh_sigma(samples)
    logger.debug("noise sigma %.4g from %d background samples", sigma, samples.size)
    return sigma
