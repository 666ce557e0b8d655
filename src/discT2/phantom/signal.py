"""The phantom's signal model: CPMG extended phase graphs per voxel, partial volume, noise.

Noise-free signal of voxel ``v`` at echo ``n``::

    S(v, n) = M R(v) sum_c  w_c(v) (1 - exp(-(TR - TE_last) / T1_c)) EPG_n(T2_c, T1_c, B1(v))

- ``M`` is the signal of proton density 1 at full relaxation and unit coil sensitivity
  (``Protocol.peak_signal``).
- ``R(v)`` is the receive sensitivity of a posterior spine coil, falling off anteriorly.
- ``w_c(v)`` is the proton-density-weighted fraction of the voxel occupied by tissue ``c``,
  found by super-sampling the anatomy ``n x n x n`` times per voxel (partial volume).
- The saturation factor is the longitudinal recovery between the end of one echo train and the
  next excitation (the train is taken to leave no longitudinal magnetisation).
- ``EPG_n`` is :func:`discT2.epg.cpmg_signal` with the refocusing angle scaled by the smooth
  transmit field ``B1(v)`` (0.8-1.0 over the field of view), so stimulated echoes and their T1
  weighting are in the data; optionally averaged over a windowed-sinc slice profile.
- Disc tissue takes the T2/T1 of the ROI band that the voxel *centre* falls in; every other
  tissue has one T2/T1. So a voxel whose super-samples are all one tissue (``purity == 1``) has
  ``S = S0 * EPG(T2, T1, B1)`` exactly, with the truth maps' values.

Magnitude data then get Rician noise: ``|S + sigma (n1 + i n2)|`` with ``n1, n2`` standard normal
and ``sigma = M / snr``; pure background reads ``sigma sqrt(pi / 2) = 1.2533 sigma`` on average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from discT2.epg import cpmg_signal
from discT2.errors import InputError
from discT2.phantom.anatomy import LEVELS, SpineModel
from discT2.phantom.tissues import DISC_CODE, TISSUES, tissue_by_code

__all__ = [
    "VoxelTruth",
    "add_rician_noise",
    "b1_field",
    "receive_field",
    "saturation",
    "simulate_voxels",
]

_N_CODES = DISC_CODE + 1
_CHUNK = 20000


def b1_field(
    points: np.ndarray,
    coefficients: np.ndarray,
    b1_range: tuple[float, float] = (0.8, 1.0),
) -> np.ndarray:
    """A smooth transmit field scaled to span ``b1_range`` exactly over ``points``.

    Parameters
    ----------
    points : ndarray, shape (N, 3)
        Positions normalised to about [-1, 1] over the field of view (x, y, z).
    coefficients : ndarray, shape (6,)
        Weights of ``y, z, y^2, z^2, y z, x`` (a low-order pattern, as dielectric and coil
        effects give).
    b1_range : (float, float)
        Lowest and highest B1 (refocusing-angle scale).

    Returns
    -------
    ndarray, shape (N,)
    """
    c = np.asarray(coefficients, dtype=float)
    if c.shape != (6,):
        raise InputError(f"B1 field needs 6 coefficients; got shape {c.shape}")
    lo, hi = (float(v) for v in b1_range)
    if not 0 < lo <= hi:
        raise InputError(f"b1_range must be 0 < low <= high; got {b1_range}")
    x, y, z = np.asarray(points, dtype=float).T
    g = c[0] * y + c[1] * z + c[2] * y * y + c[3] * z * z + c[4] * y * z + c[5] * x
    span = g.max() - g.min()
    if span <= 0:
        return np.full(g.shape, hi)
    return lo + (hi - lo) * (g - g.min()) / span


def receive_field(
    y_mm: np.ndarray, coil_y_mm: float, falloff_mm: float | None, floor: float = 0.4
) -> np.ndarray:
    """Sensitivity of a posterior spine coil at world ``y`` (1 at the coil, decaying anteriorly).

    ``falloff_mm=None`` gives a uniform coil.
    """
    y = np.asarray(y_mm, dtype=float)
    if falloff_mm is None:
        return np.ones_like(y)
    decay = np.exp(-np.clip(y - coil_y_mm, 0.0, None) / float(falloff_mm))
    return floor + (1.0 - floor) * decay


def saturation(t1_ms: np.ndarray, repetition_time_ms: float, last_echo_ms: float) -> np.ndarray:
    """Longitudinal recovery ``1 - exp(-(TR - TE_last) / T1)`` before each excitation."""
    t1 = np.asarray(t1_ms, dtype=float)
    recovery = max(float(repetition_time_ms) - float(last_echo_ms), 0.0)
    with np.errstate(divide="ignore"):
        return np.where(t1 > 0, 1.0 - np.exp(-recovery / np.where(t1 > 0, t1, 1.0)), 0.0)


def add_rician_noise(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise of standard deviation ``sigma``."""
    noise_re = rng.standard_normal(signal.shape)
    noise_im = rng.standard_normal(signal.shape)
    return np.hypot(signal + sigma * noise_re, sigma * noise_im)


