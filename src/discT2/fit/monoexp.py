"""Bounded non-linear least squares of ``S(TE) = S0 exp(-TE / T2)`` (method ``nlls``).

Variable projection: for a fixed decay rate ``R = 1/T2`` the best S0 is linear,
``S0(R) = sum(y e) / sum(e e)`` with ``e = exp(-R TE)``, so the least-squares problem reduces to
maximising ``g(R) = sum(y e)**2 / sum(e e)`` over one variable. Its stationarity condition is

    h(R) = sum(y e) sum(TE e e) - sum(TE y e) sum(e e) = 0,

whose derivative is closed-form, so each voxel runs Newton's method on ``h`` from the weighted
log-linear estimate (4-6 iterations, each one pass over the echoes). When Newton leaves the
bounds or meets a non-concave region, a bracketed Newton-bisection (``rtsafe``) takes over, and a
maximum beyond a bound ends on that bound (``AT_BOUND``). This is the exact least-squares optimum
that Levenberg-Marquardt would reach, at a fraction of its cost.
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

#: Relative tolerance on R at convergence.
RATE_TOL = 1e-10


@njit(cache=True, nogil=True)
def _h(y, tau, r, uniform, e):
    """Stationarity function h(R), its derivative, sum(y e) and sum(e e)."""
    decay(tau, r, uniform, e)
    a = 0.0
    b = 0.0
    c = 0.0
    d = 0.0
    p = 0.0
    q = 0.0
    for i in range(tau.shape[0]):
        ei = e[i]
        t = tau[i]
        ye = y[i] * ei
        ee = ei * ei
        a += ye
        b += ee
        c += t * ee
        d += t * ye
        p += t * t * ye
        q += t * t * ee
    return a * c - d * b, d * c - 2.0 * a * q + b * p, a


@njit(cache=True, nogil=True)
def solve_rate(y, tau, r0, r_lo, r_hi, uniform, e):
    """Least-squares decay rate in ``[r_lo, r_hi]``.

    Returns
    -------
    rate : float
    bound : int
        0 inside the bounds, 1 on ``r_lo`` (T2 on its upper bound), 2 on ``r_hi``.
    """
    r = min(max(r0, r_lo), r_hi)
    # fast path: plain Newton from the log-linear guess
    for _ in range(12):
        h, hp, a = _h(y, tau, r, uniform, e)
        if not (hp < 0.0) or a <= 0.0 or not math.isfinite(h):
            break
        rn = r - h / hp
        if rn <= r_lo or rn >= r_hi:
            break
        done = abs(rn - r) <= RATE_TOL * rn
        r = rn
        if done:
            return r, 0
    # safeguarded: find a bracket h(xl) > 0 > h(xh) or stop on a bound
    h, hp, a = _h(y, tau, r, uniform, e)
    if h == 0.0:
        return r, 0
    if h > 0.0:
        if r >= r_hi:
            return r_hi, 2
        hh, _, a = _h(y, tau, r_hi, uniform, e)
        if hh >= 0.0:
            return r_hi, 2
        xl = r
        xh = r_hi
    else:
        if r <= r_lo:
            return r_lo, 1
        hl, _, a = _h(y, tau, r_lo, uniform, e)
        if hl <= 0.0:
            return r_lo, 1
        xl = r_lo
        xh = r
    x = 0.5 * (xl + xh)
    dxold = abs(xh - xl)
    dx = dxold
    h, hp, a = _h(y, tau, x, uniform, e)
    for _ in range(200):
        newton_out = ((x - xh) * hp - h) * ((x - xl) * hp - h) > 0.0
        if newton_out or abs(2.0 * h) > abs(dxold * hp) or hp == 0.0:
            dxold = dx
            dx = 0.5 * (xh - xl)
            x = xl + dx
        else:
            dxold = dx
            dx = h / hp
            x = x - dx
        if abs(dx) <= RATE_TOL * x:
            break
        h, hp, a = _h(y, tau, x, uniform, e)
        if h > 0.0:
            xl = x
        else:
            xh = x
    return x, 0


@njit(cache=True, nogil=True)
def is_uniform(tau):
    """True when ``tau`` is ``0, d, 2d, ...`` (then one exponential gives all decay factors)."""
    n = tau.shape[0]
    if n < 2 or tau[0] != 0.0:
        return False
    step = tau[1]
    for i in range(n):  # noqa: SIM110 (numba compiles loops, not generators)
        if abs(tau[i] - i * step) > 1e-9 * (1.0 + tau[n - 1]):
            return False
    return True


@njit(cache=True, nogil=True)
def nlls_block(
    y, mask, te, r_lo, r_hi, sigma, min_r2, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags
):
    """Fit every voxel of a chunk; see the module docstring.

    Parameters
    ----------
    y : ndarray, shape (n, E)
        Signal of the used echoes.
    mask : ndarray of bool, shape (n,)
        Voxels to fit; the others get NaN and ``MASKED``.
    te : ndarray, shape (E,)
        Used echo times in ms.
    r_lo, r_hi : float
        Bounds on R = 1/T2 in 1/ms.
    sigma : float
        Noise standard deviation, or 0 to use the residual standard deviation.
    min_r2 : float
        R² below which ``POOR_FIT`` is set.
    out_t2, out_s0, out_sd, out_r2, out_rmse : ndarray, shape (n,)
        Outputs (float32).
    out_flags : ndarray of uint16, shape (n,)
        Output flags.
    """
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
        any_pos = False
        for k in range(n_te):
            yv[k] = row[k]
            if yv[k] > 0.0:
                any_pos = True
        if not any_pos:
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, FAILED)
            continue
        _, r0, _, ok = weighted_loglinear(yv, tau)
        if not ok:
            r0 = math.sqrt(r_lo * r_hi)
        r, bound = solve_rate(yv, tau, r0, r_lo, r_hi, uniform, e)
        write_monoexp(
            i, yv, tau, te[0], r, 0.0, bound, sigma, min_r2, 0.0, uniform, e, model,
            out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags,
        )  # fmt: skip


@njit(cache=True, nogil=True)
def write_monoexp(
    i, yv, tau, te0, r, amp_in, bound, sigma, min_r2, sxx_wls, uniform, e, model,
    out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags,
):  # fmt: skip
    """Amplitude, statistics, T2 uncertainty and flags of a mono-exponential solution.

    Parameters
    ----------
    amp_in : float
        Amplitude at ``tau = 0`` when the caller has one (log-linear); 0 for the least-squares
        amplitude at rate ``r``.
    bound : int
        Non-zero when ``r`` ended on a bound.
    sxx_wls : float
        For the weighted log-linear fit, ``sum y**2 (tau - mean)**2``: var(R) = sigma**2 / sxx.
        0 for least squares: var(R) from the inverse of J^T J of (amplitude, R).
    """
    n_te = tau.shape[0]
    decay(tau, r, uniform, e)
    a = 0.0
    b = 0.0
    c = 0.0
    q = 0.0
    for k in range(n_te):
        ek = e[k]
        ee = ek * ek
        a += yv[k] * ek
        b += ee
        c += tau[k] * ee
        q += tau[k] * tau[k] * ee
    amp = amp_in if amp_in > 0.0 else a / b
    if not (amp > 0.0) or not math.isfinite(amp):
        write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, FAILED)
        return
    for k in range(n_te):
        model[k] = amp * e[k]
    rss, tss = residual_stats(yv, model)
    sd_noise = noise_sd(sigma, rss, n_te, 2)
    if sxx_wls > 0.0:
        var_r = sd_noise * sd_noise / sxx_wls
    else:
        det = b * q - c * c
        var_r = sd_noise * sd_noise * b / (amp * amp * det) if det > 0.0 else math.inf
    r2, rmse, flags = quality(rss, tss, n_te, amp, amp * e[1], amp * e[n_te - 1], sd_noise, min_r2)
    if bound != 0:
        flags |= AT_BOUND
    out_t2[i] = 1.0 / r
    out_s0[i] = amp * math.exp(r * te0)
    out_sd[i] = math.sqrt(var_r) / (r * r)
    out_r2[i] = r2
    out_rmse[i] = rmse
    out_flags[i] = flags
