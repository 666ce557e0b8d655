"""The library's names that the command line offers as choices, without importing the library.

The parsers are built on every start of ``discT2`` (``--help`` included), and the modules that
define these names import numba, pandas and scipy. ``tests/cli/test_startup.py`` checks that every
name here equals the library's.
"""

from __future__ import annotations

#: :data:`discT2.FIT_METHODS`.
FIT_METHODS: tuple[str, ...] = ("loglinear", "nlls", "offset", "ncexp", "epg")

#: Defaults of :class:`discT2.T2Model` that ``discT2 fit`` offers (``method`` is
#: :data:`discT2.fit.DEFAULT_METHOD`).
FIT_DEFAULTS: dict[str, object] = {
    "method": "epg",
    "min_echoes": 3,
    "t2_bounds_ms": (1.0, 5000.0),
    "min_r2": 0.9,
    "chunk_size": 16384,
}

#: Defaults of :class:`discT2.EPGOptions` that ``discT2 fit`` offers.
EPG_DEFAULTS: dict[str, object] = {
    "t1_ms": 1000.0,
    "slice_profile": "auto",
    "b1": "smooth",
    "b1_fwhm_mm": 30.0,
}

#: :data:`discT2.study.DEFAULT_METHOD`, the fit method of study runs.
STUDY_METHOD = "epg"

#: The keys of :data:`discT2.report.ENDPOINTS`, the trial endpoints.
ENDPOINTS: tuple[str, ...] = ("change_pct", "treated_minus_control_pct", "ratio_change_pct")

#: The keys of :data:`discT2.phantom.study.PRESETS`, the simulated study presets.
PRESETS: tuple[str, ...] = ("cohort", "highres", "sample")