@dataclass
class VoxelTruth:
    """Noise-free signal and ground-truth maps of one exam, all on the exam grid.

    Attributes
    ----------
    signal : ndarray, shape (I, J, K, E)
        Noise-free magnitude (the absolute value of the summed real CPMG echoes).
    t2_ms, t1_ms : ndarray, shape (I, J, K)
        Relaxation of the tissue at each voxel centre (0 in air).
    s0 : ndarray, shape (I, J, K)
        Amplitude such that a pure voxel's signal is ``s0 * cpmg_signal(t2, ..., b1=b1,
        t1_ms=t1)``: peak signal x coil sensitivity x saturation x proton density.
    b1 : ndarray, shape (I, J, K)
        Transmit (refocusing-angle) scale.
    labels : ndarray of uint8, shape (I, J, K)
        Tissue at the voxel centre.
    purity : ndarray, shape (I, J, K)
        Fraction of the voxel's super-samples that are that tissue.
    disc_index : ndarray of int8, shape (I, J, K)
        Index into ``LEVELS`` of the disc whose tissue the voxel holds, -1 elsewhere.
    disc_s, disc_u : dict of str to ndarray, shape (I, J)
        Bilinear disc coordinates of the in-plane voxel centres, per level.
    """

    signal: np.ndarray
    t2_ms: np.ndarray
    t1_ms: np.ndarray
    s0: np.ndarray
    b1: np.ndarray
    labels: np.ndarray
    purity: np.ndarray
    disc_index: np.ndarray
    disc_s: dict
    disc_u: dict


