"""The T2 model: acquisition and options, validated once; ``fit`` turns data into a T2Map.

The five methods (``FIT_METHODS``) share this front end: echo selection, mask, noise level,
chunked parallel execution (:mod:`discT2.fit._engine`), flags and provenance. The per-voxel
numerics live in one module per method.
"""

from __future__ import annotations

import copy
import datetime as _dt
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from discT2._version import __version__
from discT2.epg import sinc_slice_profile
from discT2.errors import (
    EchoTimeError,
    FitWarning,
    GeometryError,
    InputError,
    ShapeMismatchError,
)
from discT2.fit import _common
from discT2.fit._engine import default_workers, run_chunks
from discT2.fit.checks import check_series, train_spacing
from discT2.fit.epg import effective_b1_max, epg_block, epg_dictionary
from discT2.fit.loglinear import loglinear_block
from discT2.fit.mask import auto_mask
from discT2.fit.monoexp import nlls_block
from discT2.fit.ncexp import ncexp_block
from discT2.fit.noise import estimate_noise_sigma
from discT2.fit.offset import offset_block
from discT2.io.nifti import load_map
from discT2.maps import FitFlag, T2Map
from discT2.series import MultiEchoSeries

__all__ = ["FIT_METHODS", "T2Model", "fit_t2"]

logger = logging.getLogger(__name__)

#: The fitting methods, fastest first.
FIT_METHODS: tuple[str, ...] = ("loglinear", "nlls", "offset", "ncexp", "epg")

#: Free parameters per method (S0 and T2, plus the offset or B1).
N_PARAMS: dict[str, int] = {"loglinear": 2, "nlls": 2, "offset": 3, "ncexp": 2, "epg": 3}

#: Fraction of fitted voxels that may fail before a :class:`~discT2.errors.FitWarning`.
FAILED_WARN_FRACTION = 0.25

_DEFAULT_REFOCUSING_DEG = 180.0
_DEFAULT_EXCITATION_DEG = 90.0


