"""Stimulated-echo compensated T2: fit the CPMG extended phase graph (method ``epg``).

Each voxel is fitted with ``S_n = S0 * EPG_n(T2, B1; T1, refocusing angle, echo spacing)``
(:func:`discT2.epg.cpmg_signal` divided by ``sin(excitation)``, so that S0 is the transverse
magnetisation a nominal excitation would give). T2, B1 (the scale of the actual to the nominal
flip angles) and S0 are free, T1 is fixed (it only weights the stimulated-echo pathways; StimFit,
Lebel & Wilman 2010).

How it is fast
--------------
1. A dictionary of EPG echo trains is computed once per acquisition (log-spaced T2, 2 % apart;
   B1 0.02 apart; compiled recursion, optionally averaged over a slice profile) and cached.
2. Every voxel is matched against a coarse sub-grid (T2 about 17 % apart, B1 0.1 apart) by a
   matrix product (BLAS, 1024 voxels at a time so the scores stay in cache) and an argmax of the
   normalised inner products; maximising ``<y, d/|d|>`` is the same as minimising the residual
   with S0 in closed form.
3. Compiled code continues on the fine grid by pattern search (8 neighbours at steps 4, 2, 1),
   fits a quadratic to the 3 x 3 scores around the best atom, and polishes the continuous
   (log T2, B1) optimum by Gauss-Newton on the echo train interpolated there (quadratic
   Lagrange in both directions), which also gives S0, the residuals and the Jacobian.

Without a slice profile, B1 is identifiable only up to the angle where refocusing reaches
180 degrees (a 190-degree pulse acts as a 170-degree one), so the B1 grid ends there:
``min(b1_bounds[1], 180 / refocusing)``. With a slice profile (2-D acquisitions, where the slice
edges see smaller angles than the centre; :func:`discT2.epg.sinc_slice_profile`) the whole
``b1_bounds`` range is used.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from discT2.fit._common import (
    AT_BOUND,
    FAILED,
    MASKED,
    NAN,
    all_finite,
    noise_sd,
    quality,
    residual_stats,
    write_failed,
)

#: Fine-grid spacing: ratio between neighbouring T2 values and B1 step.
T2_GRID_RATIO = 1.02
B1_GRID_STEP = 0.02
#: Coarse-grid strides (in fine-grid steps) for the global BLAS match.
COARSE_T2_STRIDE = 8
COARSE_B1_STRIDE = 5
#: First step of the pattern search on the fine grid (halved down to 1).
_FIRST_STEP = 4
#: Voxels per matrix product in the coarse match (bounds the score matrix's memory).
_MATCH_BLOCK = 1024


@dataclass(frozen=True)
class EPGDictionary:
    """Echo trains over a (T2, B1) grid for one acquisition, restricted to the used echoes.

    Attributes
    ----------
    t2_ms : ndarray, shape (nT,)
        Log-spaced T2 grid.
    b1 : ndarray, shape (nB,)
        B1 grid.
    atoms : ndarray, shape (nT, nB, E)
        Echo trains for unit S0.
    unit_atoms : ndarray, shape (nT, nB, E)
        ``atoms`` normalised to unit length.
    coarse : ndarray of float32, shape (M, E)
        Unit atoms of the coarse sub-grid, for the matrix-product match.
    coarse_t, coarse_b : ndarray of int, shape (M,)
        Fine-grid indices of each coarse atom.
    b1_top_is_180 : bool
        True when the top of the B1 grid refocuses at exactly 180 degrees.
    """

    t2_ms: np.ndarray
    b1: np.ndarray
    atoms: np.ndarray
    unit_atoms: np.ndarray
    coarse: np.ndarray
    coarse_t: np.ndarray
    coarse_b: np.ndarray
    b1_top_is_180: bool

    @property
    def grid(self) -> dict[str, float | int]:
        """Grid description for the provenance."""
        return {
            "t2_min_ms": float(self.t2_ms[0]),
            "t2_max_ms": float(self.t2_ms[-1]),
            "n_t2": int(self.t2_ms.size),
            "t2_ratio": float(self.t2_ms[1] / self.t2_ms[0]),
            "b1_min": float(self.b1[0]),
            "b1_max": float(self.b1[-1]),
            "n_b1": int(self.b1.size),
            "n_coarse_atoms": int(self.coarse.shape[0]),
        }


def effective_b1_max(b1_max: float, refocusing_deg: float) -> float:
    """Top of the B1 range: no higher than the B1 at which refocusing reaches 180 degrees."""
    return min(float(b1_max), 180.0 / float(refocusing_deg))


@functools.lru_cache(maxsize=8)
def epg_dictionary(
    echo_spacing_ms: float,
    echo_numbers: tuple[int, ...],
    refocusing_deg: float,
    excitation_deg: float,
    t1_ms: float,
    t2_bounds_ms: tuple[float, float],
    b1_bounds: tuple[float, float],
    slice_profile: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> EPGDictionary:
    """Build (or fetch from the cache) the dictionary of one acquisition.

    Parameters
    ----------
    echo_spacing_ms : float
        Echo spacing of the CPMG train (ms).
    echo_numbers : tuple of int
        1-based positions in the train of the echoes that are fitted.
    refocusing_deg, excitation_deg : float
        Nominal flip angles.
    t1_ms : float
        Assumed T1.
    t2_bounds_ms : (float, float)
        Ends of the T2 grid.
    b1_bounds : (float, float)
        Ends of the B1 grid (the top already capped by :func:`effective_b1_max`).
    slice_profile : (tuple, tuple), optional
        Excitation and refocusing flip-angle scales across the slice (see
        :func:`discT2.epg.sinc_slice_profile`); the trains are averaged over the positions.
    """
    lo, hi = t2_bounds_ms
    n_t2 = max(3, math.ceil(math.log(hi / lo) / math.log(T2_GRID_RATIO)) + 1)
    t2 = np.exp(np.linspace(math.log(lo), math.log(hi), n_t2))
    b_lo, b_hi = b1_bounds
    n_b1 = max(3, math.ceil((b_hi - b_lo) / B1_GRID_STEP - 1e-9) + 1)
    b1 = np.linspace(b_lo, b_hi, n_b1)
    train = max(echo_numbers)
    if slice_profile is None:
        exc_scale = np.ones(1)
        ref_scale = np.ones(1)
    else:
        exc_scale = np.asarray(slice_profile[0], dtype=np.float64)
        ref_scale = np.asarray(slice_profile[1], dtype=np.float64)
    full = np.empty((n_t2, n_b1, train))
    _cpmg_trains(
        t2, b1, float(t1_ms), float(echo_spacing_ms), math.radians(excitation_deg),
        math.radians(refocusing_deg), exc_scale, ref_scale, full,
    )  # fmt: skip
    atoms = np.ascontiguousarray(full[..., np.asarray(echo_numbers) - 1])
    atoms /= math.sin(math.radians(excitation_deg))
    unit = atoms / np.linalg.norm(atoms, axis=-1, keepdims=True)
    ct = np.unique(np.r_[np.arange(0, n_t2, COARSE_T2_STRIDE), n_t2 - 1])
    cb = np.unique(np.r_[np.arange(0, n_b1, COARSE_B1_STRIDE), n_b1 - 1])
    coarse_t, coarse_b = (g.ravel() for g in np.meshgrid(ct, cb, indexing="ij"))
    coarse = np.ascontiguousarray(unit[coarse_t, coarse_b], dtype=np.float32)
    for arr in (t2, b1, atoms, unit, coarse):
        arr.flags.writeable = False
    return EPGDictionary(
        t2_ms=t2,
        b1=b1,
        atoms=atoms,
        unit_atoms=unit,
        coarse=coarse,
        coarse_t=coarse_t.astype(np.int64),
        coarse_b=coarse_b.astype(np.int64),
        b1_top_is_180=bool(abs(b_hi * refocusing_deg - 180.0) < 1e-6),
    )


@njit(cache=True, nogil=True)
def _cpmg_trains(t2, b1, t1, esp, exc_rad, ref_rad, exc_scale, ref_scale, out):
    """CPMG echo trains over a (T2, B1) grid, averaged over slice positions.

    The same real-valued recursion as :func:`discT2.epg.cpmg_signal`, compiled: dictionaries of
    ~10^5 trains x 16 slice positions take seconds instead of minutes.
    """
    n_t, n_b, n_e = out.shape
    n_states = n_e + 2
    fp = np.empty(n_states)
    fm = np.empty(n_states)
    z = np.empty(n_states)
    e1 = math.exp(-0.5 * esp / t1)
    n_pos = exc_scale.shape[0]
    for it in range(n_t):
        e2 = math.exp(-0.5 * esp / t2[it])
        for ib in range(n_b):
            for k in range(n_e):
                out[it, ib, k] = 0.0
            for p in range(n_pos):
                fp[:] = 0.0
                fm[:] = 0.0
                z[:] = 0.0
                fp[0] = math.sin(exc_rad * b1[ib] * exc_scale[p])
                fm[0] = fp[0]
                alpha = ref_rad * b1[ib] * ref_scale[p]
                c2 = math.cos(0.5 * alpha) ** 2
                s2 = 1.0 - c2
                sa = math.sin(alpha)
                ca = math.cos(alpha)
                for e in range(n_e):
                    # orders grow by one per half echo spacing: 2e + 1 after this shift
                    top = min(2 * e + 1, n_states - 1)
                    _relax_shift(fp, fm, z, e2, e1, top)
                    for k in range(top + 1):
                        a = fp[k]
                        b = fm[k]
                        c = z[k]
                        fp[k] = c2 * a + s2 * b + sa * c
                        fm[k] = s2 * a + c2 * b - sa * c
                        z[k] = -0.5 * sa * a + 0.5 * sa * b + ca * c
                    _relax_shift(fp, fm, z, e2, e1, min(top + 1, n_states - 1))
                    out[it, ib, e] += fp[0]
            for k in range(n_e):
                out[it, ib, k] /= n_pos


@njit(cache=True, nogil=True)
def _relax_shift(fp, fm, z, e2, e1, top):
    """Relax over half an echo spacing and dephase by one order (states 0..top)."""
    for k in range(top + 1):
        fp[k] *= e2
        fm[k] *= e2
        z[k] *= e1
    for k in range(top, 0, -1):
        fp[k] = fp[k - 1]
    for k in range(top):
        fm[k] = fm[k + 1]
    fm[top] = 0.0
    fp[0] = fm[0]


def epg_block(
    y: np.ndarray,
    mask: np.ndarray,
    dictionary: EPGDictionary,
    sigma: float,
    min_r2: float,
    outs: tuple[np.ndarray, ...],
) -> None:
    """Fit the voxels of one chunk (T2, B1, S0 free): coarse BLAS match, compiled refinement.

    ``outs`` is ``(t2, s0, t2_sd, r2, rmse, flags, b1, b1_sd)``, each of shape (n,);
    ``b1_sd`` is the standard deviation of B1 from the fit's covariance (the weight of the voxel
    when the B1 map is smoothed).
    """
    n = y.shape[0]
    start_t = np.full(n, -1, dtype=np.int64)
    start_b = np.full(n, -1, dtype=np.int64)
    # non-finite voxels stay at -1 and are flagged FAILED by the refinement
    rows = np.flatnonzero(mask & np.isfinite(y).all(axis=1))
    coarse_t = dictionary.coarse.T
    for s in range(0, rows.size, _MATCH_BLOCK):
        sel = rows[s : s + _MATCH_BLOCK]
        block = np.asarray(y[sel], dtype=np.float32)
        best = np.argmax(block @ coarse_t, axis=1)
        start_t[sel] = dictionary.coarse_t[best]
        start_b[sel] = dictionary.coarse_b[best]
    d = dictionary
    t2_log0 = math.log(d.t2_ms[0])
    t2_log_step = math.log(d.t2_ms[1] / d.t2_ms[0])
    b1_step = float(d.b1[1] - d.b1[0])
    _refine_block(
        y, mask, d.atoms, d.unit_atoms, start_t, start_b, t2_log0, t2_log_step,
        float(d.b1[0]), b1_step, d.b1_top_is_180, sigma, min_r2, *outs,
    )  # fmt: skip


@njit(cache=True, nogil=True)
def _score(yv, unit, it, ib):
    s = 0.0
    for k in range(yv.shape[0]):
        s += yv[k] * unit[it, ib, k]
    return s


@njit(cache=True, nogil=True)
def _climb(yv, unit, it, ib, first_step):
    """Pattern search for the best fine-grid atom: 8-neighbour ascent at steps 8, 4, 2, 1."""
    n_t, n_b = unit.shape[0], unit.shape[1]
    best = _score(yv, unit, it, ib)
    step = first_step
    while step >= 1:
        for _ in range(100000):
            bt = it
            bb = ib
            for dt in range(-1, 2):
                for db in range(-1, 2):
                    if dt == 0 and db == 0:
                        continue
                    jt = min(max(it + dt * step, 0), n_t - 1)
                    jb = min(max(ib + db * step, 0), n_b - 1)
                    s = _score(yv, unit, jt, jb)
                    if s > best:
                        best = s
                        bt = jt
                        bb = jb
            if bt == it and bb == ib:
                break
            it = bt
            ib = bb
        step //= 2
    return it, ib


@njit(cache=True, nogil=True)
def _vertex(fm, f0, fp):
    """Offset of the maximum of the parabola through (-1, fm), (0, f0), (1, fp), in [-0.5, 0.5]."""
    curv = fm - 2.0 * f0 + fp
    if not (curv < 0.0):
        return 0.0
    return min(0.5, max(-0.5, 0.5 * (fm - fp) / curv))


@njit(cache=True, nogil=True)
def _lagrange(u):
    """Quadratic Lagrange weights at nodes -1, 0, 1 and their derivatives, at ``u``."""
    return (
        0.5 * u * (u - 1.0),
        1.0 - u * u,
        0.5 * u * (u + 1.0),
        u - 0.5,
        -2.0 * u,
        u + 0.5,
    )


@njit(cache=True, nogil=True)
def _sub_grid(yv, unit, it, ib, n_t, n_b, b1_top_is_180):
    """Continuous (T2, B1) grid coordinates of the score maximum near fine atom (it, ib)."""
    t_inside = 0 < it < n_t - 1
    b_inside = 0 < ib < n_b - 1
    f00 = _score(yv, unit, it, ib)
    ut = 0.0
    ub = 0.0
    if t_inside and b_inside:
        fpm = _score(yv, unit, it + 1, ib - 1)
        fp0 = _score(yv, unit, it + 1, ib)
        fpp = _score(yv, unit, it + 1, ib + 1)
        f0m = _score(yv, unit, it, ib - 1)
        f0p = _score(yv, unit, it, ib + 1)
        fmm = _score(yv, unit, it - 1, ib - 1)
        fm0 = _score(yv, unit, it - 1, ib)
        fmp = _score(yv, unit, it - 1, ib + 1)
        gt = 0.5 * (fp0 - fm0)
        gb = 0.5 * (f0p - f0m)
        htt = fp0 - 2.0 * f00 + fm0
        hbb = f0p - 2.0 * f00 + f0m
        htb = 0.25 * (fpp - fpm - fmp + fmm)
        det = htt * hbb - htb * htb
        if htt < 0.0 and det > 0.0:
            ut = -(hbb * gt - htb * gb) / det
            ub = -(htt * gb - htb * gt) / det
        if not (htt < 0.0 and det > 0.0) or abs(ut) > 1.0 or abs(ub) > 1.0:
            ut = _vertex(fm0, f00, fp0)
            ub = _vertex(f0m, f00, f0p)
    elif t_inside:
        ut = _vertex(_score(yv, unit, it - 1, ib), f00, _score(yv, unit, it + 1, ib))
    elif b_inside:
        ub = _vertex(_score(yv, unit, it, ib - 1), f00, _score(yv, unit, it, ib + 1))
    return it + ut, ib + ub


@njit(cache=True, nogil=True)
def _interpolate(atoms, xt, xb, a, da_t, da_b):
    """Echo train and its grid-unit derivatives at continuous grid coordinates (xt, xb)."""
    n_t, n_b, n_e = atoms.shape
    ct = min(max(math.floor(xt + 0.5), 1), n_t - 2)
    cb = min(max(math.floor(xb + 0.5), 1), n_b - 2)
    wt = _lagrange(xt - ct)
    wb = _lagrange(xb - cb)
    for k in range(n_e):
        a[k] = 0.0
        da_t[k] = 0.0
        da_b[k] = 0.0
    for i in range(3):
        for j in range(3):
            w = wt[i] * wb[j]
            w_t = wt[3 + i] * wb[j]
            w_b = wt[i] * wb[3 + j]
            for k in range(n_e):
                v = atoms[ct - 1 + i, cb - 1 + j, k]
                a[k] += w * v
                da_t[k] += w_t * v
                da_b[k] += w_b * v


@njit(cache=True, nogil=True)
def _normal_sums(a, gt, gb):
    """The six distinct entries of ``J^T J`` for Jacobian columns (a, gt, gb)."""
    s_aa = 0.0
    s_at = 0.0
    s_ab = 0.0
    s_tt = 0.0
    s_tb = 0.0
    s_bb = 0.0
    for k in range(a.shape[0]):
        s_aa += a[k] * a[k]
        s_at += a[k] * gt[k]
        s_ab += a[k] * gb[k]
        s_tt += gt[k] * gt[k]
        s_tb += gt[k] * gb[k]
        s_bb += gb[k] * gb[k]
    return s_aa, s_at, s_ab, s_tt, s_tb, s_bb


@njit(cache=True, nogil=True)
def _det3(s_aa, s_at, s_ab, s_tt, s_tb, s_bb):
    return (
        s_aa * (s_tt * s_bb - s_tb * s_tb)
        - s_at * (s_at * s_bb - s_tb * s_ab)
        + s_ab * (s_at * s_tb - s_tt * s_ab)
    )


@njit(cache=True, nogil=True)
def _var_log_t2(a, gt, gb, use_b1):
    """The log-T2 diagonal element of ``(J^T J)^-1`` for Jacobian columns (a, gt, gb)."""
    s_aa, s_at, s_ab, s_tt, s_tb, s_bb = _normal_sums(a, gt, gb)
    det2 = s_aa * s_tt - s_at * s_at
    if use_b1:
        # cofactor of the (t, t) element of the 3x3 normal matrix
        cof = s_aa * s_bb - s_ab * s_ab
        det3 = _det3(s_aa, s_at, s_ab, s_tt, s_tb, s_bb)
        if det3 > 1e-10 * s_aa * s_tt * s_bb:
            return cof / det3
    if det2 > 0.0:
        return s_aa / det2
    return math.inf


@njit(cache=True, nogil=True)
def _gauss_newton(yv, atoms, xt, xb, a, gt, gb):
    """Polish (xt, xb) by Gauss-Newton on the interpolated model with S0 projected out."""
    n_t, n_b, n_e = atoms.shape
    _interpolate(atoms, xt, xb, a, gt, gb)
    rss = _projected_rss(yv, a)
    for _ in range(8):
        ya = 0.0
        aa = 0.0
        for k in range(n_e):
            ya += yv[k] * a[k]
            aa += a[k] * a[k]
        amp = ya / aa
        if not (amp > 0.0):
            break
        # Kaufman's Jacobian: derivatives with the S0 direction projected out
        ut_a = 0.0
        ub_a = 0.0
        for k in range(n_e):
            ut_a += gt[k] * a[k]
            ub_a += gb[k] * a[k]
        ut_a /= aa
        ub_a /= aa
        stt = 0.0
        stb = 0.0
        sbb = 0.0
        rt = 0.0
        rb = 0.0
        for k in range(n_e):
            vt = amp * (gt[k] - ut_a * a[k])
            vb = amp * (gb[k] - ub_a * a[k])
            res = yv[k] - amp * a[k]
            stt += vt * vt
            stb += vt * vb
            sbb += vb * vb
            rt += vt * res
            rb += vb * res
        det = stt * sbb - stb * stb
        if det > 1e-12 * stt * sbb:
            dt = (sbb * rt - stb * rb) / det
            db = (stt * rb - stb * rt) / det
        elif stt > 0.0:
            dt = rt / stt
            db = 0.0
        else:
            break
        lam = 1.0
        accepted = False
        while lam > 1e-4:
            nt = min(max(xt + lam * dt, 0.0), n_t - 1.0)
            nb = min(max(xb + lam * db, 0.0), n_b - 1.0)
            _interpolate(atoms, nt, nb, a, gt, gb)
            new_rss = _projected_rss(yv, a)
            if new_rss <= rss:
                accepted = True
                break
            lam *= 0.5
        if not accepted:
            _interpolate(atoms, xt, xb, a, gt, gb)
            break
        moved = abs(nt - xt) + abs(nb - xb)
        xt = nt
        xb = nb
        rss = new_rss
        if moved < 1e-3:  # grid units: 1e-5 in T2, far below any noise
            break
    return xt, xb


@njit(cache=True, nogil=True)
def _projected_rss(yv, a):
    """Residual sum of squares of the best multiple of ``a``."""
    ya = 0.0
    aa = 0.0
    yy = 0.0
    for k in range(yv.shape[0]):
        ya += yv[k] * a[k]
        aa += a[k] * a[k]
        yy += yv[k] * yv[k]
    return yy - ya * ya / aa


@njit(cache=True, nogil=True)
def _refine_block(
    y, mask, atoms, unit, start_t, start_b, t2_log0, t2_log_step, b1_0, b1_step, b1_top_is_180,
    sigma, min_r2, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, out_b1, out_b1_sd,
):  # fmt: skip
    n, n_e = y.shape
    n_t, n_b = atoms.shape[0], atoms.shape[1]
    yv = np.empty(n_e)
    a = np.empty(n_e)
    gt = np.empty(n_e)
    gb = np.empty(n_e)
    model = np.empty(n_e)
    for i in range(n):
        out_b1[i] = NAN
        out_b1_sd[i] = NAN
        if not mask[i]:
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, MASKED)
            continue
        row = y[i]
        if not all_finite(row) or start_t[i] < 0:
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, FAILED)
            continue
        for k in range(n_e):
            yv[k] = row[k]
        it, ib = _climb(yv, unit, start_t[i], start_b[i], _FIRST_STEP)
        xt, xb = _sub_grid(yv, unit, it, ib, n_t, n_b, b1_top_is_180)
        xt, xb = _gauss_newton(yv, atoms, xt, xb, a, gt, gb)
        amp, t2, sd, r2, rmse, flags, sd_noise = _voxel_results(
            yv, a, gt, gb, model, xt, t2_log0, t2_log_step, b1_step, sigma, min_r2
        )
        if not math.isfinite(amp):
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, FAILED)
            continue
        if xt <= 0.0 or xt >= n_t - 1.0 or xb <= 0.0 or (xb >= n_b - 1.0 and not b1_top_is_180):
            flags |= AT_BOUND
        out_t2[i] = t2
        out_s0[i] = amp
        out_sd[i] = sd
        out_r2[i] = r2
        out_rmse[i] = rmse
        out_flags[i] = flags
        out_b1[i] = b1_0 + xb * b1_step
        out_b1_sd[i] = sd_noise * math.sqrt(_var_b1(a, gt, gb))


@njit(cache=True, nogil=True)
def _voxel_results(yv, a, gt, gb, model, xt, t2_log0, t2_log_step, b1_step, sigma, min_r2):
    """S0, T2, SD(T2), R², RMSE, flags and noise SD at the polished optimum.

    ``a``, ``gt``, ``gb`` hold the train and its grid-unit derivatives there; they are scaled in
    place to derivatives of the model (``gb`` only when B1 was free, ``b1_step > 0``). S0 is NaN
    when the amplitude is not positive and finite.
    """
    n_e = yv.shape[0]
    ya = 0.0
    aa = 0.0
    for k in range(n_e):
        ya += yv[k] * a[k]
        aa += a[k] * a[k]
    amp = ya / aa
    if not (amp > 0.0) or not math.isfinite(amp):
        return math.nan, math.nan, math.nan, math.nan, math.nan, np.uint16(0), math.nan
    free_b1 = b1_step > 0.0
    for k in range(n_e):
        model[k] = amp * a[k]
        gt[k] *= amp / t2_log_step  # d model / d log T2
        if free_b1:
            gb[k] *= amp / b1_step  # d model / d B1
    rss, tss = residual_stats(yv, model)
    sd_noise = noise_sd(sigma, rss, n_e, 3 if free_b1 else 2)
    var_log = _var_log_t2(a, gt, gb, free_b1)
    t2 = math.exp(t2_log0 + xt * t2_log_step)
    # the first echo of an imperfect train lacks the stimulated pathway: start from the larger
    r2, rmse, flags = quality(
        rss, tss, n_e, max(model[0], model[1]), model[1], model[n_e - 1], sd_noise, min_r2
    )
    return amp, t2, t2 * sd_noise * math.sqrt(var_log), r2, rmse, flags, sd_noise


@njit(cache=True, nogil=True)
def _var_b1(a, gt, gb):
    """The B1 diagonal element of ``(J^T J)^-1`` for Jacobian columns (a, gt, gb)."""
    s_aa, s_at, s_ab, s_tt, s_tb, s_bb = _normal_sums(a, gt, gb)
    det3 = _det3(s_aa, s_at, s_ab, s_tt, s_tb, s_bb)
    if det3 > 1e-10 * s_aa * s_tt * s_bb:
        return (s_aa * s_tt - s_at * s_at) / det3
    return math.inf


def epg_fixed_b1_block(
    y: np.ndarray,
    mask: np.ndarray,
    b1: np.ndarray,
    dictionary: EPGDictionary,
    sigma: float,
    min_r2: float,
    outs: tuple[np.ndarray, ...],
) -> None:
    """Fit T2 and S0 of one chunk with B1 given per voxel (the smoothed B1 map).

    ``b1`` has shape (n,); ``outs`` is ``(t2, s0, t2_sd, r2, rmse, flags)``. B1 outside the
    dictionary's range is clipped to it; a voxel without a finite B1 is ``FAILED``.
    """
    d = dictionary
    t2_log0 = math.log(d.t2_ms[0])
    t2_log_step = math.log(d.t2_ms[1] / d.t2_ms[0])
    b1_step = float(d.b1[1] - d.b1[0])
    xb = np.clip((np.asarray(b1, dtype=np.float64) - d.b1[0]) / b1_step, 0.0, d.b1.size - 1.0)
    _fixed_b1_block(
        y, mask, d.atoms, xb, t2_log0, t2_log_step, sigma, min_r2, *outs,
    )  # fmt: skip


@njit(cache=True, nogil=True)
def _fixed_b1_block(
    y, mask, atoms, xb_all, t2_log0, t2_log_step, sigma, min_r2,
    out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags,
):  # fmt: skip
    n, n_e = y.shape
    n_t = atoms.shape[0]
    yv = np.empty(n_e)
    a = np.empty(n_e)
    gt = np.empty(n_e)
    gb = np.empty(n_e)
    model = np.empty(n_e)
    for i in range(n):
        if not mask[i]:
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, MASKED)
            continue
        row = y[i]
        xb = xb_all[i]
        if not all_finite(row) or not math.isfinite(xb):
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, FAILED)
            continue
        for k in range(n_e):
            yv[k] = row[k]
        # coarse scan along T2 at this B1, then halving steps, then 1-D Gauss-Newton
        best_t = 0
        best = -math.inf
        for it in range(0, n_t, COARSE_T2_STRIDE):
            s = _unit_score(yv, atoms, float(it), xb, a, gt, gb)
            if s > best:
                best = s
                best_t = it
        it = best_t
        step = COARSE_T2_STRIDE // 2
        while step >= 1:
            for _ in range(100000):
                moved = False
                for dt in (-step, step):
                    jt = min(max(it + dt, 0), n_t - 1)
                    s = _unit_score(yv, atoms, float(jt), xb, a, gt, gb)
                    if s > best:
                        best = s
                        it = jt
                        moved = True
                if not moved:
                    break
            step //= 2
        xt = float(it)
        if 0 < it < n_t - 1:
            fm = _unit_score(yv, atoms, xt - 1.0, xb, a, gt, gb)
            fp = _unit_score(yv, atoms, xt + 1.0, xb, a, gt, gb)
            xt += _vertex(fm, best, fp)
        xt = _gauss_newton_t2(yv, atoms, xt, xb, a, gt, gb)
        amp, t2, sd, r2, rmse, flags, _ = _voxel_results(
            yv, a, gt, gb, model, xt, t2_log0, t2_log_step, 0.0, sigma, min_r2
        )
        if not math.isfinite(amp):
            write_failed(i, out_t2, out_s0, out_sd, out_r2, out_rmse, out_flags, FAILED)
            continue
        if xt <= 0.0 or xt >= n_t - 1.0:
            flags |= AT_BOUND
        out_t2[i] = t2
        out_s0[i] = amp
        out_sd[i] = sd
        out_r2[i] = r2
        out_rmse[i] = rmse
        out_flags[i] = flags


@njit(cache=True, nogil=True)
def _unit_score(yv, atoms, xt, xb, a, gt, gb):
    """``<y, a/|a|>`` for the train interpolated at continuous grid coordinates (xt, xb)."""
    _interpolate(atoms, xt, xb, a, gt, gb)
    ya = 0.0
    aa = 0.0
    for k in range(yv.shape[0]):
        ya += yv[k] * a[k]
        aa += a[k] * a[k]
    return ya / math.sqrt(aa)


@njit(cache=True, nogil=True)
def _gauss_newton_t2(yv, atoms, xt, xb, a, gt, gb):
    """Polish xt (B1 fixed at xb) by Gauss-Newton with S0 projected out; leaves a, gt at xt."""
    n_t = atoms.shape[0]
    n_e = yv.shape[0]
    _interpolate(atoms, xt, xb, a, gt, gb)
    rss = _projected_rss(yv, a)
    for _ in range(8):
        ya = 0.0
        aa = 0.0
        ut_a = 0.0
        for k in range(n_e):
            ya += yv[k] * a[k]
            aa += a[k] * a[k]
            ut_a += gt[k] * a[k]
        amp = ya / aa
        if not (amp > 0.0):
            break
        ut_a /= aa
        stt = 0.0
        rt = 0.0
        for k in range(n_e):
            vt = amp * (gt[k] - ut_a * a[k])
            stt += vt * vt
            rt += vt * (yv[k] - amp * a[k])
        if not (stt > 0.0):
            break
        dt = rt / stt
        lam = 1.0
        accepted = False
        nt = xt
        new_rss = rss
        while lam > 1e-4:
            nt = min(max(xt + lam * dt, 0.0), n_t - 1.0)
            _interpolate(atoms, nt, xb, a, gt, gb)
            new_rss = _projected_rss(yv, a)
            if new_rss <= rss:
                accepted = True
                break
            lam *= 0.5
        if not accepted:
            _interpolate(atoms, xt, xb, a, gt, gb)
            break
        moved = abs(nt - xt)
        xt = nt
        rss = new_rss
        if moved < 1e-3:
            break
    return xt
