"""Checks of a series before any fit: signal that can give a map, and one echo-set rule.

Every fitting method goes through the same checks, so that a series refused (or accepted with a
warning) by one method is refused (or accepted with the same warning) by all of them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from discT2.errors import InputError
from discT2.series import MultiEchoSeries

__all__ = ["NEGATIVE_REFUSE_FRACTION", "check_series", "missing_echoes", "train_spacing"]

logger = logging.getLogger(__name__)

#: Above this fraction of negative values a series is not magnitude data (phase, real or
#: imaginary images, or a wrong rescale) and is refused; below it the voxels with a negative
#: value are counted in a warning (their fit is flagged FAILED or fits the remaining echoes).
NEGATIVE_REFUSE_FRACTION = 0.01


def check_series(series: MultiEchoSeries) -> list[str]:
    """Refuse a series that cannot give a meaningful T2 map; return warnings about the rest.

    Parameters
    ----------
    series : MultiEchoSeries
        The series about to be fitted (``meta['source']`` names it in messages).

    Returns
    -------
    list of str
        Warnings, each counting what it concerns (voxels with non-finite or negative values,
        echoes missing from the echo train); also logged.

    Raises
    ------
    InputError
        Every value zero, no finite value, or more than :data:`NEGATIVE_REFUSE_FRACTION` of the
        values negative.
    """
    where = str(series.meta.get("source") or "the series")
    data = series.data
    n_values = data.size
    n_finite = n_negative = 0
    any_signal = False
    nonfinite_voxel = np.zeros(data.shape[:-1], dtype=bool)
    negative_voxel = np.zeros(data.shape[:-1], dtype=bool)
    for e in range(data.shape[-1]):  # one echo at a time: no copy of the whole series
        echo = data[..., e]
        finite = np.isfinite(echo)
        n_finite += int(np.count_nonzero(finite))
        nonfinite_voxel |= ~finite
        negative = echo < 0
        n_negative += int(np.count_nonzero(negative))
        negative_voxel |= negative
        any_signal = any_signal or bool(np.any(finite & (echo != 0)))
    if n_finite == 0:
        raise InputError(f"{where}: no finite intensity (all NaN or infinite): nothing to fit")
    if not any_signal:
        raise InputError(f"{where}: every intensity is zero: no signal to fit")
    if n_negative > NEGATIVE_REFUSE_FRACTION * n_values:
        raise InputError(
            f"{where}: {n_negative} of {n_values} intensities ({100 * n_negative / n_values:.0f} "
            "%) are negative: not magnitude images (phase, real or imaginary data, or a wrong "
            "rescale?)"
        )
    notes = []
    if n_finite < n_values:
        bad = int(np.count_nonzero(nonfinite_voxel))
        notes.append(f"{where}: {bad} voxels hold non-finite intensities (NaN or infinite)")
    if n_negative:
        bad = int(np.count_nonzero(negative_voxel))
        notes.append(f"{where}: {bad} voxels hold negative intensities ({n_negative} values)")
    missing = missing_echoes(series.echo_times_ms, series.meta)
    if missing:
        listed = ", ".join(
            f"{n} ({n * train_spacing(series.echo_times_ms):.4g} ms)" for n in missing
        )
        notes.append(
            f"{where}: {len(missing)} echo{'es' if len(missing) > 1 else ''} missing from the "
            f"echo train: echo {listed}; "
            "the fit uses the echoes present"
        )
    for note in notes:
        logger.warning("%s", note)
    return notes


def train_spacing(te_ms: np.ndarray) -> float | None:
    """The spacing of a CPMG train (echo ``n`` at ``n`` x spacing), some echoes possibly missing.

    The first echo time is the spacing when every echo time is a whole multiple of it (a train
    with some echoes missing, e.g. 10, 20, 40, 50 ms); otherwise None.

    Parameters
    ----------
    te_ms : ndarray
        Increasing echo times in ms.
    """
    te = np.asarray(te_ms, dtype=float)
    if te.size < 2 or not te[0] > 0:
        return None
    numbers = te / te[0]
    if np.all(np.abs(numbers - np.rint(numbers)) < 1e-3 * np.maximum(numbers, 1.0)):
        return float(te[0])
    return None


def missing_echoes(te_ms: np.ndarray, meta: dict[str, Any]) -> list[int]:
    """Echo numbers absent from a train whose echoes were not chosen on purpose.

    A series whose echoes were selected (``meta['echo_indices_from_source']``) is not checked.
    """
    if "echo_indices_from_source" in meta:
        return []
    spacing = train_spacing(te_ms)
    if spacing is None:
        return []
    numbers = {int(n) for n in np.rint(np.asarray(te_ms) / spacing)}
    return sorted(set(range(1, max(numbers) + 1)) - numbers)