class T2Model:
    """Mono-exponential, noise-aware or EPG T2 fitting for one echo-time layout.

    Parameters
    ----------
    echo_times_ms : array_like, shape (E,)
        Echo times of the data in ms (strictly increasing, positive).
    method : {'loglinear', 'nlls', 'offset', 'ncexp', 'epg'}
        ``loglinear``: weighted log-linear, fastest; ``nlls``: bounded least-squares
        mono-exponential (default); ``offset``: mono-exponential plus a constant; ``ncexp``:
        fit of the Rician expectation, for low SNR; ``epg``: stimulated-echo compensated CPMG
        model with T2, S0 and B1 per voxel. See ``docs/methods/fitting.md``.
    skip_first_echo : bool
        Leave out the first echo (it lacks the stimulated-echo pathway of the others).
    max_te_ms : float, optional
        Leave out echoes later than this.
    min_echoes : int
        Fewest echoes a fit may use after the selection (at least 2, and at least the method's
        number of parameters).
    t2_bounds_ms : (float, float)
        Bounds on T2 in ms. The default upper bound, 5000 ms, leaves room for fluid; T2 longer
        than the echo train resolves is flagged ``T2_ABOVE_RANGE`` rather than clipped.
    sigma : float, optional
        Noise standard deviation per channel (signal units). ``ncexp`` needs it and estimates it
        from the image background when not given; for the other methods it sets the T2
        uncertainty and the range flags (default: each voxel's residual standard deviation).
    refocusing_deg : float, optional
        Nominal refocusing angle for ``epg``; default from ``series.meta['refocusing_angle_deg']``,
        else 180.
    excitation_deg : float, optional
        Nominal excitation angle for ``epg`` (default 90). Not read from the series: vendors
        write the refocusing angle into the DICOM FlipAngle of spin-echo trains.
    t1_ms : float
        T1 assumed by ``epg`` (it weights the stimulated-echo pathways only).
    echo_spacing_ms : float, optional
        Echo spacing for ``epg``; default from ``series.meta['echo_spacing_ms']`` or from the
        echo times when they are ``n x spacing``.
    b1_bounds : (float, float)
        Range of B1 (actual / nominal flip angle) for ``epg``; without a slice profile the top
        is capped where refocusing reaches 180 degrees.
    slice_profile : None, 'sinc' or (array_like, array_like)
        For ``epg`` on 2-D acquisitions: flip-angle scales of the excitation and refocusing pulses
        across the slice, over which the echo trains are averaged. ``'sinc'`` is
        :func:`discT2.epg.sinc_slice_profile` with its defaults (Hanning-windowed sinc,
        time-bandwidth 4, refocusing slice 1.2 x wider). None models a uniform slice.
    min_r2 : float
        R² below which a voxel is flagged ``POOR_FIT``.
    workers : int, optional
        Threads (default: all cores available to the process).
    chunk_size : int
        Voxels per chunk; the working memory is about ``workers x chunk_size x E`` values.

    Raises
    ------
    InputError
        An option out of range (the message names it); :class:`~discT2.errors.EchoTimeError`
        for bad echo times or too few echoes left after the selection.

    Examples
    --------
    >>> import numpy as np
    >>> te = np.arange(1, 9) * 10.0
    >>> model = T2Model(te, method="nlls")
    >>> fitted = model.fit(1000 * np.exp(-te / 80.0))
    >>> round(float(fitted.t2_ms[0, 0, 0]), 3)
    80.0
    """

    def __init__(
        self,
        echo_times_ms: Sequence[float] | np.ndarray,
        method: str = "nlls",
        *,
        skip_first_echo: bool = False,
        max_te_ms: float | None = None,
        min_echoes: int = 3,
        t2_bounds_ms: tuple[float, float] = (1.0, 5000.0),
        sigma: float | None = None,
        refocusing_deg: float | None = None,
        excitation_deg: float | None = None,
        t1_ms: float = 1000.0,
        echo_spacing_ms: float | None = None,
        b1_bounds: tuple[float, float] = (0.5, 1.5),
        slice_profile: str | tuple[Any, Any] | None = None,
        min_r2: float = 0.9,
        workers: int | None = None,
        chunk_size: int = 16384,
    ) -> None:
        te = _echo_times(echo_times_ms)
        if not isinstance(method, str) or method not in FIT_METHODS:
            raise InputError(
                f"T2Model: method must be one of {', '.join(map(repr, FIT_METHODS))}; "
                f"got {method!r}"
            )
        self._te = te
        self.method = method
        self.skip_first_echo = bool(skip_first_echo)
        self.max_te_ms = _opt_positive("max_te_ms", max_te_ms)
        if isinstance(min_echoes, bool) or not isinstance(min_echoes, (int, np.integer)):
            raise InputError(f"T2Model: min_echoes must be an integer; got {min_echoes!r}")
        self.min_echoes = int(min_echoes)
        if self.min_echoes < 2:
            raise InputError(f"T2Model: min_echoes must be at least 2; got {min_echoes}")
        self.t2_bounds_ms = _bounds("t2_bounds_ms", t2_bounds_ms)
        self.sigma = _opt_positive("sigma", sigma)
        self.refocusing_deg = _opt_angle("refocusing_deg", refocusing_deg)
        self.excitation_deg = _opt_angle("excitation_deg", excitation_deg)
        t1 = _opt_positive("t1_ms", t1_ms)
        if t1 is None:
            raise InputError("T2Model: t1_ms must be a positive number of ms; got None")
        self.t1_ms = t1
        self.echo_spacing_ms = _opt_positive("echo_spacing_ms", echo_spacing_ms)
        self.b1_bounds = _bounds("b1_bounds", b1_bounds)
        self.slice_profile = _slice_profile(slice_profile)
        if not (isinstance(min_r2, (int, float)) and 0.0 <= float(min_r2) <= 1.0):
            raise InputError(f"T2Model: min_r2 must be a number in [0, 1]; got {min_r2!r}")
        self.min_r2 = float(min_r2)
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1
        ):
            raise InputError(
                f"T2Model: workers must be a positive integer or None; got {workers!r}"
            )
        self.workers = None if workers is None else int(workers)
        if (
            isinstance(chunk_size, bool)
            or not isinstance(chunk_size, (int, np.integer))
            or chunk_size < 1
        ):
            raise InputError(f"T2Model: chunk_size must be a positive integer; got {chunk_size!r}")
        self.chunk_size = int(chunk_size)
        self._select_echoes()

    # -- acquisition -------------------------------------------------------------------------

    @property
    def echo_times_ms(self) -> np.ndarray:
        """All echo times of the data (ms), read-only."""
        return self._te

    @property
    def echo_index(self) -> np.ndarray:
        """Indices of the echoes the fit uses."""
        return self._used.copy()

    @property
    def echo_times_used_ms(self) -> np.ndarray:
        """Echo times the fit uses (ms)."""
        return self._te[self._used]

    @property
    def options(self) -> dict[str, Any]:
        """Every option, as given (None where a default is resolved at fit time)."""
        return {
            "skip_first_echo": self.skip_first_echo,
            "max_te_ms": self.max_te_ms,
            "min_echoes": self.min_echoes,
            "t2_bounds_ms": list(self.t2_bounds_ms),
            "sigma": self.sigma,
            "refocusing_deg": self.refocusing_deg,
            "excitation_deg": self.excitation_deg,
            "t1_ms": self.t1_ms,
            "echo_spacing_ms": self.echo_spacing_ms,
            "b1_bounds": list(self.b1_bounds),
            "slice_profile": None
            if self.slice_profile is None
            else {
                "excitation": list(self.slice_profile[0]),
                "refocusing": list(self.slice_profile[1]),
            },
            "min_r2": self.min_r2,
            "workers": self.workers,
            "chunk_size": self.chunk_size,
        }

    def _select_echoes(self) -> None:
        te = self._te
        keep = np.ones(te.size, dtype=bool)
        dropped: list[dict[str, Any]] = []
        if self.skip_first_echo:
            keep[0] = False
            dropped.append({"index": 0, "echo_time_ms": float(te[0]), "reason": "skip_first_echo"})
        if self.max_te_ms is not None:
            for i in np.flatnonzero(keep & (te > self.max_te_ms)):
                keep[i] = False
                dropped.append(
                    {
                        "index": int(i),
                        "echo_time_ms": float(te[i]),
                        "reason": f"later than max_te_ms={self.max_te_ms:g}",
                    }
                )
        need = max(self.min_echoes, N_PARAMS[self.method])
        n_used = int(keep.sum())
        if n_used < need:
            raise EchoTimeError(
                f"T2Model: {n_used} of {te.size} echoes left after the selection "
                f"(skip_first_echo={self.skip_first_echo}, max_te_ms={self.max_te_ms}); "
                f"method {self.method!r} with min_echoes={self.min_echoes} needs at least {need}"
            )
        self._used = np.flatnonzero(keep)
        self._dropped = dropped

    # -- fitting -----------------------------------------------------------------------------

    def fit(
        self,
        data: MultiEchoSeries | np.ndarray,
        *,
        mask: str | os.PathLike | np.ndarray | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> T2Map:
        """Fit every voxel (in the mask) and return the maps.

        Parameters
        ----------
        data : MultiEchoSeries or ndarray, shape (..., E)
            A series (affine and metadata are taken from it), or an array with the echo axis
            last: ``(E,)`` one voxel, ``(N, E)`` voxels, ``(X, Y, E)`` one slice or
            ``(X, Y, Z, E)`` a volume (identity affine).
        mask : None, 'auto', 'none', bool ndarray or path, optional
            Voxels to fit: None / ``'none'`` all; ``'auto'`` the foreground of the first echo
            (:func:`~discT2.fit.auto_mask`); a boolean array of the data's voxel shape; or the
            path of a NIfTI mask on the series' grid (non-zero = fit).
        progress : callable, optional
            ``progress(done, total)``, in voxels, after every chunk (from the calling thread).

        Returns
        -------
        T2Map
            3-D maps: a 1-D voxel becomes shape (1, 1, 1), ``(N, E)`` becomes (N, 1, 1) and
            ``(X, Y, E)`` becomes (X, Y, 1). Masked and failed voxels are NaN with their flag.

        Raises
        ------
        InputError
            Data whose echo axis does not match the model, a mask of another shape or grid, or
            (``ncexp`` without ``sigma``) a background too small to estimate the noise.
        """
        start = time.perf_counter()
        if progress is not None and not callable(progress):
            raise InputError(f"progress must be a callable (done, total); got {progress!r}")
        vol, affine, meta, in_shape = self._as_volume(data)
        input_notes = check_series(data) if isinstance(data, MultiEchoSeries) else []
        series = data if isinstance(data, MultiEchoSeries) else None
        spatial = vol.shape[:3]
        mask3, mask_desc = self._resolve_mask(mask, vol, in_shape, series)
        sigma, sigma_source = self._resolve_sigma(vol)
        method_info: dict[str, Any] = {}
        fit_block, extra = self._block_fitter(sigma, meta, method_info)

        n_vox = int(np.prod(spatial))
        flat = vol.reshape(n_vox, vol.shape[3])
        flat_mask = None if mask3 is None else np.ascontiguousarray(mask3.reshape(n_vox))
        outs = tuple(np.empty(n_vox, dtype=np.float32) for _ in range(5))
        outs = (*outs, np.empty(n_vox, dtype=np.uint16))
        if extra is not None:
            outs = (*outs, np.empty(n_vox, dtype=np.float32))
        used = None if self._used.size == vol.shape[3] else self._used
        workers = self.workers if self.workers is not None else default_workers()
        run_chunks(
            fit_block,
            flat,
            used,
            flat_mask,
            outs,
            chunk_size=self.chunk_size,
            workers=workers,
            progress=progress,
        )
        maps = [o.reshape(spatial) for o in outs]
        flags = maps[5]
        n_fit = n_vox if flat_mask is None else int(np.count_nonzero(flat_mask))
        counts = _flag_counts(outs[5], self.chunk_size)
        elapsed = time.perf_counter() - start
        provenance = self._provenance(
            meta, mask_desc, sigma, sigma_source, method_info, n_vox, n_fit, counts, elapsed,
            in_shape, workers,
        )  # fmt: skip
        if input_notes:
            provenance["input_warnings"] = input_notes
        n_failed = counts["FAILED"]
        if n_fit and n_failed > FAILED_WARN_FRACTION * n_fit:
            warnings.warn(
                f"{n_failed} of {n_fit} fitted voxels ({100 * n_failed / n_fit:.0f} %) failed "
                "(no positive or finite signal); use mask='auto' to leave out the background",
                FitWarning,
                stacklevel=2,
            )
        logger.debug(
            "%s fit of %d voxels in %.2f s (%.0f voxels/s); %d failed",
            self.method,
            n_fit,
            elapsed,
            n_fit / elapsed if elapsed > 0 else float("nan"),
            n_failed,
        )
        return T2Map(
            t2_ms=maps[0],
            s0=maps[1],
            t2_sd_ms=maps[2],
            r2=maps[3],
            rmse=maps[4],
            flags=flags,
            affine=affine,
            b1=maps[6] if extra == "b1" else None,
            offset=maps[6] if extra == "offset" else None,
            provenance=provenance,
            meta=meta,
        )

    def _as_volume(
        self, data: MultiEchoSeries | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any], tuple[int, ...]]:
        n_te = self._te.size
        if isinstance(data, MultiEchoSeries):
            te = data.echo_times_ms
            if te.size != n_te or not np.allclose(te, self._te, rtol=1e-5, atol=1e-3):
                raise EchoTimeError(
                    f"the series' echo times {np.round(te, 3).tolist()} ms differ from the "
                    f"model's {np.round(self._te, 3).tolist()} ms; build the model from "
                    "series.echo_times_ms (or use fit_t2)"
                )
            return data.data, data.affine, copy.deepcopy(data.meta), data.shape
        arr = np.asarray(data)
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise InputError(f"data must be real numbers; got dtype {arr.dtype}")
        if arr.ndim < 1 or arr.ndim > 4:
            raise ShapeMismatchError(
                f"data must have 1 to 4 axes with echoes last; got shape {arr.shape}"
            )
        if arr.shape[-1] != n_te:
            raise ShapeMismatchError(
                f"data has {arr.shape[-1]} echoes on its last axis; the model has {n_te} echo "
                "times. Put the echo axis last."
            )
        in_shape = arr.shape[:-1]
        spatial = (*in_shape, 1, 1, 1)[:3]
        return arr.reshape((*spatial, n_te)), np.eye(4), {}, in_shape

    def _resolve_mask(
        self,
        mask: Any,
        vol: np.ndarray,
        in_shape: tuple[int, ...],
        series: MultiEchoSeries | None,
    ) -> tuple[np.ndarray | None, str]:
        spatial = vol.shape[:3]
        if mask is None or (isinstance(mask, str) and mask.lower() == "none"):
            return None, "none"
        if isinstance(mask, str) and mask.lower() == "auto":
            return auto_mask(vol), "auto"
        if isinstance(mask, (str, os.PathLike)):
            arr, affine = load_map(mask)
            if arr.ndim == 4 and arr.shape[3] == 1:
                arr = arr[..., 0]
            if arr.shape != spatial:
                raise ShapeMismatchError(
                    f"{mask}: mask has shape {arr.shape}; the data's voxel grid is {spatial}"
                )
            if series is not None and not np.allclose(affine, series.affine, atol=1e-3):
                raise GeometryError(
                    f"{mask}: the mask's affine differs from the series' (not on the same grid); "
                    "resample the mask onto the series first"
                )
            return np.asarray(arr) != 0, str(mask)
        if isinstance(mask, np.ndarray):
            if mask.shape == tuple(in_shape):
                m = mask.reshape(spatial)
            elif mask.shape == spatial:
                m = mask
            else:
                raise ShapeMismatchError(
                    f"mask has shape {mask.shape}; the data's voxel grid is {tuple(in_shape)}"
                )
            if m.dtype != bool and not np.issubdtype(m.dtype, np.number):
                raise InputError(f"mask must be boolean or numeric; got dtype {m.dtype}")
            return m.astype(bool, copy=False), "array"
        raise InputError(
            f"mask must be None, 'auto', 'none', a boolean array or a NIfTI path; got {mask!r}"
        )

    def _resolve_sigma(self, vol: np.ndarray) -> tuple[float | None, str]:
        if self.sigma is not None:
            return self.sigma, "given"
        if self.method == "ncexp":
            try:
                return estimate_noise_sigma(vol), "background"
            except InputError as exc:
                raise InputError(f"method 'ncexp' needs the noise level: {exc}") from exc
        return None, "none (each voxel's residual standard deviation)"

    def _block_fitter(
        self, sigma: float | None, meta: dict[str, Any], info: dict[str, Any]
    ) -> tuple[Callable[..., None], str | None]:
        te = np.ascontiguousarray(self.echo_times_used_ms, dtype=np.float64)
        r_lo = 1.0 / self.t2_bounds_ms[1]
        r_hi = 1.0 / self.t2_bounds_ms[0]
        sig = 0.0 if sigma is None else float(sigma)
        min_r2 = self.min_r2
        if self.method == "epg":
            dictionary = self._epg_dictionary(meta, info)

            def fit_epg(y: np.ndarray, m: np.ndarray, outs: tuple[np.ndarray, ...]) -> None:
                epg_block(y, m, dictionary, sig, min_r2, outs)

            return fit_epg, "b1"
        kernel = {
            "loglinear": loglinear_block,
            "nlls": nlls_block,
            "ncexp": ncexp_block,
            "offset": offset_block,
        }[self.method]

        def fit_mono(y: np.ndarray, m: np.ndarray, outs: tuple[np.ndarray, ...]) -> None:
            kernel(y, m, te, r_lo, r_hi, sig, min_r2, *outs)

        return fit_mono, ("offset" if self.method == "offset" else None)

    def _epg_dictionary(self, meta: dict[str, Any], info: dict[str, Any]):
        refocusing, ref_source = self.refocusing_deg, "given"
        if refocusing is None:
            value = meta.get("refocusing_angle_deg")
            if _is_angle(value):
                refocusing, ref_source = float(value), "series metadata"
            else:
                refocusing, ref_source = _DEFAULT_REFOCUSING_DEG, "assumed (not given)"
                logger.warning(
                    "epg: no refocusing angle given or in the series metadata; assuming %g deg",
                    refocusing,
                )
        excitation = self.excitation_deg or _DEFAULT_EXCITATION_DEG
        spacing, esp_source = self.echo_spacing_ms, "given"
        if spacing is None:
            value = meta.get("echo_spacing_ms")
            if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
                spacing, esp_source = float(value), "series metadata"
            else:
                spacing, esp_source = train_spacing(self._te), "echo times"
        if spacing is None:
            raise EchoTimeError(
                f"method 'epg' needs the echo spacing: the echo times "
                f"{np.round(self._te, 3).tolist()} ms are not whole multiples of the first one. "
                "Give echo_spacing_ms."
            )
        numbers = self.echo_times_used_ms / spacing
        rounded = np.rint(numbers)
        if np.any(rounded < 1) or np.any(np.abs(numbers - rounded) > 0.01):
            raise EchoTimeError(
                f"method 'epg': echo times {np.round(self.echo_times_used_ms, 3).tolist()} ms are "
                f"not whole multiples of the echo spacing {spacing:g} ms"
            )
        if self.slice_profile is None:
            b1_top = effective_b1_max(self.b1_bounds[1], refocusing)
        else:
            b1_top = self.b1_bounds[1]
        if b1_top <= self.b1_bounds[0]:
            raise InputError(
                f"b1_bounds {list(self.b1_bounds)}: with refocusing {refocusing:g} deg the B1 "
                f"range ends at {b1_top:.3g} (180 deg), below its lower bound"
            )
        dictionary = epg_dictionary(
            float(spacing),
            tuple(int(n) for n in rounded),
            float(refocusing),
            float(excitation),
            float(self.t1_ms),
            self.t2_bounds_ms,
            (self.b1_bounds[0], b1_top),
            self.slice_profile,
        )
        info.update(
            refocusing_deg_used=float(refocusing),
            refocusing_source=ref_source,
            excitation_deg_used=float(excitation),
            t1_ms_assumed=float(self.t1_ms),
            echo_spacing_ms_used=float(spacing),
            echo_spacing_source=esp_source,
            echo_numbers_in_train=[int(n) for n in rounded],
            b1_range_used=[float(self.b1_bounds[0]), float(b1_top)],
            epg_grid=dictionary.grid,
        )
        return dictionary

    def _provenance(
        self,
        meta: dict[str, Any],
        mask_desc: str,
        sigma: float | None,
        sigma_source: str,
        method_info: dict[str, Any],
        n_vox: int,
        n_fit: int,
        counts: dict[str, int],
        elapsed: float,
        in_shape: tuple[int, ...],
        workers: int,
    ) -> dict[str, Any]:
        return {
            "software": "discT2",
            "version": __version__,
            "method": self.method,
            "options": self.options,
            "echo_times_ms": self._te.tolist(),
            "echo_times_used_ms": self.echo_times_used_ms.tolist(),
            "echo_indices_used": self._used.tolist(),
            "echoes_dropped": copy.deepcopy(self._dropped),
            "t2_bounds_ms": list(self.t2_bounds_ms),
            "sigma_used": sigma,
            "sigma_source": sigma_source,
            **method_info,
            "mask": mask_desc,
            "flag_rules": {
                "T2_BELOW_RANGE": f"fitted signal at the second used echo < {_common.RESOLVE_K:g} "
                "noise SD",
                "T2_ABOVE_RANGE": "fitted signal lost between the first and last used echo < "
                f"{_common.RESOLVE_K:g} noise SD",
                "POOR_FIT": f"R2 < {self.min_r2:g}",
                "AT_BOUND": "T2 (or B1 for epg) on its bound",
                "noise_sd": "sigma_used when set, else the voxel's residual SD",
            },
            "input_shape": [int(s) for s in in_shape],
            "n_voxels": n_vox,
            "n_fitted": n_fit,
            "flag_counts": counts,
            "workers": workers,
            "elapsed_s": round(elapsed, 3),
            "source": meta.get("source"),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }

    def __repr__(self) -> str:
        te = self.echo_times_used_ms
        return (
            f"T2Model(method={self.method!r}, echoes={te.size} of {self._te.size} "
            f"({te[0]:.4g}-{te[-1]:.4g} ms), t2_bounds_ms={self.t2_bounds_ms})"
        )


