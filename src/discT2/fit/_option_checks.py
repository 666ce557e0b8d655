"""Option checks shared by :class:`~discT2.fit.T2Model` and :class:`~discT2.fit.EPGOptions`.

Each raises :class:`~discT2.errors.InputError` with ``owner: name must ...; got ...``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from discT2.errors import InputError


def is_number(value: Any) -> bool:
    """A real number (not a bool)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def opt_positive(owner: str, name: str, value: Any) -> float | None:
    """None, or a finite positive number as float."""
    if value is None:
        return None
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{owner}: {name} must be a positive number; got {value!r}")
    return float(value)


def opt_angle(owner: str, name: str, value: Any) -> float | None:
    """None, or an angle in (0, 180] degrees as float."""
    if value is None:
        return None
    if not (is_number(value) and math.isfinite(value) and 0 < value <= 180):
        raise InputError(f"{owner}: {name} must be an angle in (0, 180] degrees; got {value!r}")
    return float(value)


def bounds(owner: str, name: str, value: Any) -> tuple[float, float]:
    """A pair ``0 < low < high < inf`` as floats."""
    try:
        lo, hi = value
    except (TypeError, ValueError) as exc:
        raise InputError(f"{owner}: {name} must be a pair (low, high); got {value!r}") from exc
    if not (is_number(lo) and is_number(hi)) or not (0 < lo < hi < math.inf):
        raise InputError(
            f"{owner}: {name} must be finite numbers with 0 < low < high; got {value!r}"
        )
    return float(lo), float(hi)
