"""Noise-corrected exponential: fit the Rician expectation of the decay (method ``ncexp``).

Magnitude images carry Rician noise: where the true signal ``nu`` falls to the noise level the
measured magnitude levels off at ``sigma sqrt(pi/2)`` instead of decaying, and a plain
exponential fit stretches T2 (short T2 by up to several hundred percent at low SNR; Raya et al.
2010). NCEXP fits the expectation of the magnitude instead,

    E[M] = sigma sqrt(pi/2) exp(-x) [(1 + 2x) I0(x) + 2x I1(x)],   x = nu**2 / (4 sigma**2),
    nu(TE) = S0 exp(-TE / T2),

with ``sigma`` known (given, or estimated from the image background by
:func:`discT2.fit.noise.estimate_noise_sigma`). It reaches the Cramer-Rao bound at all SNR in
Raya's comparison. The two parameters are fitted by Levenberg-Marquardt from the ``nlls``
solution, with the analytic derivative ``dE/dnu = sqrt(pi/2) nu / (2 sigma) exp(-x) (I0 + I1)``.
The exponentially scaled Bessel functions are computed here (power series below x = 25, the
Hankel asymptotic series above) because numba cannot call SciPy's.

Single-channel (or adaptively combined) magnitude data are Rician; a sum-of-squares combination
of N coils gives a non-central chi distribution that this model does not cover.
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
    quality,
    residual_stats,
    weighted_loglinear,
    write_failed,
)
from discT2.fit.monoexp import is_uniform, solve_rate

_SQRT_HALF_PI = math.sqrt(0.5 * math.pi)
_SERIES_LIMIT = 25.0
#: Relative convergence tolerance of the LM iterations (1e-8 of T2 is far below any noise).
_TOL = 1e-8


@njit(cache=True, nogil=True)
def bessel_i0e_i1e(x):
    """``exp(-x) I0(x)`` and ``exp(-x) I1(x)`` for ``x >= 0`` (relative error ~1e-15)."""
    if x <= _SERIES_LIMIT:
        h = 0.5 * x
        h2 = h * h
        t0 = 1.0
        t1 = h
        s0 = 1.0
        s1 = h
        k = 0
        while k < 200:
            k += 1
            t0 *= h2 / (k * k)
            t1 *= h2 / (k * (k + 1.0))
            s0 += t0
            s1 += t1
            if t0 < 1e-17 * s0:
                break
        ex = math.exp(-x)
        return s0 * ex, s1 * ex
    # Hankel expansion: e^-x I_nu(x) ~ (2 pi x)^-1/2 sum_k (-1)^k a_k(nu) / x^k
    t0 = 1.0
    t1 = 1.0
    s0 = 1.0
    s1 = 1.0
    for k in range(1, 60):
        odd = (2.0 * k - 1.0) ** 2
        t0 *= (odd - 0.0) / (8.0 * k * x)
        t1 *= (odd - 4.0) / (8.0 * k * x)
        s0 += t0
        s1 += t1
        if abs(t0) < 1e-17 and abs(t1) < 1e-17:
            break
    c = 1.0 / math.sqrt(2.0 * math.pi * x)
    return c * s0, c * s1


@njit(cache=True, nogil=True)
def rician_mean(nu, sigma):
    """Expected magnitude ``E[M]`` and its derivative ``dE/dnu`` for true signal ``nu >= 0``.

    Parameters
    ----------
    nu : float
        True (noise-free) signal amplitude, >= 0.
    sigma : float
        Noise standard deviation per channel, > 0.

    Returns
    -------
    mean : float
        ``sigma sqrt(pi/2) exp(-x) [(1 + 2x) I0(x) + 2x I1(x)]`` with ``x = nu**2 / (4 sigma**2)``.
    slope : float
        ``dE/dnu = sqrt(pi/2) nu / (2 sigma) exp(-x) (I0(x) + I1(x))``.
    """
    x = nu * nu / (4.0 * sigma * sigma)
    i0, i1 = bessel_i0e_i1e(x)
    mean = sigma * _SQRT_HALF_PI * ((1.0 + 2.0 * x) * i0 + 2.0 * x * i1)
    slope = _SQRT_HALF_PI * nu / (2.0 * sigma) * (i0 + i1)
    return mean, slope


@njit(cache=True, nogil=True)
def _residuals(y, tau, amp, r, sigma, uniform, e, d, model):
    """Model E[M] per echo, dE/dnu per echo (into ``d``), and the residual sum of squares."""
    decay(tau, r, uniform, e)
    rss = 0.0
    for k in range(tau.shape[0]):
        m, s = rician_mean(amp * e[k], sigma)
        model[k] = m
        d[k] = s
        res = y[k] - m
        rss += res * res
    return rss


@njit(cache=True, nogil=True)
def solve_ncexp(y, tau, amp, r, r_lo, r_hi, sigma, uniform, e, d, model):
    """Levenberg-Marquardt on (amplitude at tau = 0, rate); returns (amp, r, bound, var_unit).

    ``var_unit`` is ``[(J^T J)^-1]_RR`` at the solution (multiply by sigma**2).
    """
    n = tau.shape[0]
    f = _residuals(y, tau, amp, r, sigma, uniform, e, d, model)
    lam = 1e-3
    for _ in range(300):
        jaa = 0.0
        jar = 0.0
        jrr = 0.0
        ga = 0.0
        gr = 0.0
        for k in range(n):
            da = d[k] * e[k]
            dr = -d[k] * amp * tau[k] * e[k]
            res = y[k] - model[k]
            jaa += da * da
            jar += da * dr
            jrr += dr * dr
            ga += da * res
            gr += dr * res
        improved = False
        while lam < 1e12:
            a11 = jaa * (1.0 + lam)
            a22 = jrr * (1.0 + lam)
            det = a11 * a22 - jar * jar
            if not (det > 0.0):
                lam *= 10.0
                continue
            da_step = (a22 * ga - jar * gr) / det
            dr_step = (a11 * gr - jar * ga) / det
            an = amp + da_step
            if an <= 0.0:
                an = 0.5 * amp
            rn = min(max(r + dr_step, r_lo), r_hi)
            fn = _residuals(y, tau, an, rn, sigma, uniform, e, d, model)
            if fn <= f:
                improved = True
                break
            lam *= 10.0
        if not improved:
            f = _residuals(y, tau, amp, r, sigma, uniform, e, d, model)
            break
        small = abs(rn - r) <= _TOL * rn and abs(an - amp) <= _TOL * an
        amp = an
        r = rn
        f = fn
        lam = max(lam * 0.1, 1e-12)
        if small:
            break
    # covariance at the solution (model, d and e are current)
    jaa = 0.0
    jar = 0.0
    jrr = 0.0
    for k in range(n):
        da = d[k] * e[k]
        dr = -d[k] * amp * tau[k] * e[k]
        jaa += da * da
        jar += da * dr
        jrr += dr * dr
    det = jaa * jrr - jar * jar
    var_unit = jaa / det if det > 0.0 else math.inf
    bound = 0
    if r <= r_lo:
        bound = 1
    elif r >= r_hi:
        bound = 2
    return amp, r, bound, var_unit


@njit(cache=True, nogil=True)
def ncexp_block(
    y, mask, te, r_lo, r_hi, sigma, min_r2, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags
):
    """Fit every voxel of a chunk (arguments as :func:`discT2.fit.monoexp.nlls_block`).

    ``sigma`` must be positive here: it is part of the model.
    """
    n, n_te = y.shape
    tau = te - te[0]
    uniform = is_uniform(tau)
    e = np.empty(n_te)
    d = np.empty(n_te)
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
        decay(tau, r, uniform, e)
        a = 0.0
        b = 0.0
        for k in range(n_te):
            a += yv[k] * e[k]
            b += e[k] * e[k]
        amp = a / b if a > 0.0 else sigma
        amp, r, bound, var_unit = solve_ncexp(
            yv, tau, amp, r, r_lo, r_hi, sigma, uniform, e, d, model
        )
        if not (amp > 0.0) or not math.isfinite(amp) or not math.isfinite(r):
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, FAILED)
            continue
        rss, tss = residual_stats(yv, model)
        r2, rmse, flags = quality(rss, tss, n_te, amp, amp * e[1], amp * e[n_te - 1], sigma, min_r2)
        if bound != 0:
            flags |= AT_BOUND
        out_t2[i] = 1.0 / r
        out_s0[i] = amp * math.exp(r * te[0])
        out_sd[i] = sigma * math.sqrt(var_unit) / (r * r)
        out_r2[i] = r2
        out_rmse[i] = rmse
        out_flags[i] = flags
