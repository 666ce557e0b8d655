"""Protocol drift between a subject's baseline exam and each follow-up.

A % change of T2 is only meaningful when baseline and follow-up were acquired and fitted the same
way: T2 depends on the sequence (echo times, TR, refocusing), much less on field strength, and on
the fit method by up to ~5 ms; the nucleus loses 13-17 ms of T2 from morning to evening
(Zhu et al. 2015). Each follow-up exam is therefore compared with the baseline exam
of the same subject, item by item, and every difference beyond a tolerance becomes a flag.

The input is an exam-level metadata table, one row per exam (:data:`discT2.report.io.EXAM_COLUMNS`):
``subject, visit, months`` and any of ``vendor, field_strength_t, echo_times_ms,
repetition_time_ms, slice_thickness_mm, method, acquisition_time``. A column that is absent, or a
value that is empty at either visit, is not compared.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from discT2.errors import InputError
from discT2.report._visits import baseline_visits, natural_key
from discT2.report.io import check_exams

__all__ = ["DRIFT_FLAGS", "DRIFT_TOLERANCES", "protocol_drift"]

logger = logging.getLogger(__name__)

#: Flag name of each checked column, in the order flags are listed.
DRIFT_FLAGS: dict[str, str] = {
    "vendor": "vendor",
    "field_strength_t": "field_strength",
    "echo_times_ms": "echo_times",
    "repetition_time_ms": "repetition_time",
    "slice_thickness_mm": "slice_thickness",
    "method": "fit_method",
    "acquisition_time": "time_of_day",
}

#: Largest difference that is not drift, per numeric column (same units as the column). Echo
#: times are compared one by one, after checking that their number agrees.
DRIFT_TOLERANCES: dict[str, float] = {
    "field_strength_t": 0.05,
    "echo_times_ms": 0.05,
    "repetition_time_ms": 1.0,
    "slice_thickness_mm": 0.05,
}

_DRIFT_COLUMNS = ("subject", "visit", "months", "protocol_flags", "protocol_details")


def protocol_drift(
    exams: pd.DataFrame,
    *,
    max_time_shift_h: float = 2.0,
    tolerances: Mapping[str, float] | None = None,
    baseline: str | None = None,
    missing_baseline: str = "raise",
    source: str = "exams",
) -> pd.DataFrame:
    """Flag the follow-up exams whose protocol or time of day differs from the baseline exam.

    Parameters
    ----------
    exams : DataFrame
        One row per exam: ``subject, visit, months`` and any of the checked columns
        (:data:`DRIFT_FLAGS`). ``echo_times_ms`` is a ``;``-separated string or a sequence of
        numbers; ``acquisition_time`` a time of day (``HH:MM``, ``HH:MM:SS`` or DICOM ``HHMMSS``).
    max_time_shift_h : float
        Largest shift of the acquisition time of day (hours, either way) that is not flagged.
        The default, 2 h, is the lower end of the 2-3 h usually flagged.
    tolerances : mapping, optional
        Overrides of :data:`DRIFT_TOLERANCES`.
    baseline : str, optional
        Name of the visit that is every subject's baseline (default: the visit with months 0).
    missing_baseline : {'raise', 'skip'}
        A subject without a baseline exam: raise, or leave out.
    source : str
        Table name for messages.

    Returns
    -------
    DataFrame
        One row per follow-up exam: ``subject, visit, months, protocol_flags`` (flag names
        joined by ``;``, empty when nothing drifted) and ``protocol_details`` (the values, for
        people).

    Raises
    ------
    InputError
        Unusable table, a subject without (or with two) baseline exams, an unreadable time.

    Examples
    --------
    >>> import pandas as pd
    >>> exams = pd.DataFrame({"subject": ["S1", "S1"], "visit": ["M0", "M12"],
    ...                       "months": [0, 12], "vendor": ["Siemens", "GE"],
    ...                       "acquisition_time": ["08:00", "09:30"]})
    >>> protocol_drift(exams)[["visit", "protocol_flags"]].to_dict("records")
    [{'visit': 'M12', 'protocol_flags': 'vendor'}]
    """
    present = set(exams.columns)
    df = check_exams(exams, source=source)
    tol = {**DRIFT_TOLERANCES, **dict(tolerances or {})}
    unknown = set(tol) - set(DRIFT_TOLERANCES)
    if unknown:
        raise InputError(
            f"unknown drift tolerance(s) {', '.join(sorted(unknown))}; known: "
            f"{', '.join(DRIFT_TOLERANCES)}"
        )
    if not max_time_shift_h >= 0:
        raise InputError(f"max_time_shift_h must be >= 0 hours, got {max_time_shift_h}")
    base_of = baseline_visits(df, source=source, baseline=baseline, missing=missing_baseline)
    checked = [c for c in DRIFT_FLAGS if c in present]
    hours = {i: _time_of_day_h(t, source, i) for i, t in df["acquisition_time"].items() if t != ""}
    by_exam = {(s, v): i for i, (s, v) in enumerate(zip(df["subject"], df["visit"], strict=True))}
    rows = []
    for i, row in df.iterrows():
        subject, visit = row["subject"], row["visit"]
        if subject not in base_of or base_of[subject] == visit:
            continue
        b = by_exam[(subject, base_of[subject])]
        base = df.iloc[b]
        flags, details = [], []
        for column in checked:
            text = _compare(
                column,
                base[column],
                row[column],
                hours.get(b),
                hours.get(i),
                tol,
                max_time_shift_h,
                source,
            )
            if text:
                flags.append(DRIFT_FLAGS[column])
                details.append(text)
        rows.append((subject, visit, row["months"], ";".join(flags), "; ".join(details)))
    out = pd.DataFrame(rows, columns=list(_DRIFT_COLUMNS))
    if len(out):
        key = out["subject"].map(natural_key)
        out = out.assign(_k=key).sort_values(["_k", "months"], kind="stable").drop(columns="_k")
    flagged = out[out["protocol_flags"] != ""]
    for _, r in flagged.iterrows():
        logger.info(
            "protocol drift, subject %s visit %s: %s",
            r["subject"],
            r["visit"],
            r["protocol_details"],
        )
    return out.reset_index(drop=True)


def _compare(column, base, value, base_h, value_h, tol, max_shift_h, source) -> str:
    """Describe the drift of one item, or return '' when there is none (or it cannot be told)."""
    if column == "acquisition_time":
        if base_h is None or value_h is None:
            return ""
        shift = (value_h - base_h + 12.0) % 24.0 - 12.0  # signed, the short way round the clock
        if abs(shift) <= max_shift_h:
            return ""
        return f"time of day {_hhmm(base_h)} -> {_hhmm(value_h)} ({shift:+.1f} h)"
    if column in ("vendor", "method"):
        if base == "" or value == "" or base.strip().lower() == value.strip().lower():
            return ""
        name = "vendor" if column == "vendor" else "fit method"
        return f"{name} {base} -> {value}"
    if column == "echo_times_ms":
        if base == "" or value == "":
            return ""
        b, v = _echo_times(base, source), _echo_times(value, source)
        if len(b) == len(v) and np.all(np.abs(b - v) <= tol[column]):
            return ""
        return f"echo times {_describe_tes(b)} -> {_describe_tes(v)}"
    if not (np.isfinite(base) and np.isfinite(value)) or abs(value - base) <= tol[column]:
        return ""
    label, unit = {
        "field_strength_t": ("field strength", "T"),
        "repetition_time_ms": ("TR", "ms"),
        "slice_thickness_mm": ("slice thickness", "mm"),
    }[column]
    return f"{label} {base:g} -> {value:g} {unit}"


def _echo_times(text: str, source: str) -> np.ndarray:
    try:
        return np.array([float(t) for t in re.split(r"[;,\s]+", text.strip()) if t], float)
    except ValueError:
        raise InputError(
            f"{source}: column 'echo_times_ms' has {text!r}; expected numbers separated by ';'"
        ) from None


def _describe_tes(te: np.ndarray) -> str:
    if len(te) == 0:
        return "none"
    return f"{len(te)} echoes {te[0]:g}-{te[-1]:g} ms"


_TIME = re.compile(r"^(\d{1,2}):?(\d{2})(?::?(\d{2})(?:\.\d+)?)?$")


def _time_of_day_h(text: str, source: str, row: int) -> float:
    match = _TIME.match(text.strip())
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise InputError(
            f"{source}: column 'acquisition_time' row {row + 1} has {text!r}; expected a time of "
            "day HH:MM[:SS] or DICOM HHMMSS"
        )
    h, m, s = (int(g) if g else 0 for g in match.groups())
    return h + m / 60.0 + s / 3600.0


def _hhmm(hours: float) -> str:
    minutes = round(hours * 60.0) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
