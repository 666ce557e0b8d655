"""What a study run computes with: fit method and options, ROI placement, measurement.

The options that change an exam's numbers are one :class:`RunOptions`; its :meth:`~RunOptions.
to_json` form goes into every exam's digest, so a rerun with other options recomputes the exams
instead of silently reusing results made another way.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from discT2.errors import InputError
from discT2.fit import DEFAULT_METHOD, FIT_METHODS, T2Model
from discT2.measure import measure
from discT2.roi import detect_discs, place_rois, propagate

__all__ = ["DEFAULT_METHOD", "RunOptions"]


# Options a run passes itself, never taken from the user's option mappings.
_FIT_RESERVED = {"self", "echo_times_ms", "method", "workers", "epg", "epg_shorthands"}
_ROI_RESERVED = {"image", "discs", "reader", "on_error", "grow_options"}
_MEASURE_RESERVED = {"t2map", "rois", "levels"}
_AUTO_RESERVED = {"image", "reader", "slice"}
_PROPAGATE_RESERVED = {"baseline", "baseline_rois", "followup", "reader", "place_options"}


def _keywords(fn: Any, reserved: set[str]) -> set[str]:
    return set(inspect.signature(fn).parameters) - reserved


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class RunOptions:
    """Options of every exam of a study run.

    Parameters
    ----------
    method : str
        Fit method, one of :data:`discT2.FIT_METHODS` (default ``epg``, see
        :data:`DEFAULT_METHOD`).
    fit : mapping
        Keyword options of :class:`discT2.T2Model` (``skip_first_echo``, ``t2_bounds_ms``,
        ``refocusing_deg``, ``slice_profile``, ...); ``workers`` is set by the runner.
    mask : str
        Fit mask: ``'auto'`` (default, leaves out the background) or ``'none'``.
    rois : mapping
        Keyword options of :func:`discT2.place_rois` (``slices``, ``endplate_margin``,
        ``outer_margin``, ``margin_unit``, ``fractions``); also used when propagating.
    measure : mapping
        Keyword options of :func:`discT2.measure` (``t2_range_ms``, ``exclude_flags``,
        ``min_r2``).
    auto : mapping
        Keyword options of :func:`discT2.detect_discs` (``lowest_level``, ``max_discs``,
        ``search_slices``).
    propagate : mapping
        Keyword options of :func:`discT2.propagate` (``per_disc``, ``region_mm``, ``metric``).

    Raises
    ------
    InputError
        An unknown method or option name, or an option value the fit refuses.

    Examples
    --------
    >>> RunOptions(method="nlls", fit={"skip_first_echo": True}).to_json()["fit"]
    {'skip_first_echo': True}
    """

    method: str = DEFAULT_METHOD
    fit: Mapping[str, Any] = field(default_factory=dict)
    mask: str = "auto"
    rois: Mapping[str, Any] = field(default_factory=dict)
    measure: Mapping[str, Any] = field(default_factory=dict)
    auto: Mapping[str, Any] = field(default_factory=dict)
    propagate: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in FIT_METHODS:
            raise InputError(
                f"unknown fit method {self.method!r}; choose one of {', '.join(FIT_METHODS)}"
            )
        if self.mask not in ("auto", "none"):
            raise InputError(f"mask must be 'auto' or 'none' for a study run; got {self.mask!r}")
        checks = (
            (
                "fit",
                self.fit,
                _keywords(T2Model.__init__, _FIT_RESERVED) | set(T2Model.EPG_OPTION_NAMES),
                "discT2.T2Model",
            ),
            ("rois", self.rois, _keywords(place_rois, _ROI_RESERVED), "discT2.place_rois"),
            ("measure", self.measure, _keywords(measure, _MEASURE_RESERVED), "discT2.measure"),
            ("auto", self.auto, _keywords(detect_discs, _AUTO_RESERVED), "discT2.detect_discs"),
            (
                "propagate",
                self.propagate,
                _keywords(propagate, _PROPAGATE_RESERVED),
                "discT2.propagate",
            ),
        )
        for name, given, known, where in checks:
            unknown = sorted(set(given) - known)
            if unknown:
                raise InputError(
                    f"RunOptions.{name}: unknown option(s) {', '.join(unknown)}; {where} takes "
                    f"{', '.join(sorted(known))}"
                )
            object.__setattr__(self, name, dict(given))
        # Let the fit check its option values now (10 echoes of 10 ms stand in for the data).
        T2Model(np.arange(1, 11) * 10.0, self.method, **self.fit)

    def to_json(self) -> dict[str, Any]:
        """The options as plain JSON (sorted keys, lists for tuples): what the digest covers."""
        return {
            "method": self.method,
            "fit": _jsonable(self.fit),
            "mask": self.mask,
            "rois": _jsonable(self.rois),
            "measure": _jsonable(self.measure),
            "auto": _jsonable(self.auto),
            "propagate": _jsonable(self.propagate),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RunOptions:
        """Options from :meth:`to_json` (as recorded in ``run.json``).

        Parameters
        ----------
        doc : mapping
            The ``options`` object of ``run.json``; unknown keys are ignored.

        Returns
        -------
        RunOptions
            The options, checked.
        """
        return cls(**{k: doc[k] for k in ("method", "fit", "mask", "rois", "measure", "auto",
                                          "propagate") if k in doc})  # fmt: skip
