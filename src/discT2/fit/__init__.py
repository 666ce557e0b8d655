"""Per-voxel T2 fitting: mono-exponential, noise-aware and stimulated-echo (EPG) models.

``T2Model(echo_times_ms, method=..., **options).fit(series_or_array, mask=...)`` returns a
:class:`~discT2.maps.T2Map`; :func:`fit_t2` does both in one call. The methods are listed in
:data:`FIT_METHODS`; ``docs/methods/fitting.md`` explains when to use which.
"""

from discT2.fit.base import DEFAULT_METHOD, FIT_METHODS, T2Model, fit_t2
from discT2.fit.epg import EPGDictionary, epg_dictionary
from discT2.fit.epg_options import DEFAULT_T1_MS, EPGOptions
from discT2.fit.mask import auto_mask
from discT2.fit.ncexp import rician_mean
from discT2.fit.noise import estimate_noise_sigma

__all__ = [
    "DEFAULT_METHOD",
    "DEFAULT_T1_MS",
    "FIT_METHODS",
    "EPGDictionary",
    "EPGOptions",
    "T2Model",
    "auto_mask",
    "epg_dictionary",
    "estimate_noise_sigma",
    "fit_t2",
    "rician_mean",
]