def simulate_voxels(
    model: SpineModel,
    *,
    affine: np.ndarray,
    shape: tuple[int, int, int],
    slice_thickness_mm: float,
    anatomy_to_world: np.ndarray,
    b1: np.ndarray,
    receive: np.ndarray,
    echo_spacing_ms: float,
    n_echoes: int,
    repetition_time_ms: float,
    refocusing_deg: float,
    excitation_deg: float,
    peak_signal: float,
    slice_profile: tuple[np.ndarray, np.ndarray] | None = None,
    supersample: int = 3,
) -> VoxelTruth:
    """Noise-free multi-echo signal and truth maps of a sagittal exam of ``model``.

    Parameters
    ----------
    model : SpineModel
        The subject's anatomy.
    affine : ndarray, shape (4, 4)
        Exam grid, voxel to world RAS mm. It must be sagittal: ``i`` and ``j`` in the y-z plane,
        ``k`` along x.
    shape : (int, int, int)
        Grid size ``(I, J, K)``.
    slice_thickness_mm : float
        Excited thickness (the gap between slices is not sampled).
    anatomy_to_world : ndarray, shape (4, 4)
        Rigid pose of the anatomy; only rotations about x (in-plane) are allowed.
    b1, receive : ndarray, shape (I, J, K)
        Transmit scale and coil sensitivity per voxel.
    echo_spacing_ms, n_echoes, repetition_time_ms, refocusing_deg, excitation_deg
        Sequence.
    peak_signal : float
        Signal of proton density 1, fully relaxed, at unit coil sensitivity.
    slice_profile : (ndarray, ndarray), optional
        Excitation and refocusing flip-angle scales across the slice.
    supersample : int
        Odd number of sub-samples per voxel edge (partial volume).

    Returns
    -------
    VoxelTruth
    """
    n_sub = int(supersample)
    if n_sub < 1 or n_sub % 2 == 0:
        raise InputError(f"supersample must be an odd number >= 1; got {supersample}")
    n_i, n_j, n_k = (int(v) for v in shape)
    affine = np.asarray(affine, dtype=float)
    rot = affine[:3, :3]
    if np.any(np.abs(rot[0, :2]) > 1e-9) or np.any(np.abs(rot[1:, 2]) > 1e-9):
        raise InputError(
            "the phantom simulates sagittal grids only: voxel axes i, j must lie in the y-z plane "
            "and k along x"
        )
    pose = np.asarray(anatomy_to_world, dtype=float)
    if np.any(np.abs(pose[0, 1:3]) > 1e-12) or np.any(np.abs(pose[1:3, 0]) > 1e-12):
        raise InputError("the phantom's pose may rotate only about the left-right (x) axis")
    world_to_anatomy = np.linalg.inv(pose)

    offsets = (np.arange(n_sub) + 0.5) / n_sub - 0.5
    centre_sub = n_sub // 2
    # in-plane sub-sample grid: (I, n, J, n) positions in world then anatomy coordinates
    fi = (np.arange(n_i)[:, None] + offsets[None, :]).reshape(-1)
    fj = (np.arange(n_j)[:, None] + offsets[None, :]).reshape(-1)
    grid_i, grid_j = np.meshgrid(fi, fj, indexing="ij")
    world_yz = (rot[1:, 0][:, None, None] * grid_i + rot[1:, 1][:, None, None] * grid_j) + affine[
        1:3, 3
    ][:, None, None]
    anat_yz = (
        np.einsum("ab,bij->aij", world_to_anatomy[1:3, 1:3], world_yz)
        + world_to_anatomy[1:3, 3][:, None, None]
    )
    fields = model.fields(anat_yz[0], anat_yz[1])

    n_inplane = n_i * n_j
    voxel_of = (
        np.arange(n_i)[:, None, None, None] * n_j + np.arange(n_j)[None, None, :, None]
    ) * np.ones((1, n_sub, 1, n_sub), dtype=np.int64)
    voxel_of = voxel_of.reshape(-1)
    weight = np.zeros((n_i, n_j, n_k, _N_CODES))
    count = np.zeros((n_i, n_j, n_k, _N_CODES))
    disc_index = np.full((n_i, n_j, n_k), -1, dtype=np.int8)
    labels = np.zeros((n_i, n_j, n_k), dtype=np.uint8)
    x_spacing = rot[0, 2]
    for k in range(n_k):
        for c_sub, off in enumerate(offsets):
            x_world = affine[0, 3] + x_spacing * k + off * slice_thickness_mm
            x_anat = x_world + world_to_anatomy[0, 3]
            code, pd, disc = model.label(fields, x_anat)
            key = voxel_of * _N_CODES + code
            weight[:, :, k, :] += np.bincount(
                key, weights=pd, minlength=n_inplane * _N_CODES
            ).reshape(n_i, n_j, _N_CODES)
            count[:, :, k, :] += np.bincount(key, minlength=n_inplane * _N_CODES).reshape(
                n_i, n_j, _N_CODES
            )
            disc_index[:, :, k] = np.maximum(
                disc_index[:, :, k],
                disc.reshape(n_i, n_sub, n_j, n_sub).max(axis=(1, 3)),
            )
            if c_sub == centre_sub:
                labels[:, :, k] = code.reshape(n_i, n_sub, n_j, n_sub)[:, centre_sub, :, centre_sub]
    n_total = float(n_sub**3)
    weight /= n_total
    count /= n_total

    # disc coordinates of the voxel centres, and the T2/T1 of each voxel's disc tissue
    centre_y = anat_yz[0].reshape(n_i, n_sub, n_j, n_sub)[:, centre_sub, :, centre_sub]
    centre_z = anat_yz[1].reshape(n_i, n_sub, n_j, n_sub)[:, centre_sub, :, centre_sub]
    disc_s, disc_u = {}, {}
    disc_t2 = np.zeros((n_i, n_j, n_k))
    disc_t1 = np.zeros((n_i, n_j, n_k))
    for index, level in enumerate(LEVELS):
        disc = model.discs[level]
        s, u = disc.quad.coords(centre_y, centre_z)
        disc_s[level], disc_u[level] = s, u
        band = disc.band_index(s)
        t2_band = np.asarray(disc.relaxation.band_t2_ms)[band]
        t1_band = np.asarray(disc.relaxation.band_t1_ms)[band]
        here = disc_index == index
        disc_t2[here] = np.broadcast_to(t2_band[:, :, None], here.shape)[here]
        disc_t1[here] = np.broadcast_to(t1_band[:, :, None], here.shape)[here]

    echo_train_end = echo_spacing_ms * n_echoes
    scale = float(peak_signal)
    if slice_profile is not None:
        scale /= float(np.mean(slice_profile[0]))
    amplitude = scale * receive
    signal = np.zeros((n_i, n_j, n_k, n_echoes))
    for code in range(1, _N_CODES):
        where = np.nonzero(weight[..., code] > 0)
        if where[0].size == 0:
            continue
        if code == DISC_CODE:
            t2 = disc_t2[where]
            t1 = disc_t1[where]
        else:
            tissue = tissue_by_code(code)
            t2 = np.full(where[0].size, tissue.t2_ms)
            t1 = np.full(where[0].size, tissue.t1_ms)
        factor = (
            amplitude[where]
            * weight[..., code][where]
            * saturation(t1, repetition_time_ms, echo_train_end)
        )
        epg = _cpmg_chunked(
            t2, t1, b1[where], echo_spacing_ms, n_echoes, refocusing_deg, excitation_deg,
            slice_profile,
        )  # fmt: skip
        signal[where] += factor[:, None] * epg

    # magnitude: under CPMG every contribution is real, so the voxel's magnitude is |sum|
    signal = np.abs(signal)

    # truth maps at the voxel centres
    t2_map = np.zeros((n_i, n_j, n_k))
    t1_map = np.zeros((n_i, n_j, n_k))
    for tissue in TISSUES.values():
        if tissue.code in (0, DISC_CODE):
            continue
        here = labels == tissue.code
        t2_map[here] = tissue.t2_ms
        t1_map[here] = tissue.t1_ms
    is_disc = labels == DISC_CODE
    t2_map[is_disc] = disc_t2[is_disc]
    t1_map[is_disc] = disc_t1[is_disc]
    centre_weight = np.take_along_axis(weight, labels[..., None].astype(np.int64), -1)[..., 0]
    purity = np.take_along_axis(count, labels[..., None].astype(np.int64), -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pd = np.where(purity > 0, centre_weight / np.where(purity > 0, purity, 1), 0.0)
    s0 = amplitude * mean_pd * saturation(t1_map, repetition_time_ms, echo_train_end)
    s0[labels == 0] = 0.0
    return VoxelTruth(
        signal=signal,
        t2_ms=t2_map,
        t1_ms=t1_map,
        s0=s0,
        b1=np.asarray(b1, dtype=float),
        labels=labels,
        purity=purity,
        disc_index=np.where(is_disc | (disc_index >= 0), disc_index, -1).astype(np.int8),
        disc_s=disc_s,
        disc_u=disc_u,
    )


def _cpmg_chunked(t2, t1, b1, echo_spacing_ms, n_echoes, refocusing_deg, excitation_deg, profile):
    out = np.empty((t2.size, n_echoes))
    chunk = _CHUNK if profile is None else max(1, _CHUNK // len(profile[0]))
    for start in range(0, t2.size, chunk):
        stop = start + chunk
        out[start:stop] = cpmg_signal(
            t2[start:stop],
            echo_spacing_ms,
            n_echoes,
            b1=b1[start:stop],
            t1_ms=t1[start:stop],
            refocusing_deg=refocusing_deg,
            excitation_deg=excitation_deg,
            slice_profile=profile,
        )
    return out