def fit_t2(
    series: MultiEchoSeries,
    method: str = "nlls",
    *,
    mask: str | os.PathLike | np.ndarray | None = "auto",
    progress: Callable[[int, int], object] | None = None,
    **options: Any,
) -> T2Map:
    """Fit a T2 map to a series in one call: ``T2Model(series.echo_times_ms, ...).fit(series)``.

    Parameters
    ----------
    series : MultiEchoSeries
        The multi-echo data.
    method : str
        One of :data:`FIT_METHODS`.
    mask : None, 'auto', 'none', bool ndarray or path
        As :meth:`T2Model.fit`; the background is left out by default.
    progress : callable, optional
        ``progress(done, total)`` after every chunk.
    **options
        Keyword options of :class:`T2Model`.

    Returns
    -------
    T2Map
    """
    if not isinstance(series, MultiEchoSeries):
        raise InputError(
            f"fit_t2 needs a MultiEchoSeries; got {type(series).__name__}. For an array use "
            "T2Model(echo_times_ms, ...).fit(array)."
        )
    return T2Model(series.echo_times_ms, method, **options).fit(
        series, mask=mask, progress=progress
    )


def _flag_counts(flags: np.ndarray, chunk: int) -> dict[str, int]:
    """Voxels carrying each flag, counted chunk by chunk (no volume-sized temporaries)."""
    counts = dict.fromkeys((f.name for f in FitFlag), 0)
    for start in range(0, flags.size, chunk):
        block = flags[start : start + chunk]
        for f in FitFlag:
            counts[f.name] += int(np.count_nonzero(block & f.value))
    return counts


