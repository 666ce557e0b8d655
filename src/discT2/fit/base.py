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
from discT2.errors import (
    EchoTimeError,
    FitWarning,
    GeometryError,
    InputError,
    ShapeMismatchError,
)
from discT2.fit import _common
from discT2.fit._engine import default_workers, run_chunks
from discT2.fit._option_checks import bounds, opt_positive
from discT2.fit.checks import check_series
from discT2.fit.epg_fit import fit_epg
from discT2.fit.epg_options import EPGOptions
from discT2.fit.loglinear import loglinear_block
from discT2.fit.mask import auto_mask
from discT2.fit.monoexp import nlls_block
from discT2.fit.ncexp import ncexp_block
from discT2.fit.noise import estimate_noise_sigma, estimate_noise_sigma_from_residuals
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

#: The default method: the stimulated-echo model, which the real phantom validation supports
#: (docs/methods/validation.md); the mono-exponential methods read multi-echo spin-echo trains
#: 10-30 % high.
DEFAULT_METHOD = "epg"

#: EPG shorthands accepted by T2Model (each is the EPGOptions field of the same name).
_EPG_SHORTHANDS = (
    "refocusing_deg",
    "excitation_deg",
    "t1_ms",
    "echo_spacing_ms",
    "b1_bounds",
    "slice_profile",
    "b1",
    "b1_fwhm_mm",
)


