"""Mono-exponential plus constant, ``S(TE) = S0 exp(-TE / T2) + C`` (method ``offset``).

The constant absorbs a noise floor, a slowly decaying component, or the stimulated-echo
contribution of imperfect refocusing (Milford et al. 2015 recommend dropping the first echo and
fitting an offset). ``C`` is not constrained in sign.

Variable projection again: for a fixed rate ``R`` the pair ``(S0, C)`` is a linear least-squares
problem (closed form), and ``R`` is found by Gauss-Newton on the projected residual with
Kaufman's Jacobian ``v = (I - P) S0 TE e`` and a halving line search that never lets the residual
grow. The variance of ``R`` is ``sigma**2 / |v|**2``, the exact (S0, C, R) covariance element.
The model is ill-conditioned when T2 is long compared with the echo train (a slow exponential
and a constant look alike): expect large ``t2_sd_ms`` there.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from discT2.fit._common import (
    AT_BOUND,
    FAILED,
    MASKED,
    all_finite,
    decay,
    noise_sd,
    quality,
    residual_stats,
    weighted_loglinear,
    write_failed,
)
from discT2.fit.monoexp import RATE_TOL, is_uniform


@njit(cache=True, nogil=True)
def _project(y, tau, r, uniform, e):
    """Least-squares amplitude and offset at rate ``r``, and the residual sum of squares."""
    n = tau.shape[0]
    decay(tau, r, uniform, e)
    ebar = 0.0
    ybar = 0.0
    for k in range(n):
        ebar += e[k]
        ybar += y[k]
    ebar /= n
    ybar /= n
    see = 0.0
    sey = 0.0
    for k in range(n):
        de = e[k] - ebar
        see += de * de
        sey += de * (y[k] - ybar)
    if not (see > 0.0):
        return 0.0, 0.0, math.inf
    amp = sey / see
    off = ybar - amp * ebar
    rss = 0.0
    for k in range(n):
        d = y[k] - amp * e[k] - off
        rss += d * d
    return amp, off, rss


@njit(cache=True, nogil=True)
def _gauss_newton_terms(y, tau, e, amp, off):
    """Gradient term ``u^T r`` and curvature ``|(I - P) u|^2`` with ``u = amp tau e``."""
    n = tau.shape[0]
    ebar = 0.0
    ubar = 0.0
    for k in range(n):
        ebar += e[k]
        ubar += amp * tau[k] * e[k]
    ebar /= n
    ubar /= n
    g = 0.0
    see = 0.0
    sue = 0.0
    suu = 0.0
    for k in range(n):
        u = amp * tau[k] * e[k]
        g += u * (y[k] - amp * e[k] - off)
        de = e[k] - ebar
        du = u - ubar
        see += de * de
        sue += du * de
        suu += du * du
    vv = suu - sue * sue / see if see > 0.0 else 0.0
    return g, vv


@njit(cache=True, nogil=True)
def solve_offset(y, tau, r0, r_lo, r_hi, uniform, e):
    """Rate, amplitude (at ``tau = 0``), offset, bound code and ``|v|**2`` at the optimum."""
    r = min(max(r0, r_lo), r_hi)
    amp, off, f = _project(y, tau, r, uniform, e)
    for _ in range(100):
        g, vv = _gauss_newton_terms(y, tau, e, amp, off)
        if not (vv > 0.0):
            break
        step = -g / vv
        lam = 1.0
        accepted = False
        while lam > 1e-8:
            rn = min(max(r + lam * step, r_lo), r_hi)
            an, on, fn = _project(y, tau, rn, uniform, e)
            if fn <= f:
                accepted = True
                break
            lam *= 0.5
        if not accepted:
            amp, off, f = _project(y, tau, r, uniform, e)
            break
        moved = abs(rn - r)
        r = rn
        amp = an
        off = on
        f = fn
        if moved <= RATE_TOL * r:
            break
    # e holds the decay at r after the last _project call
    g, vv = _gauss_newton_terms(y, tau, e, amp, off)
    bound = 0
    if r <= r_lo:
        bound = 1
    elif r >= r_hi:
        bound = 2
    return r, amp, off, bound, vv


@njit(cache=True, nogil=True)
def offset_block(
    y, mask, te, r_lo, r_hi, sigma, min_r2,
    out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, out_offset,
):  # fmt: skip
    """Fit every voxel of a chunk (as :func:`discT2.fit.monoexp.nlls_block`, plus the offset)."""
    n, n_te = y.shape
    tau = te - te[0]
    uniform = is_uniform(tau)
    e = np.empty(n_te)
    yv = np.empty(n_te)
    model = np.empty(n_te)
    for i in range(n):
        if not mask[i]:
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, MASKED)
            out_offset[i] = np.nan
            continue
        row = y[i]
        out_offset[i] = np.nan
        if not all_finite(row):
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, FAILED)
            continue
        for k in range(n_te):
            yv[k] = row[k]
        _, r0, _, ok = weighted_loglinear(yv, tau)
        if not ok:
            r0 = math.sqrt(r_lo * r_hi)
        r, amp, off, bound, vv = solve_offset(yv, tau, r0, r_lo, r_hi, uniform, e)
        if not (amp > 0.0) or not math.isfinite(amp) or not math.isfinite(off):
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, FAILED)
            continue
        decay(tau, r, uniform, e)
        for k in range(n_te):
            model[k] = amp * e[k] + off
        rss, tss = residual_stats(yv, model)
        sd_noise = noise_sd(sigma, rss, n_te, 3)
        var_r = sd_noise * sd_noise / vv if vv > 0.0 else math.inf
        r2, rmse, flags = quality(
            rss, tss, n_te, amp, amp * e[1], amp * e[n_te - 1], sd_noise, min_r2
        )
        if bound != 0:
            flags |= AT_BOUND
        out_t2[i] = 1.0 / r
        out_s0[i] = amp * math.exp(r * te[0])
        out_sd[i] = math.sqrt(var_r) / (r * r)
        out_r2[i] = r2
        out_rmse[i] = rmse
        out_flags[i] = flags
        out_offset[i] = off