# -- option checks ---------------------------------------------------------------------------


def _echo_times(value: Any) -> np.ndarray:
    try:
        te = np.array(value, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise EchoTimeError(f"echo_times_ms must be numbers in ms; got {value!r}") from exc
    if te.size < 2:
        raise EchoTimeError(f"a T2 fit needs at least 2 echo times; got {te.tolist()}")
    if not np.all(np.isfinite(te)) or np.any(te <= 0):
        raise EchoTimeError(f"echo times must be finite and positive (ms); got {te.tolist()}")
    if np.any(np.diff(te) <= 0):
        raise EchoTimeError(f"echo times must be strictly increasing (ms); got {te.tolist()}")
    te.flags.writeable = False
    return te


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _opt_positive(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise InputError(f"T2Model: {name} must be a positive number; got {value!r}")
    return float(value)


def _is_angle(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value) and 0 < value <= 180


def _opt_angle(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if not _is_angle(value):
        raise InputError(f"T2Model: {name} must be an angle in (0, 180] degrees; got {value!r}")
    return float(value)


def _bounds(name: str, value: Any) -> tuple[float, float]:
    try:
        lo, hi = value
    except (TypeError, ValueError) as exc:
        raise InputError(f"T2Model: {name} must be a pair (low, high); got {value!r}") from exc
    if not (_is_number(lo) and _is_number(hi)) or not (0 < lo < hi < math.inf):
        raise InputError(
            f"T2Model: {name} must be finite numbers with 0 < low < high; got {value!r}"
        )
    return float(lo), float(hi)


def _slice_profile(value: Any) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value.lower() != "sinc":
            raise InputError(
                f"T2Model: slice_profile must be None, 'sinc' or two arrays; got {value!r}"
            )
        exc, ref = sinc_slice_profile()
    else:
        try:
            exc, ref = (np.asarray(v, dtype=np.float64).ravel() for v in value)
        except (TypeError, ValueError) as exc_info:
            raise InputError(
                "T2Model: slice_profile must be None, 'sinc' or two arrays (excitation and "
                f"refocusing flip-angle scales); got {value!r}"
            ) from exc_info
    if exc.size == 0 or exc.shape != ref.shape:
        raise InputError("T2Model: slice_profile needs two non-empty arrays of equal length")
    if (
        not (np.all(np.isfinite(exc)) and np.all(np.isfinite(ref)))
        or exc.min() < 0
        or ref.min() < 0
    ):
        raise InputError("T2Model: slice_profile scales must be finite and non-negative")
    return tuple(float(v) for v in exc), tuple(float(v) for v in ref)
