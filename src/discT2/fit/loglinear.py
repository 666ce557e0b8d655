"""Weighted log-linear fit of ``log S = log S0 - TE / T2`` (method ``loglinear``).

Closed form per voxel: a weighted straight line through ``log S`` with weights ``S**2``, the
inverse of ``var(log S) ~ sigma**2 / S**2`` (Koff et al. 2008). Echoes with non-positive signal
get zero weight. The fastest method and the starting point of the others; at low SNR it inherits
the noise-floor bias of magnitude data (use ``ncexp`` there). A rate outside the T2 bounds is
clipped to the bound (``AT_BOUND``) with S0 refitted for it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from discT2.fit._common import FAILED, MASKED, all_finite, weighted_loglinear, write_failed
from discT2.fit.monoexp import is_uniform, write_monoexp


@njit(cache=True, nogil=True)
def loglinear_block(
    y, mask, te, r_lo, r_hi, sigma, min_r2, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags
):
    """Fit every voxel of a chunk (arguments as :func:`discT2.fit.monoexp.nlls_block`)."""
    n, n_te = y.shape
    tau = te - te[0]
    uniform = is_uniform(tau)
    e = np.empty(n_te)
    yv = np.empty(n_te)
    model = np.empty(n_te)
    for i in range(n):
        if not mask[i]:
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, MASKED)
            continue
        row = y[i]
        if not all_finite(row):
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, FAILED)
            continue
        for k in range(n_te):
            yv[k] = row[k]
        amp, r, sxx, ok = weighted_loglinear(yv, tau)
        if not ok:
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, FAILED)
            continue
        bound = 0
        if r < r_lo:
            r = r_lo
            bound = 1
        elif r > r_hi:
            r = r_hi
            bound = 2
        write_monoexp(
            i, yv, tau, te[0], r, 0.0 if bound else amp, bound, sigma, min_r2, sxx, uniform, e,
            model, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags,
        )  # fmt: skip
