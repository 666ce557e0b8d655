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

__all__ = ["estimate_noise_sigma", "estimate_noise_sigma_from_residuals", "rayleigh_sigma"]

logger = logging.getLogger(__name__)

_RAYLEIGH_MEDIAN = math.sqrt(2.0 * math.log(2.0))

#: Echoes above four noise SDs a voxel needs to inform the residual noise estimate.
_MIN_ECHOES_ABOVE_NOISE = 5


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


def estimate_noise_sigma_from_residuals(
    signal: np.ndarray,
    echo_times_ms: np.ndarray,
    *,
    max_voxels: int = 20000,
    min_voxels: int = 50,
    seed: int = 0,
) -> tuple[float, int]:
    """Noise standard deviation from mono-exponential fit residuals pooled over tissue voxels.

    For series without usable background (a tight field of view, or a scanner that zeroes the
    air). A random subset of the voxels is fitted by least squares; residuals are pooled over the
    echoes whose fitted signal is at least four times the current estimate (there a magnitude
    voxel's noise is close to Gaussian with the channels' sigma), each residual divided by
    ``sqrt(1 - h)`` with ``h`` its leverage in the two-parameter fit, by their median absolute
    deviation. Three rounds: the first over every echo.

    Parameters
    ----------
    signal : ndarray, shape (N, E)
        Magnitude signal of the voxels to use (e.g. the fit mask), echoes last.
    echo_times_ms : ndarray, shape (E,)
        Their echo times.
    max_voxels : int
        Most voxels fitted (a seeded random subset).
    min_voxels : int
        Fewest voxels with a usable fit.
    seed : int
        Seed of the subset.

    Returns
    -------
    sigma : float
        In the data's signal units.
    n_voxels : int
        Voxels whose residuals were pooled.

    Raises
    ------
    InputError
        Fewer than ``min_voxels`` usable voxels.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> te = np.arange(1, 13) * 10.0
    >>> clean = 300 * np.exp(-te / rng.uniform(40, 200, (5000, 1)))
    >>> noisy = np.abs(clean + rng.normal(0, 5, clean.shape) + 1j * rng.normal(0, 5, clean.shape))
    >>> round(estimate_noise_sigma_from_residuals(noisy, te)[0], 1)
    5.0
    """
    from discT2.fit.base import T2Model
    from discT2.maps import FitFlag

    y = np.asarray(signal, dtype=np.float64)
    te = np.asarray(echo_times_ms, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != te.size or te.size < 4:
        raise InputError(
            "estimating the noise from fit residuals needs (N, E) signal with at least 4 echoes"
        )
    y = y[np.all(np.isfinite(y), axis=1) & (y[:, 0] > 0)]
    if y.shape[0] > max_voxels:
        y = y[np.random.default_rng(seed).choice(y.shape[0], max_voxels, replace=False)]
    if y.shape[0] < min_voxels:
        raise InputError(
            f"only {y.shape[0]} voxels with signal to estimate the noise from (need {min_voxels})"
        )
    fitted = T2Model(te, "nlls", workers=1).fit(y)
    t2 = fitted.t2_ms.reshape(-1)
    s0 = fitted.s0.reshape(-1)
    ok = ((fitted.flags.reshape(-1) & (FitFlag.FAILED | FitFlag.AT_BOUND)) == 0) & np.isfinite(t2)
    if np.count_nonzero(ok) < min_voxels:
        raise InputError(
            f"only {np.count_nonzero(ok)} voxels fitted well enough to estimate the noise "
            f"(need {min_voxels})"
        )
    decay = np.exp(-te[None, :] / t2[ok, None])
    model = s0[ok, None] * decay
    # residuals standardised by their leverage: the two fitted parameters shrink the residuals
    # of the high-signal early echoes most (hat-matrix diagonal of the linearised fit)
    jac = np.stack([decay, model * te[None, :] / t2[ok, None] ** 2], axis=2)
    normal = np.einsum("nei,nej->nij", jac, jac)
    det = normal[:, 0, 0] * normal[:, 1, 1] - normal[:, 0, 1] ** 2
    good = det > 0
    inv = np.empty_like(normal)
    inv[:, 0, 0] = normal[:, 1, 1]
    inv[:, 1, 1] = normal[:, 0, 0]
    inv[:, 0, 1] = inv[:, 1, 0] = -normal[:, 0, 1]
    inv /= np.where(good, det, 1.0)[:, None, None]
    leverage = np.einsum("nei,nij,nej->ne", jac, inv, jac)
    resid = (y[ok] - model) / np.sqrt(np.clip(1.0 - leverage, 1e-3, None))
    resid[~good] = np.nan
    use = np.isfinite(resid)
    sigma = math.nan
    n_used = 0
    for _ in range(3):
        r = resid[use]
        sigma = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        selected = np.isfinite(resid) & (model >= 4.0 * sigma) & (leverage < 0.5)
        # a voxel whose decay reaches the noise floor within a few echoes fits the floor, not
        # the decay: only voxels with several echoes well above the noise inform the estimate
        selected &= (np.count_nonzero(selected, axis=1) >= _MIN_ECHOES_ABOVE_NOISE)[:, None]
        voxels = int(np.count_nonzero(selected.any(axis=1)))
        if voxels < min_voxels:
            break
        use, n_used = selected, voxels
    if n_used < min_voxels:
        raise InputError(
            f"only {n_used} voxels keep {_MIN_ECHOES_ABOVE_NOISE} or more echoes well above "
            f"the noise (need {min_voxels}) to estimate it from the fit residuals"
        )
    r = resid[use]
    sigma = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    if not (math.isfinite(sigma) and sigma > 0):
        raise InputError("the fit residuals give no usable noise estimate")
    logger.debug("noise sigma %.4g from fit residuals of %d voxels", sigma, n_used)
    return sigma, n_used
