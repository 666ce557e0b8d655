"""Options of the stimulated-echo (EPG) fit, in one validated object.

Only the ``epg`` method uses them, so they live apart from the options every method shares
(:class:`~discT2.fit.T2Model`): ``T2Model(te, "epg", epg=EPGOptions(t1_ms=1200))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from discT2.epg import sinc_slice_profile
from discT2.errors import InputError
from discT2.fit._option_checks import bounds, is_number, opt_angle, opt_positive

__all__ = ["DEFAULT_T1_MS", "EPGOptions", "SliceProfile"]

#: T1 assumed for intervertebral disc tissue (ms). Reported nucleus pulposus T1 is about
#: 1000-1400 ms at 1.5 T and 1100-1600 ms at 3 T, annulus about 600-1000 ms; T1 only weights the
#: stimulated-echo pathways, and docs/methods/fitting.md gives how far T2 moves with it.
DEFAULT_T1_MS = 1000.0

#: A slice profile as excitation and refocusing flip-angle scales across half the slice.
SliceProfile = tuple[tuple[float, ...], tuple[float, ...]]

_B1_MODES = ("smooth", "voxel")
_OWNER = "EPGOptions"


@dataclass(frozen=True)
class EPGOptions:
    """How the EPG model describes the acquisition and the transmit field.

    Parameters
    ----------
    refocusing_deg : float, optional
        Nominal refocusing angle. Default: from the series metadata (Siemens spin-echo headers
        carry it), else 180 degrees, stated in the provenance and logged.
    excitation_deg : float, optional
        Nominal excitation angle (default 90).
    t1_ms : float or ndarray
        T1 assumed by the model (it weights the stimulated-echo pathways only): one value, or a
        map of the data's voxel shape (e.g. from a T1 mapping series on the same grid). Default
        :data:`DEFAULT_T1_MS`, for disc tissue.
    echo_spacing_ms : float, optional
        Echo spacing; default from the series metadata or the echo times.
    b1_bounds : (float, float)
        Range of B1 (actual / nominal flip angle). The top is capped where the refocusing pulse
        reaches 180 degrees at the slice centre: above it a train looks like one with a smaller
        angle, and a fit could take either branch from voxel to voxel.
    slice_profile : 'auto', None, 'sinc' or (array_like, array_like)
        Flip-angle profile across a 2-D slice over which the trains are averaged. ``'auto'``
        (default): a 3-D acquisition is modelled as a uniform slice; for a 2-D one the profile
        of windowed-sinc pulses (:data:`discT2.fit.profiles.CANDIDATES`) that fits the series'
        own echo trains best is chosen (see :func:`discT2.fit.profiles.choose_slice_profile`).
        None: a uniform slice. ``'sinc'``: :func:`discT2.epg.sinc_slice_profile` with its
        defaults. Two arrays: excitation and refocusing scales.
    b1 : {'smooth', 'voxel'} or float
        ``'smooth'`` (default): B1 is fitted voxel by voxel, smoothed into a field
        (:func:`discT2.fit.b1map.smooth_b1`) and T2 refitted with B1 fixed to it; ``'voxel'``:
        B1 free in every voxel; a number: B1 fixed everywhere (e.g. from a separate B1 map's
        value in the region).
    b1_fwhm_mm : float
        Width of the smoothing kernel for ``b1='smooth'``.

    Raises
    ------
    InputError
        An option out of range; the message names it.

    Examples
    --------
    >>> EPGOptions(t1_ms=1200.0, b1="voxel").to_json()["t1_ms"]
    1200.0
    """

    refocusing_deg: float | None = None
    excitation_deg: float | None = None
    t1_ms: float | np.ndarray = DEFAULT_T1_MS
    echo_spacing_ms: float | None = None
    b1_bounds: tuple[float, float] = (0.5, 1.5)
    slice_profile: str | SliceProfile | None = "auto"
    b1: str | float = "smooth"
    b1_fwhm_mm: float = 30.0
    _profile: SliceProfile | str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "refocusing_deg", opt_angle(_OWNER, "refocusing_deg", self.refocusing_deg))
        set_(self, "excitation_deg", opt_angle(_OWNER, "excitation_deg", self.excitation_deg))
        set_(self, "t1_ms", _t1(self.t1_ms))
        set_(self, "echo_spacing_ms", opt_positive(_OWNER, "echo_spacing_ms", self.echo_spacing_ms))
        set_(self, "b1_bounds", bounds(_OWNER, "b1_bounds", self.b1_bounds))
        set_(self, "_profile", _slice_profile(self.slice_profile))
        b1 = self.b1
        if isinstance(b1, str):
            if b1 not in _B1_MODES:
                raise InputError(
                    f"EPGOptions: b1 must be 'smooth', 'voxel' or a number; got {b1!r}"
                )
        elif is_number(b1) and math.isfinite(b1) and b1 > 0:
            set_(self, "b1", float(b1))
        else:
            raise InputError(f"EPGOptions: b1 must be 'smooth', 'voxel' or a number; got {b1!r}")
        fwhm = opt_positive(_OWNER, "b1_fwhm_mm", self.b1_fwhm_mm)
        if fwhm is None:
            raise InputError("EPGOptions: b1_fwhm_mm must be a positive number of mm")
        set_(self, "b1_fwhm_mm", fwhm)

    @property
    def profile(self) -> SliceProfile | str | None:
        """The slice profile as the fit uses it: ``'auto'``, None or two tuples of scales."""
        return self._profile

    def to_json(self) -> dict[str, Any]:
        """The options as JSON-ready values (a T1 map is summarised)."""
        t1 = self.t1_ms
        if isinstance(t1, np.ndarray):
            finite = t1[np.isfinite(t1)]
            t1_json: Any = {
                "map_shape": list(t1.shape),
                "median_ms": float(np.median(finite)) if finite.size else None,
            }
        else:
            t1_json = float(t1)
        profile = self._profile
        return {
            "refocusing_deg": self.refocusing_deg,
            "excitation_deg": self.excitation_deg,
            "t1_ms": t1_json,
            "echo_spacing_ms": self.echo_spacing_ms,
            "b1_bounds": list(self.b1_bounds),
            "slice_profile": profile
            if profile is None or isinstance(profile, str)
            else {"excitation": list(profile[0]), "refocusing": list(profile[1])},
            "b1": self.b1,
            "b1_fwhm_mm": self.b1_fwhm_mm,
        }


def _t1(value: Any) -> float | np.ndarray:
    if isinstance(value, np.ndarray) and value.ndim > 0:
        if not np.issubdtype(value.dtype, np.number):
            raise InputError(f"EPGOptions: a t1_ms map must be numeric; got dtype {value.dtype}")
        t1 = np.asarray(value, dtype=np.float64)
        finite = t1[np.isfinite(t1)]
        if finite.size == 0 or np.any(finite <= 0):
            raise InputError(
                "EPGOptions: a t1_ms map needs positive values in ms (NaN where unknown)"
            )
        t1 = t1.copy()
        t1.flags.writeable = False
        return t1
    t1_scalar = opt_positive(_OWNER, "t1_ms", value)
    if t1_scalar is None:
        raise InputError("EPGOptions: t1_ms must be a positive number of ms or a map")
    return t1_scalar


def _slice_profile(value: Any) -> SliceProfile | str | None:
    if value is None:
        return None
    if isinstance(value, str):
        key = value.lower()
        if key == "auto":
            return "auto"
        if key == "none":
            return None
        if key != "sinc":
            raise InputError(
                "EPGOptions: slice_profile must be 'auto', None, 'sinc' or two arrays; "
                f"got {value!r}"
            )
        exc, ref = sinc_slice_profile()
    else:
        try:
            exc, ref = (np.asarray(v, dtype=np.float64).ravel() for v in value)
        except (TypeError, ValueError) as exc_info:
            raise InputError(
                "EPGOptions: slice_profile must be 'auto', None, 'sinc' or two arrays "
                f"(excitation and refocusing flip-angle scales); got {value!r}"
            ) from exc_info
    if exc.size == 0 or exc.shape != ref.shape:
        raise InputError("EPGOptions: slice_profile needs two non-empty arrays of equal length")
    if (
        not (np.all(np.isfinite(exc)) and np.all(np.isfinite(ref)))
        or exc.min() < 0
        or ref.min() < 0
    ):
        raise InputError("EPGOptions: slice_profile scales must be finite and non-negative")
    return tuple(float(v) for v in exc), tuple(float(v) for v in ref)
