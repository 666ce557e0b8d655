"""Extended phase graph (EPG) signal of a CPMG multi-echo spin-echo train.

Multi-echo (fast) spin-echo trains on clinical scanners refocus with angles below 180 degrees across
much of the slice (B1 inhomogeneity, slice profile, SAR limits). Part of the magnetisation is then
stored longitudinally and returns as stimulated echoes, so the echo amplitudes are not a
mono-exponential decay: echo 1 is low, echo 2 high, and a mono-exponential fit overestimates T2
by 10-40 % (McPhee & Wilman, JMRI 2018). The EPG model (Hennig 1988 [1]_; Weigel 2015 [2]_)
predicts the amplitudes exactly for given T2, T1 and refocusing angle; discT2 uses it to simulate
data (:mod:`discT2.phantom`) and to fit T2 with B1 (:mod:`discT2.fit`). The slice profiles of
:func:`sinc_slice_profile` follow the windowed-sinc pulses MyoQMRI assumes [4]_.

Notes
-----
Under the CPMG condition (refocusing pulses 90 degrees in phase from the excitation) all transverse
states stay real and the longitudinal states stay imaginary, so the recursion runs on real arrays:
with ``Z = i z``, a refocusing pulse of angle a about x acts as::

    F+' = cos^2(a/2) F+ + sin^2(a/2) F- + sin(a) z
    F-' = sin^2(a/2) F+ + cos^2(a/2) F- - sin(a) z
    z'  = -sin(a)/2 F+ + sin(a)/2 F-    + cos(a) z

Between pulses the transverse states decay with T2 and move one order per half echo spacing; the
longitudinal states decay with T1. Longitudinal recovery (towards +Z) is not in the CPMG phase
and is crushed in practice, so it is left out, as in StimFit (Lebel & Wilman, MRM 2010
[3]_).

References
----------
.. [1] Hennig J. Multiecho imaging sequences with low refocusing flip angles. J Magn Reson
   1988;78:397-407.
.. [2] Weigel M. Extended phase graphs: dephasing, RF pulses, and echoes - pure and simple.
   JMRI 2015;41:266-295. doi:10.1002/jmri.24619
.. [3] Lebel RM, Wilman AH. Transverse relaxometry with stimulated echo compensation.
   MRM 2010;64:1005-1014.
.. [4] Santini F et al. Fast open-source toolkit for water T2 mapping in the presence of fat
   from multi-echo spin-echo acquisitions for muscle MRI. Front Neurol 2021;12:630387.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from discT2.errors import InputError

__all__ = ["cpmg_signal", "sinc_slice_profile"]


def cpmg_signal(
    t2_ms: float | np.ndarray,
    echo_spacing_ms: float,
    n_echoes: int,
    *,
    b1: float | np.ndarray = 1.0,
    t1_ms: float | np.ndarray = 1000.0,
    refocusing_deg: float | Sequence[float] = 180.0,
    excitation_deg: float = 90.0,
    slice_profile: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Echo amplitudes of a CPMG train, for unit equilibrium magnetisation.

    Parameters
    ----------
    t2_ms : float or ndarray
        Transverse relaxation time(s) in ms; broadcast with ``b1`` and ``t1_ms``.
    echo_spacing_ms : float
        Echo spacing (= first echo time) in ms.
    n_echoes : int
        Number of echoes in the train.
    b1 : float or ndarray
        Scale of the actual to the nominal flip angles (1 = as prescribed).
    t1_ms : float or ndarray
        Longitudinal relaxation time(s) in ms, which weight the stimulated-echo pathways.
    refocusing_deg : float or sequence of float
        Nominal refocusing angle, one for all pulses or one per echo.
    excitation_deg : float
        Nominal excitation angle.
    slice_profile : (ndarray, ndarray), optional
        Relative flip-angle scale of the excitation and of the refocusing pulses at positions
        across the slice (two arrays of equal length); the signal is their average. Without it the
        slice is treated as uniform.

    Returns
    -------
    ndarray, shape (..., n_echoes)
        Echo amplitudes; the leading shape is the broadcast shape of ``t2_ms``, ``b1``, ``t1_ms``.

    Examples
    --------
    With perfect 180-degree pulses the train is a pure exponential:

    >>> import numpy as np
    >>> s = cpmg_signal(100.0, 10.0, 4)
    >>> np.allclose(s, np.exp(-np.array([10, 20, 30, 40]) / 100.0))
    True
    """
    n_echoes = int(n_echoes)
    if n_echoes < 1:
        raise InputError(f"n_echoes must be at least 1; got {n_echoes}")
    if not np.isfinite(echo_spacing_ms) or echo_spacing_ms <= 0:
        raise InputError(f"echo_spacing_ms must be positive; got {echo_spacing_ms}")
    t2, b1_arr, t1 = np.broadcast_arrays(
        np.asarray(t2_ms, dtype=np.float64),
        np.asarray(b1, dtype=np.float64),
        np.asarray(t1_ms, dtype=np.float64),
    )
    out_shape = t2.shape
    if np.any(t2 <= 0) or np.any(t1 <= 0):
        raise InputError("T2 and T1 must be positive")
    refoc = np.broadcast_to(np.asarray(refocusing_deg, dtype=np.float64), (n_echoes,))
    if slice_profile is None:
        exc_scale = np.ones(1)
        ref_scale = np.ones(1)
    else:
        exc_scale, ref_scale = (np.asarray(p, dtype=np.float64).ravel() for p in slice_profile)
        if exc_scale.shape != ref_scale.shape or exc_scale.size == 0:
            raise InputError("slice_profile needs two non-empty arrays of equal length")

    t2f, t1f, b1f = t2.ravel(), t1.ravel(), b1_arr.ravel()
    # one simulation per (parameter set, position across the slice)
    t2z = np.repeat(t2f, exc_scale.size)
    t1z = np.repeat(t1f, exc_scale.size)
    exc = np.radians(excitation_deg) * np.outer(b1f, exc_scale).ravel()
    ref_scale_z = np.outer(b1f, ref_scale).ravel()
    signal = _cpmg_real(t2z, t1z, exc, ref_scale_z, np.radians(refoc), echo_spacing_ms)
    signal = signal.reshape(t2f.size, exc_scale.size, n_echoes).mean(axis=1)
    return signal.reshape((*out_shape, n_echoes))


