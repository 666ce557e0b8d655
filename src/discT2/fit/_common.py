"""Compiled per-voxel helpers shared by the mono-exponential family of fits.

Every kernel in :mod:`discT2.fit` loops over the voxels of one chunk in compiled code (numba,
``nogil`` so that chunks run in parallel threads) and writes T2, S0, the T2 standard deviation,
R², RMSE and the :class:`~discT2.maps.FitFlag` bits of each voxel into preallocated outputs.

Echo times are shifted to start at the first used echo (``tau = te - te[0]``) inside the kernels:
the decay factors ``exp(-R tau)`` then start at 1 and never underflow, and S0 is extrapolated
back to TE = 0 at the end.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from discT2.maps import FitFlag

FAILED = np.uint16(FitFlag.FAILED)
AT_BOUND = np.uint16(FitFlag.AT_BOUND)
T2_BELOW_RANGE = np.uint16(FitFlag.T2_BELOW_RANGE)
T2_ABOVE_RANGE = np.uint16(FitFlag.T2_ABOVE_RANGE)
MASKED = np.uint16(FitFlag.MASKED)
POOR_FIT = np.uint16(FitFlag.POOR_FIT)

#: A fitted signal is "measurable" when it exceeds this many noise standard deviations.
RESOLVE_K = 3.0

NAN = np.float32(np.nan)


@njit(cache=True, nogil=True)
def decay(tau, r, uniform, out):
    """``out[i] = exp(-r * tau[i])``; one exponential when ``tau`` is uniformly spaced from 0."""
    n = tau.shape[0]
    if uniform:
        step = math.exp(-r * tau[1])
        v = 1.0
        for i in range(n):
            out[i] = v
            v *= step
    else:
        for i in range(n):
            out[i] = math.exp(-r * tau[i])


@njit(cache=True, nogil=True)
def all_finite(y):
    """True when every echo of a voxel is a finite number."""
    for i in range(y.shape[0]):  # noqa: SIM110 (numba compiles loops, not generators)
        if not math.isfinite(y[i]):
            return False
    return True


@njit(cache=True, nogil=True)
def weighted_loglinear(y, tau):
    """Weighted linear fit of ``log y = log A - R tau`` with weights ``y**2``.

    ``var(log y) ~ sigma**2 / y**2``, so ``y**2`` are the inverse-variance weights (Koff 2008).
    Echoes with ``y <= 0`` get zero weight.

    Returns
    -------
    amplitude : float
        ``A`` (signal at ``tau = 0``).
    rate : float
        ``R`` in 1/ms (may be negative or out of bounds; the caller clips).
    sxx : float
        ``sum w (tau - mean_w tau)**2``, for the slope's variance.
    ok : bool
        False when fewer than two echoes are positive.
    """
    n = y.shape[0]
    sw = 0.0
    swt = 0.0
    swtt = 0.0
    swl = 0.0
    swtl = 0.0
    npos = 0
    for i in range(n):
        if y[i] > 0.0:
            w = float(y[i]) * float(y[i])
            lg = math.log(float(y[i]))
            t = tau[i]
            sw += w
            swt += w * t
            swtt += w * t * t
            swl += w * lg
            swtl += w * t * lg
            npos += 1
    if npos < 2:
        return 0.0, 0.0, 0.0, False
    # tau starts at 0 and spans at most a few hundred ms: no harmful cancellation here
    tbar = swt / sw
    lbar = swl / sw
    sxx = swtt - swt * tbar
    sxy = swtl - swt * lbar
    if sxx <= 1e-12 * swtt:
        return 0.0, 0.0, 0.0, False
    slope = sxy / sxx
    amp = math.exp(lbar - slope * tbar)
    return amp, -slope, sxx, True


@njit(cache=True, nogil=True)
def residual_stats(y, model):
    """Residual sum of squares and total sum of squares about the mean."""
    n = y.shape[0]
    mean = 0.0
    for i in range(n):
        mean += y[i]
    mean /= n
    rss = 0.0
    tss = 0.0
    for i in range(n):
        d = y[i] - model[i]
        rss += d * d
        m = y[i] - mean
        tss += m * m
    return rss, tss


@njit(cache=True, nogil=True)
def noise_sd(sigma, rss, n, n_params):
    """The voxel's noise level: ``sigma`` when known, else the residual standard deviation."""
    if sigma > 0.0:
        return sigma
    if n > n_params:
        return math.sqrt(rss / (n - n_params))
    return 0.0


@njit(cache=True, nogil=True)
def quality(rss, tss, n, decay_first, decay_second, decay_last, sd_noise, min_r2):
    """R², RMSE and the range / poor-fit flags of one fitted voxel.

    Parameters
    ----------
    rss, tss : float
        Residual and total sums of squares over the used echoes.
    n : int
        Number of used echoes.
    decay_first, decay_second, decay_last : float
        The fitted *decaying* signal (no constant offset) at the first, second and last used echo.
    sd_noise : float
        The voxel's noise standard deviation (see :func:`noise_sd`).
    min_r2 : float
        R² below which ``POOR_FIT`` is set.

    Notes
    -----
    ``T2_BELOW_RANGE``: the fitted signal at the second used echo is below ``RESOLVE_K`` noise
    standard deviations, so the decay rests on one echo and noise. ``T2_ABOVE_RANGE``: the signal
    lost between the first and the last used echo is below ``RESOLVE_K`` noise standard
    deviations, so the decay is not measurable across the train.
    """
    if tss > 0.0:
        r2 = 1.0 - rss / tss
    elif rss > 0.0:
        r2 = 0.0
    else:
        r2 = 1.0
    rmse = math.sqrt(rss / n)
    flags = np.uint16(0)
    limit = RESOLVE_K * sd_noise
    if decay_second < limit:
        flags |= T2_BELOW_RANGE
    if decay_first - decay_last < limit:
        flags |= T2_ABOVE_RANGE
    if r2 < min_r2:
        flags |= POOR_FIT
    return r2, rmse, flags


@njit(cache=True, nogil=True)
def write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, flag):
    """NaN in every map of voxel ``i`` and the given flag."""
    out_t2[i] = NAN
    out_s0[i] = NAN
    out_sd[i] = NAN
    out_r2[i] = NAN
    out_rmse[i] = NAN
    out_flags[i] = flag