class T2Model:
    """Mono-exponential, noise-aware or EPG T2 fitting for one echo-time layout.

    Parameters
    ----------
    echo_times_ms : array_like, shape (E,)
        Echo times of the data in ms (strictly increasing, positive).
    method : {'epg', 'loglinear', 'nlls', 'offset', 'ncexp'}
        ``epg`` (default): stimulated-echo compensated CPMG model (extended phase graph) with the
        slice profile of 2-D acquisitions and a smooth B1 field, see :class:`EPGOptions`;
        ``loglinear``: weighted log-linear, fastest; ``nlls``: bounded least-squares
        mono-exponential; ``offset``: mono-exponential plus a constant; ``ncexp``: fit of the
        Rician expectation, for low SNR. See ``docs/methods/fitting.md``.
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
        (from the image background, else from the fit residuals pooled over the object) when
        not given; for the other methods it sets the T2 uncertainty and the range flags
        (default: each voxel's residual standard deviation).
    epg : EPGOptions, optional
        Options of the ``epg`` method (refocusing angle, T1, slice profile, B1 field, ...).
    min_r2 : float
        R² below which a voxel is flagged ``POOR_FIT``.
    workers : int, optional
        Threads (default: all cores available to the process).
    chunk_size : int
        Voxels per chunk; the working memory is about ``workers x chunk_size x E`` values.
    **epg_shorthands
        ``refocusing_deg``, ``excitation_deg``, ``t1_ms``, ``echo_spacing_ms``, ``b1_bounds``,
        ``slice_profile``, ``b1``, ``b1_fwhm_mm``: shorthands for the :class:`EPGOptions`
        fields of the same names (not together with ``epg``).

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
    >>> model.predict(fitted).shape  # the fitted echo trains, for residual checks
    (1, 1, 1, 8)
    """

    #: Keywords T2Model accepts as shorthands for the :class:`EPGOptions` fields.
    EPG_OPTION_NAMES: tuple[str, ...] = _EPG_SHORTHANDS

    def __init__(
        self,
        echo_times_ms: Sequence[float] | np.ndarray,
        method: str = DEFAULT_METHOD,
        *,
        skip_first_echo: bool = False,
        max_te_ms: float | None = None,
        min_echoes: int = 3,
        t2_bounds_ms: tuple[float, float] = (1.0, 5000.0),
        sigma: float | None = None,
        epg: EPGOptions | None = None,
        min_r2: float = 0.9,
        workers: int | None = None,
        chunk_size: int = 16384,
        **epg_shorthands: Any,
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
        self.max_te_ms = opt_positive("T2Model", "max_te_ms", max_te_ms)
        if isinstance(min_echoes, bool) or not isinstance(min_echoes, (int, np.integer)):
            raise InputError(f"T2Model: min_echoes must be an integer; got {min_echoes!r}")
        self.min_echoes = int(min_echoes)
        if self.min_echoes < 2:
            raise InputError(f"T2Model: min_echoes must be at least 2; got {min_echoes}")
        self.t2_bounds_ms = bounds("T2Model", "t2_bounds_ms", t2_bounds_ms)
        self.sigma = opt_positive("T2Model", "sigma", sigma)
        self.epg = _epg_options(epg, epg_shorthands)
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
            "epg": self.epg.to_json() if self.method == "epg" else None,
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
        sigma, sigma_source = self._resolve_sigma(vol, mask3)
        method_info: dict[str, Any] = {}
        n_vox = int(np.prod(spatial))
        flat = vol.reshape(n_vox, vol.shape[3])
        flat_mask = None if mask3 is None else np.ascontiguousarray(mask3.reshape(n_vox))
        used = None if self._used.size == vol.shape[3] else self._used
        workers = self.workers if self.workers is not None else default_workers()
        sig = 0.0 if sigma is None else float(sigma)
        if self.method == "epg":
            outs, method_info = fit_epg(
                flat, used, flat_mask, np.asarray(self.echo_times_used_ms), self._te, meta,
                self.epg, spatial=spatial,
                voxel_size_mm=None if series is None else tuple(series.voxel_size_mm),
                t2_bounds_ms=self.t2_bounds_ms, sigma=sig, min_r2=self.min_r2,
                chunk_size=self.chunk_size, workers=workers, progress=progress,
            )  # fmt: skip
            extra: str | None = "b1"
        else:
            fit_block, extra = self._block_fitter(sig)
            outs = tuple(np.empty(n_vox, dtype=np.float32) for _ in range(5))
            outs = (*outs, np.empty(n_vox, dtype=np.uint16))
            if extra is not None:
                outs = (*outs, np.empty(n_vox, dtype=np.float32))
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
        _echo_range_flags(
            outs,
            self.echo_times_used_ms,
            self.chunk_size,
            offset=outs[6] if extra == "offset" else None,
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

    def _resolve_sigma(self, vol: np.ndarray, mask3: np.ndarray | None) -> tuple[float | None, str]:
        if self.sigma is not None:
            return self.sigma, "given"
        if self.method != "ncexp":
            return None, "none (each voxel's residual standard deviation)"
        try:
            return estimate_noise_sigma(vol), "background"
        except InputError as background_error:
            inside = auto_mask(vol) if mask3 is None else mask3
            signal = vol[inside][:, self._used] if inside.any() else vol.reshape(-1, 0)
            try:
                sigma, n_used = estimate_noise_sigma_from_residuals(signal, self.echo_times_used_ms)
            except InputError as exc:
                raise InputError(
                    f"method 'ncexp' needs the noise level: {background_error}; and from the "
                    f"fit residuals: {exc}"
                ) from exc
            logger.info(
                "ncexp: no usable background (%s); noise sigma %.4g from the fit residuals of "
                "%d voxels",
                background_error,
                sigma,
                n_used,
            )
            return sigma, f"fit residuals pooled over {n_used} voxels (no usable background)"

    def _block_fitter(self, sigma: float) -> tuple[Callable[..., None], str | None]:
        te = np.ascontiguousarray(self.echo_times_used_ms, dtype=np.float64)
        r_lo = 1.0 / self.t2_bounds_ms[1]
        r_hi = 1.0 / self.t2_bounds_ms[0]
        min_r2 = self.min_r2
        kernel = {
            "loglinear": loglinear_block,
            "nlls": nlls_block,
            "ncexp": ncexp_block,
            "offset": offset_block,
        }[self.method]

        def fit_mono(y: np.ndarray, m: np.ndarray, outs: tuple[np.ndarray, ...]) -> None:
            kernel(y, m, te, r_lo, r_hi, sigma, min_r2, *outs)

        return fit_mono, ("offset" if self.method == "offset" else None)

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
                "T2_BELOW_RANGE": f"T2 < {BELOW_RANGE_TE_FACTOR:g} x the first used echo time "
                f"({BELOW_RANGE_TE_FACTOR * self.echo_times_used_ms[0]:.4g} ms), or fitted signal "
                f"at the second used echo < {_common.RESOLVE_K:g} noise SD",
                "T2_ABOVE_RANGE": f"T2 > {ABOVE_RANGE_TE_FACTOR:g} x the last used echo time "
                f"({ABOVE_RANGE_TE_FACTOR * self.echo_times_used_ms[-1]:.4g} ms), or fitted "
                f"signal lost between the first and last used echo < {_common.RESOLVE_K:g} "
                "noise SD",
                "POOR_FIT": f"R2 < {self.min_r2:g}",
                "AT_BOUND": "T2 (or B1 for epg) on its bound",
                "OFFSET_UNRESOLVED": "offset: the constant is at least the decaying amplitude",
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

    def predict(self, t2map: T2Map) -> np.ndarray:
        """The echo trains a fit of this model predicts, at the echoes it used.

        Parameters
        ----------
        t2map : T2Map
            A result of :meth:`fit` with this model.

        Returns
        -------
        ndarray of float32, shape (I, J, K, E_used)
            Noise-free signal (``ncexp``: the underlying decay, before the noise floor); NaN
            where the voxel was not fitted. ``data[..., model.echo_index] - predict(t2map)``
            are the residuals.

        Raises
        ------
        InputError
            A map fitted with another method or other echoes.
        """
        prov = t2map.provenance
        if prov.get("method") != self.method or prov.get("echo_indices_used") != (
            self._used.tolist()
        ):
            raise InputError(
                "predict: the map was fitted with method "
                f"{prov.get('method')!r} and echoes {prov.get('echo_indices_used')}; this model "
                f"is {self.method!r} with echoes {self._used.tolist()}"
            )
        te = self.echo_times_used_ms
        valid = t2map.valid()
        out = np.full((*t2map.shape, te.size), np.nan, dtype=np.float32)
        t2 = t2map.t2_ms[valid].astype(np.float64)
        s0 = t2map.s0[valid].astype(np.float64)
        if self.method == "epg":
            out[valid] = s0[:, None] * _epg_trains(prov, self.epg, t2, t2map, valid)
            return out
        trains = s0[:, None] * np.exp(-te[None, :] / t2[:, None])
        if self.method == "offset" and t2map.offset is not None:
            trains += t2map.offset[valid].astype(np.float64)[:, None]
        out[valid] = trains
        return out

    def __repr__(self) -> str:
        te = self.echo_times_used_ms
        return (
            f"T2Model(method={self.method!r}, echoes={te.size} of {self._te.size} "
            f"({te[0]:.4g}-{te[-1]:.4g} ms), t2_bounds_ms={self.t2_bounds_ms})"
        )


def fit_t2(
    series: MultiEchoSeries,
    method: str = DEFAULT_METHOD,
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
        One of :data:`FIT_METHODS` (default ``epg``, see :class:`T2Model`).
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


def _epg_trains(
    prov: dict[str, Any],
    options: EPGOptions,
    t2: np.ndarray,
    t2map: T2Map,
    valid: np.ndarray,
) -> np.ndarray:
    """Unit-S0 EPG trains of the valid voxels of an ``epg`` map, from its provenance."""
    from discT2.epg import cpmg_signal

    numbers = np.asarray(prov["echo_numbers_in_train"], dtype=int)
    scales = prov.get("slice_profile_scales")
    profile = None if scales is None else (scales["excitation"], scales["refocusing"])
    t1 = options.t1_ms
    t1_valid = (
        np.asarray(t1, dtype=np.float64).reshape(t2map.shape)[valid]
        if isinstance(t1, np.ndarray)
        else t1
    )
    b1 = t2map.b1[valid].astype(np.float64) if t2map.b1 is not None else 1.0
    trains = cpmg_signal(
        t2,
        prov["echo_spacing_ms_used"],
        int(numbers.max()),
        b1=b1,
        t1_ms=t1_valid,
        refocusing_deg=prov["refocusing_deg_used"],
        excitation_deg=prov["excitation_deg_used"],
        slice_profile=profile,
    )
    return trains[:, numbers - 1] / math.sin(math.radians(prov["excitation_deg_used"]))


#: A fitted T2 below this multiple of the first used echo time decays within the first echo
#: or two: the train cannot resolve it (an 8 ms sphere read 13-14 ms from 12.7 ms echoes).
BELOW_RANGE_TE_FACTOR = 1.5
#: A fitted T2 above this multiple of the last used echo time loses too little signal over the
#: train to be told apart from a longer one.
ABOVE_RANGE_TE_FACTOR = 2.0


def _echo_range_flags(
    outs: tuple[np.ndarray, ...],
    te_used: np.ndarray,
    chunk: int,
    *,
    offset: np.ndarray | None = None,
) -> None:
    """Flag T2 outside what the echo times resolve; the offset model's unresolved constant.

    ``outs`` are the flat maps ``(t2, s0, t2_sd, r2, rmse, flags, ...)``; ``offset`` (the
    offset model's constant) is compared with the decaying amplitude ``s0``.
    """
    t2, s0, flags = outs[0], outs[1], outs[5]
    low = BELOW_RANGE_TE_FACTOR * float(te_used[0])
    high = ABOVE_RANGE_TE_FACTOR * float(te_used[-1])
    for start in range(0, t2.size, chunk):
        sl = slice(start, start + chunk)
        block = t2[sl]
        with np.errstate(invalid="ignore"):
            flags[sl] |= np.where(block < low, np.uint16(FitFlag.T2_BELOW_RANGE), 0).astype(
                np.uint16
            )
            flags[sl] |= np.where(block > high, np.uint16(FitFlag.T2_ABOVE_RANGE), 0).astype(
                np.uint16
            )
            if offset is not None:
                flags[sl] |= np.where(
                    offset[sl] >= s0[sl], np.uint16(FitFlag.OFFSET_UNRESOLVED), 0
                ).astype(np.uint16)


def _flag_counts(flags: np.ndarray, chunk: int) -> dict[str, int]:
    """Voxels carrying each flag, counted chunk by chunk (no volume-sized temporaries)."""
    counts = dict.fromkeys((f.name for f in FitFlag), 0)
    for start in range(0, flags.size, chunk):
        block = flags[start : start + chunk]
        for f in FitFlag:
            counts[f.name] += int(np.count_nonzero(block & f.value))
    return counts


# -- option checks ---------------------------------------------------------------------------


def _epg_options(epg: EPGOptions | None, shorthands: dict[str, Any]) -> EPGOptions:
    unknown = sorted(set(shorthands) - set(_EPG_SHORTHANDS))
    if unknown:
        raise InputError(
            f"T2Model: unknown option(s) {', '.join(map(repr, unknown))}; the EPG options are "
            f"{', '.join(_EPG_SHORTHANDS)} (or epg=EPGOptions(...))"
        )
    if epg is not None and not isinstance(epg, EPGOptions):
        raise InputError(f"T2Model: epg must be an EPGOptions; got {type(epg).__name__}")
    if epg is not None and shorthands:
        raise InputError(
            "T2Model: give the EPG options either as epg=EPGOptions(...) or as keywords "
            f"({', '.join(sorted(shorthands))}), not both"
        )
    if epg is not None:
        return epg
    if shorthands.get("t1_ms", 0) is None:
        raise InputError("T2Model: t1_ms must be a positive number of ms or a map; got None")
    return EPGOptions(**shorthands)


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