def sinc_slice_profile(
    time_bandwidth: float = 4.0,
    refocusing_width: float = 1.2,
    n_positions: int = 24,
    extent: float = 1.5,
    n_steps: int = 400,
) -> tuple[np.ndarray, np.ndarray]:
    """Flip-angle profiles across a 2-D slice for Hanning-windowed sinc pulses (Bloch simulation).

    In a 2-D multi-echo spin echo the slice edges see smaller flip angles than the centre, so
    they contribute stimulated echoes even when the nominal refocusing angle is 180 degrees; the
    averaged train is what the scanner measures (Lebel & Wilman 2010). This helper gives the
    profiles in the form :func:`cpmg_signal` takes: the flip-angle scale (actual / nominal) of the
    excitation and of the refocusing pulses at positions across half the slice (the profiles are
    symmetric, so half suffices; the positions are midpoints of equal intervals).

    Parameters
    ----------
    time_bandwidth : float
        Time-bandwidth product of both pulses (sinc lobes); vendors use about 2 to 6.
    refocusing_width : float
        Refocusing slice thickness relative to the excitation slice (Siemens-like 1.2).
    n_positions : int
        Positions across half the slice.
    extent : float
        Half-width simulated, in excitation slice thicknesses.
    n_steps : int
        Time steps of the hard-pulse Bloch simulation.

    Returns
    -------
    (ndarray, ndarray)
        Excitation (simulated at 90 degrees) and refocusing (at 180 degrees) flip-angle scales,
        each of shape (n_positions,). The scale of a pulse is not exactly linear in its nominal
        angle; these two angles are the usual CPMG ones.

    Examples
    --------
    >>> exc, ref = sinc_slice_profile(n_positions=8)
    >>> bool(exc[0] > 0.95 and ref[0] > 0.85 and exc[-1] < 0.05 and ref[-1] < 0.05)
    True
    """
    if time_bandwidth <= 0 or refocusing_width <= 0 or extent <= 0:
        raise InputError("time_bandwidth, refocusing_width and extent must be positive")
    if n_positions < 1 or n_steps < 8:
        raise InputError("n_positions must be at least 1 and n_steps at least 8")
    z = (np.arange(n_positions) + 0.5) * (extent / n_positions)
    exc = _bloch_flip_deg(90.0, time_bandwidth, z, n_steps) / 90.0
    ref = _bloch_flip_deg(180.0, time_bandwidth, z / refocusing_width, n_steps) / 180.0
    return exc, ref


