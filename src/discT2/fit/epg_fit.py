"""The ``epg`` method from acquisition to maps: protocol, slice profile, T1, B1 field, T2.

1. **Protocol.** Refocusing angle, excitation angle and echo spacing come from the options, else
   from the series metadata, else from stated assumptions (180 degrees, 90 degrees, the echo
   times); each value's source goes into the provenance.
2. **Slice profile.** ``'auto'``: a 2-D acquisition (DICOM MRAcquisitionType, or the BIDS
   sidecar's) is modelled with the flip-angle profiles of Hanning-windowed sinc pulses
   (time-bandwidth 4, refocusing slice 1.2 x the excited one;
   :func:`discT2.epg.sinc_slice_profile`), whose slice edges see smaller angles than the
   centre. Data without an acquisition type (plain arrays, 3-D acquisitions) are modelled with a
   uniform slice.
3. **T1.** One assumed value (default for disc tissue), or a map: voxels are grouped by T1 in
   2 % steps and each group gets its own dictionary.
4. **B1.** ``'smooth'`` (the default for a series, which has a geometry): B1 is fitted with T2
   and S0 on a sub-grid of the voxels, smoothed into a field (:func:`discT2.fit.b1map.smooth_b1`)
   and T2 and S0 are fitted again in every voxel with B1 fixed to the field. ``'voxel'`` (the
   default for plain arrays, which have no geometry): B1 free in every voxel. A number: B1
   fixed everywhere.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from discT2.epg import sinc_slice_profile
from discT2.errors import EchoTimeError, InputError
from discT2.fit._engine import run_chunks
from discT2.fit.b1map import smooth_b1
from discT2.fit.checks import train_spacing
from discT2.fit.epg import (
    effective_b1_max,
    epg_block,
    epg_dictionary,
    epg_fixed_b1_block,
)
from discT2.fit.epg_options import EPGOptions, SliceProfile
from discT2.maps import FitFlag

__all__ = ["fit_epg"]

logger = logging.getLogger(__name__)

DEFAULT_REFOCUSING_DEG = 180.0
DEFAULT_EXCITATION_DEG = 90.0

#: T1 values of a map closer than this ratio share one dictionary.
_T1_BIN_RATIO = 1.02

#: Flags that make a voxel's B1 unusable for the field.
_UNINFORMATIVE = (
    FitFlag.FAILED
    | FitFlag.MASKED
    | FitFlag.POOR_FIT
    | FitFlag.AT_BOUND
    | FitFlag.T2_BELOW_RANGE
    | FitFlag.T2_ABOVE_RANGE
)


def fit_epg(
    flat: np.ndarray,
    used: np.ndarray | None,
    flat_mask: np.ndarray | None,
    echo_times_used_ms: np.ndarray,
    all_echo_times_ms: np.ndarray,
    meta: dict[str, Any],
    options: EPGOptions,
    *,
    spatial: tuple[int, int, int],
    voxel_size_mm: tuple[float, float, float] | None,
    t2_bounds_ms: tuple[float, float],
    sigma: float,
    min_r2: float,
    chunk_size: int,
    workers: int,
    progress: Callable[[int, int], object] | None,
) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
    """Fit every voxel with the EPG model; returns the seven flat outputs and the provenance.

    The outputs are ``(t2, s0, t2_sd, r2, rmse, flags, b1)`` of shape (N,); ``b1`` is the B1
    the T2 was fitted with (the smooth field, the fixed value, or the voxel's own).
    """
    n_vox = flat.shape[0]
    info: dict[str, Any] = {}
    protocol = _protocol(echo_times_used_ms, all_echo_times_ms, meta, options, info)
    profile = _resolve_profile(options, meta, info)
    # with a slice profile too: the slice centre sees the nominal angle, and above 180 degrees
    # there a train looks like one with a smaller angle
    b1_top = effective_b1_max(options.b1_bounds[1], protocol["refocusing"])
    if b1_top <= options.b1_bounds[0]:
        raise InputError(
            f"b1_bounds {list(options.b1_bounds)}: with refocusing {protocol['refocusing']:g} deg "
            f"the B1 range ends at {b1_top:.3g} (180 deg), below its lower bound"
        )
    b1_range = (options.b1_bounds[0], b1_top)
    mode = options.b1
    if isinstance(mode, float) and not b1_range[0] <= mode <= b1_range[1]:
        raise InputError(
            f"b1={mode:g} is outside the B1 range {b1_range[0]:g}-{b1_range[1]:.3g} (with "
            f"refocusing {protocol['refocusing']:g} deg the top is where the slice centre "
            "reaches 180 deg); give the refocusing angle or a B1 inside the range"
        )
    if mode == "smooth" and voxel_size_mm is None:
        mode = "voxel"
        info["b1_note"] = "plain array without geometry: B1 fitted per voxel"
    groups = _t1_groups(options.t1_ms, spatial, flat_mask, info)

    def dictionary_for(t1: float):
        return epg_dictionary(
            protocol["spacing"],
            protocol["numbers"],
            protocol["refocusing"],
            protocol["excitation"],
            float(t1),
            t2_bounds_ms,
            b1_range,
            profile,
        )

    outs = tuple(np.empty(n_vox, dtype=np.float32) for _ in range(5))
    flags = np.empty(n_vox, dtype=np.uint16)
    b1_out = np.empty(n_vox, dtype=np.float32)
    final = (*outs, flags, b1_out)
    # one T1 (the usual case) writes straight into the outputs; a T1 map fits group by group
    # into scratch arrays and merges each group's voxels
    single = len(groups) == 1 and groups[0][1] is None
    if not single:
        for arr in (*outs, b1_out):
            arr.fill(np.nan)
        flags.fill(np.uint16(FitFlag.MASKED))
    n_fit = n_vox if flat_mask is None else int(np.count_nonzero(flat_mask))
    passes = 2 if mode == "smooth" else 1
    tracker = _Progress(progress, passes * n_fit)

    if mode == "smooth":
        b1_field = _b1_field(
            flat, used, flat_mask, groups, dictionary_for, spatial, voxel_size_mm, options,
            sigma, min_r2, chunk_size, workers, tracker, info,
        )  # fmt: skip
        if b1_field is None:
            mode = "voxel"
            tracker.total = n_fit + tracker.done
    if mode == "voxel":
        b1_sd = np.empty(n_vox, dtype=np.float32)  # the kernel's eighth output, not kept
        for t1, group_mask in groups:
            part = (*final, b1_sd) if single else _blank(n_vox, 8)
            dictionary = dictionary_for(t1)
            run_chunks(
                lambda y, m, o, d=dictionary: epg_block(y, m, d, sigma, min_r2, o),
                flat, used, _and(flat_mask, group_mask), part,
                chunk_size=chunk_size, workers=workers, progress=tracker.step(),
            )  # fmt: skip
            if not single:
                _merge(final, part[:7], _and(flat_mask, group_mask))
    else:
        fixed = (
            np.full(n_vox, float(mode), dtype=np.float64) if isinstance(mode, float) else b1_field
        )
        if isinstance(mode, float):
            info["b1_source"] = "given (fixed everywhere)"
        for t1, group_mask in groups:
            # the B1 field rides along as a seventh "output": run_chunks slices it per chunk
            part = (*final[:6], fixed) if single else (*_blank(n_vox, 6), fixed)
            dictionary = dictionary_for(t1)
            run_chunks(
                lambda y, m, o, d=dictionary: epg_fixed_b1_block(
                    y, m, o[6], d, sigma, min_r2, o[:6]
                ),
                flat, used, _and(flat_mask, group_mask), part,
                chunk_size=chunk_size, workers=workers, progress=tracker.step(),
            )  # fmt: skip
            if not single:
                _merge(final[:6], part[:6], _and(flat_mask, group_mask))
        # the B1 each voxel's T2 was fitted with; none where the fit failed or was masked
        bad = (flags & np.uint16(FitFlag.FAILED | FitFlag.MASKED)) != 0
        np.copyto(b1_out, fixed, casting="same_kind")
        b1_out[bad] = np.nan
    info["b1_mode"] = mode if isinstance(mode, str) else "fixed"
    info["b1_range_used"] = [float(b1_range[0]), float(b1_range[1])]
    info["epg_grid"] = dictionary_for(groups[0][0]).grid
    return final, info


# -- protocol ------------------------------------------------------------------------------------


def _protocol(
    te_used: np.ndarray,
    te_all: np.ndarray,
    meta: dict[str, Any],
    options: EPGOptions,
    info: dict[str, Any],
) -> dict[str, Any]:
    refocusing, ref_source = options.refocusing_deg, "given"
    if refocusing is None:
        value = meta.get("refocusing_angle_deg")
        if _is_angle(value):
            refocusing = float(value)
            ref_source = str(meta.get("refocusing_angle_source") or "series metadata")
        else:
            refocusing, ref_source = DEFAULT_REFOCUSING_DEG, "assumed (not in the header)"
            logger.warning(
                "epg: the refocusing angle is not in the series' header; assuming %g deg "
                "(give refocusing_deg / --refocusing-deg if the protocol used another)",
                refocusing,
            )
    excitation, exc_source = options.excitation_deg, "given"
    if excitation is None:
        excitation, exc_source = DEFAULT_EXCITATION_DEG, "assumed"
    spacing, esp_source = options.echo_spacing_ms, "given"
    if spacing is None:
        value = meta.get("echo_spacing_ms")
        if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
            spacing, esp_source = float(value), "series metadata"
        else:
            spacing, esp_source = train_spacing(te_all), "echo times"
    if spacing is None:
        raise EchoTimeError(
            f"method 'epg' needs the echo spacing: the echo times "
            f"{np.round(te_all, 3).tolist()} ms are not whole multiples of the first one. "
            "Give echo_spacing_ms."
        )
    numbers = te_used / spacing
    rounded = np.rint(numbers)
    if np.any(rounded < 1) or np.any(np.abs(numbers - rounded) > 0.01):
        raise EchoTimeError(
            f"method 'epg': echo times {np.round(te_used, 3).tolist()} ms are "
            f"not whole multiples of the echo spacing {spacing:g} ms"
        )
    info.update(
        refocusing_deg_used=float(refocusing),
        refocusing_source=ref_source,
        excitation_deg_used=float(excitation),
        excitation_source=exc_source,
        echo_spacing_ms_used=float(spacing),
        echo_spacing_source=esp_source,
        echo_numbers_in_train=[int(n) for n in rounded],
    )
    return {
        "refocusing": float(refocusing),
        "excitation": float(excitation),
        "spacing": float(spacing),
        "numbers": tuple(int(n) for n in rounded),
    }


def _resolve_profile(
    options: EPGOptions, meta: dict[str, Any], info: dict[str, Any]
) -> SliceProfile | None:
    profile = options.profile
    if profile != "auto":
        info["slice_profile_used"] = "uniform" if profile is None else "given"
        info["slice_profile_scales"] = (
            None if profile is None else {"excitation": profile[0], "refocusing": profile[1]}
        )
        return profile  # type: ignore[return-value]
    kind = str(meta.get("acquisition_type") or "").upper()
    if kind == "2D":
        exc, ref = sinc_slice_profile()
        info["slice_profile_used"] = (
            "2-D slice: Hanning-windowed sinc pulses, time-bandwidth 4, refocusing slice "
            "1.2 x the excited slice (assumed; the header does not describe the pulses)"
        )
        chosen = tuple(float(v) for v in exc), tuple(float(v) for v in ref)
        info["slice_profile_scales"] = {"excitation": chosen[0], "refocusing": chosen[1]}
        return chosen
    info["slice_profile_scales"] = None
    info["slice_profile_used"] = (
        "uniform (3-D acquisition)"
        if kind == "3D"
        else "uniform (acquisition type not known: no 2-D slice profile assumed)"
    )
    return None


def _t1_groups(
    t1: float | np.ndarray,
    spatial: tuple[int, int, int],
    flat_mask: np.ndarray | None,
    info: dict[str, Any],
) -> list[tuple[float, np.ndarray | None]]:
    if not isinstance(t1, np.ndarray):
        info["t1_ms_assumed"] = float(t1)
        return [(float(t1), None)]
    if t1.size != int(np.prod(spatial)):
        raise InputError(
            f"t1_ms map has shape {t1.shape}; the data's voxel grid is {tuple(spatial)}"
        )
    flat_t1 = np.asarray(t1, dtype=np.float64).reshape(-1)
    inside = np.isfinite(flat_t1) & (flat_t1 > 0)
    if flat_mask is not None:
        missing = int(np.count_nonzero(flat_mask & ~inside))
    else:
        missing = int(np.count_nonzero(~inside))
    if missing:
        raise InputError(
            f"the t1_ms map has no positive T1 in {missing} voxels that are fitted; "
            "give T1 wherever the mask is set"
        )
    bins = np.full(flat_t1.shape, -1, dtype=np.int64)
    bins[inside] = np.rint(np.log(flat_t1[inside]) / math.log(_T1_BIN_RATIO)).astype(np.int64)
    groups = []
    for b in np.unique(bins[inside]):
        groups.append((float(_T1_BIN_RATIO**b), bins == b))
    info["t1_ms_assumed"] = {
        "map": True,
        "n_groups": len(groups),
        "min_ms": float(flat_t1[inside].min()),
        "max_ms": float(flat_t1[inside].max()),
    }
    return groups


# -- B1 field ------------------------------------------------------------------------------------


def _b1_field(
    flat, used, flat_mask, groups, dictionary_for, spatial, voxel_size_mm, options,
    sigma, min_r2, chunk_size, workers, tracker, info,
):  # fmt: skip
    """Voxel-wise B1 on a sub-grid, smoothed into a field; None when nothing informs it."""
    n_vox = flat.shape[0]
    stride = [
        max(1, int(options.b1_fwhm_mm / 6.0 / max(float(v), 1e-6))) for v in voxel_size_mm[:2]
    ]
    grid = np.zeros(spatial, dtype=bool)
    grid[:: stride[0], :: stride[1], :] = True
    sample = grid.reshape(-1) if flat_mask is None else flat_mask & grid.reshape(-1)
    b1 = np.full(n_vox, np.nan, dtype=np.float32)
    b1_sd = np.full(n_vox, np.nan, dtype=np.float32)
    flags = np.full(n_vox, np.uint16(FitFlag.MASKED), dtype=np.uint16)
    tracker.total += int(np.count_nonzero(sample)) - (
        n_vox if flat_mask is None else int(np.count_nonzero(flat_mask))
    )
    for t1, group_mask in groups:
        part = _blank(n_vox, 8)
        dictionary = dictionary_for(t1)
        where = _and(sample, group_mask)
        run_chunks(
            lambda y, m, o, d=dictionary: epg_block(y, m, d, sigma, min_r2, o),
            flat, used, where, part,
            chunk_size=chunk_size, workers=workers, progress=tracker.step(),
        )  # fmt: skip
        sel = where if where is not None else np.ones(n_vox, dtype=bool)
        b1[sel] = part[6][sel]
        b1_sd[sel] = part[7][sel]
        flags[sel] = part[5][sel]
    informative = (flags & np.uint16(_UNINFORMATIVE)) == 0
    try:
        field, smooth_info = smooth_b1(
            b1.reshape(spatial),
            b1_sd.reshape(spatial),
            informative.reshape(spatial),
            tuple(float(v) for v in voxel_size_mm),
            fwhm_mm=options.b1_fwhm_mm,
        )
    except ValueError:
        logger.warning(
            "epg: no voxel gave an informative B1 for the smooth field; B1 is fitted per voxel"
        )
        info["b1_note"] = "no informative voxel for the smooth field: B1 fitted per voxel"
        return None
    valid_b1 = b1[informative]
    info["b1_source"] = "smooth field from the voxel-wise fit"
    info["b1_field"] = {
        **smooth_info,
        "sub_grid_stride": stride,
        "voxelwise_b1_percentiles_5_50_95": [
            round(float(v), 4) for v in np.percentile(valid_b1, [5, 50, 95])
        ],
    }
    return field.reshape(-1).astype(np.float64)


# -- small helpers -------------------------------------------------------------------------------


class _Progress:
    """Forwards progress over several passes as one count."""

    def __init__(self, callback: Callable[[int, int], object] | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.done = 0

    def step(self) -> Callable[[int, int], None] | None:
        if self.callback is None:
            return None
        base = self.done
        callback = self.callback

        def report(done: int, _total: int) -> None:
            self.done = base + done
            callback(self.done, max(self.total, self.done))

        return report


def _blank(n: int, count: int) -> tuple[np.ndarray, ...]:
    arrays = [np.empty(n, dtype=np.float32) for _ in range(5)]
    arrays.append(np.empty(n, dtype=np.uint16))
    arrays += [np.empty(n, dtype=np.float32) for _ in range(count - 6)]
    return tuple(arrays)


def _and(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _merge(final: tuple[np.ndarray, ...], part: tuple[np.ndarray, ...], where) -> None:
    """Copy one T1 group's voxels from its scratch outputs into the final ones."""
    sel = slice(None) if where is None else where
    for dst, src in zip(final, part, strict=True):
        dst[sel] = src[sel]


def _is_angle(value: Any) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= 180
    )