def _bloch_flip_deg(flip_deg: float, time_bandwidth: float, z: np.ndarray, n_steps: int):
    """Flip angle (deg) at slice positions ``z`` (in slice thicknesses) of a windowed sinc."""
    t = (np.arange(n_steps) + 0.5) / n_steps - 0.5
    shape = np.sinc(time_bandwidth * t) * (0.5 + 0.5 * np.cos(2.0 * np.pi * t))
    rf = shape / shape.sum() * np.radians(flip_deg)  # rotation per step on resonance
    # off-resonance rotation per step: the slice (FWHM) spans the pulse bandwidth
    dphi = 2.0 * np.pi * time_bandwidth * np.asarray(z, dtype=float) / n_steps
    m = np.zeros((z.size, 3))
    m[:, 2] = 1.0
    for b in rf:
        w = np.stack([np.full(z.size, b), np.zeros(z.size), dphi], axis=1)
        angle = np.linalg.norm(w, axis=1)
        k = w / np.where(angle > 0, angle, 1.0)[:, None]
        c = np.cos(angle)[:, None]
        s = np.sin(angle)[:, None]
        kdotm = np.sum(k * m, axis=1, keepdims=True)
        m = m * c + np.cross(k, m) * s + k * kdotm * (1.0 - c)
    return np.degrees(np.arccos(np.clip(m[:, 2], -1.0, 1.0)))


def _cpmg_real(
    t2: np.ndarray,
    t1: np.ndarray,
    excitation_rad: np.ndarray,
    refocusing_scale: np.ndarray,
    refocusing_rad: np.ndarray,
    echo_spacing_ms: float,
) -> np.ndarray:
    """Real-valued CPMG EPG recursion over N parameter sets; returns (N, n_echoes)."""
    n = t2.size
    n_echoes = refocusing_rad.size
    # orders above n_echoes can never return to zero before the last echo
    n_states = n_echoes + 2
    fp = np.zeros((n, n_states))
    fm = np.zeros((n, n_states))
    z = np.zeros((n, n_states))
    fp[:, 0] = np.sin(excitation_rad)
    fm[:, 0] = fp[:, 0]
    e2 = np.exp(-0.5 * echo_spacing_ms / t2)[:, None]
    e1 = np.exp(-0.5 * echo_spacing_ms / t1)[:, None]
    echoes = np.empty((n, n_echoes))
    for e in range(n_echoes):
        alpha = refocusing_scale * refocusing_rad[e]
        c2 = np.cos(alpha / 2.0)[:, None] ** 2
        s2 = 1.0 - c2
        sa = np.sin(alpha)[:, None]
        ca = np.cos(alpha)[:, None]
        _relax_and_shift(fp, fm, z, e2, e1)
        fp_new = c2 * fp + s2 * fm + sa * z
        fm_new = s2 * fp + c2 * fm - sa * z
        z = -0.5 * sa * fp + 0.5 * sa * fm + ca * z
        fp, fm = fp_new, fm_new
        _relax_and_shift(fp, fm, z, e2, e1)
        echoes[:, e] = fp[:, 0]
    return echoes


def _relax_and_shift(
    fp: np.ndarray, fm: np.ndarray, z: np.ndarray, e2: np.ndarray, e1: np.ndarray
) -> None:
    """Relax over half an echo spacing, then dephase by one order (in place)."""
    fp *= e2
    fm *= e2
    z *= e1
    fp[:, 1:] = fp[:, :-1].copy()
    fm[:, :-1] = fm[:, 1:].copy()
    fm[:, -1] = 0.0
    fp[:, 0] = fm[:, 0]
