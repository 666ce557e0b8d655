"""Read, check and write the study tables (measurements, changes, arms, errors, exams, trial).

Every table has a fixed column order and a fixed float format, so that two runs on the same data
write byte-identical files. Files are written under a temporary name and renamed, so a reader (or a
resumed run) never sees half a file. Columns that a table does not define are dropped on read: a
stray column (a patient name pasted into a spreadsheet, say) never travels into an output.

Checks raise :class:`~discT2.errors.InputError` (:class:`~discT2.errors.StudyError` for the
allocation file ``arms.csv``) with a message that names the file, the column and the rows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from discT2.errors import InputError, StudyError
from discT2.report._names import (
    CATEGORIES,
    CHANGE_COLUMNS,
    ERROR_COLUMNS,
    MEASUREMENT_COLUMNS,
    ROI_ORDER,
    ROLES,
    TRIAL_COLUMNS,
)

__all__ = [
    "EXAM_COLUMNS",
    "check_arms",
    "check_changes",
    "check_errors",
    "check_exams",
    "check_measurements",
    "check_trial_table",
    "read_arms",
    "read_changes",
    "read_errors",
    "read_exams",
    "read_measurements",
    "read_trial_table",
    "write_table",
]

logger = logging.getLogger(__name__)

#: Columns of the exam-level metadata table (``exams.csv``) that protocol-drift checks read. Only
#: ``subject``, ``visit`` and ``months`` are required; a missing column is simply not checked.
#: ``echo_times_ms`` holds the echo times separated by ``;``; ``acquisition_time`` is the time of
#: day ``HH:MM[:SS]`` (or DICOM ``HHMMSS.ffffff``); ``method`` is the T2 fit method. Names follow
#: :data:`discT2.series.META_KEYS`, so a runner fills the table from ``series.meta`` directly.
EXAM_COLUMNS: tuple[str, ...] = (
    "subject",
    "visit",
    "months",
    "vendor",
    "field_strength_t",
    "echo_times_ms",
    "repetition_time_ms",
    "slice_thickness_mm",
    "method",
    "acquisition_time",
)

# Column kinds: "text" (str, "" when empty), "float" (NaN when empty), "int" (nullable Int64).
_SCHEMAS: dict[str, dict[str, str]] = {
    "measurements": {
        "subject": "text",
        "visit": "text",
        "months": "float",
        "level": "text",
        "role": "text",
        "roi": "text",
        "n_voxels": "int",
        "n_excluded": "int",
        "t2_mean_ms": "float",
        "t2_median_ms": "float",
        "t2_sd_ms": "float",
        "method": "text",
    },
    "changes": {
        "subject": "text",
        "level": "text",
        "role": "text",
        "roi": "text",
        "visit": "text",
        "months": "float",
        "baseline_t2_ms": "float",
        "t2_ms": "float",
        "pct_of_baseline": "float",
        "change_pct": "float",
        "category": "text",
        "control_change_pct": "float",
        "treated_minus_control_pct": "float",
        "ratio_change_pct": "float",
        "control_levels": "text",
        "tau_pct": "float",
        "protocol_flags": "text",
    },
    "arms": {"subject": "text", "arm": "text"},
    "errors": {"subject": "text", "visit": "text", "stage": "text", "error": "text"},
    "exams": {
        "subject": "text",
        "visit": "text",
        "months": "float",
        "vendor": "text",
        "field_strength_t": "float",
        "echo_times_ms": "text",
        "repetition_time_ms": "float",
        "slice_thickness_mm": "float",
        "method": "text",
        "acquisition_time": "text",
    },
    "trial": {
        **dict.fromkeys(TRIAL_COLUMNS, "float"),
        "visit": "text",
        "endpoint": "text",
        "roi": "text",
        "arm": "text",
        "compared_with": "text",
        "category_test": "text",
        "category_statistic_name": "text",
        "n": "int",
        "n_missing": "int",
        "n_regeneration": "int",
        "n_no_evolution": "int",
        "n_degeneration": "int",
    },
}
_ORDER: dict[str, tuple[str, ...]] = {
    "measurements": MEASUREMENT_COLUMNS,
    "changes": CHANGE_COLUMNS,
    "arms": ("subject", "arm"),
    "errors": ERROR_COLUMNS,
    "exams": EXAM_COLUMNS,
    "trial": TRIAL_COLUMNS,
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "measurements": ("subject", "visit", "months", "level", "role", "roi"),
    "changes": ("subject", "level", "role", "roi", "visit", "months", "change_pct"),
    "arms": ("subject", "arm"),
    "errors": ERROR_COLUMNS,
    "exams": ("subject", "visit", "months"),
    # the columns added after tau_pct may be absent from a table an older discT2 wrote
    "trial": TRIAL_COLUMNS[: TRIAL_COLUMNS.index("tau_pct") + 1],
}

# Float formats on write: T2 to 1 us, percentages to 1e-4 %, everything else 6 significant digits.
_FLOAT_FORMATS: dict[str, str] = {
    "months": "%.6g",
    "t2_mean_ms": "%.3f",
    "t2_median_ms": "%.3f",
    "t2_sd_ms": "%.3f",
    "baseline_t2_ms": "%.3f",
    "t2_ms": "%.3f",
}
_DEFAULT_FLOAT = "%.6g"
_PCT_FLOAT = "%.4f"

_NA_STRINGS = frozenset({"", "nan", "NaN", "NA", "N/A", "n/a", "null", "None"})


def _float_format(column: str) -> str:
    if column in _FLOAT_FORMATS:
        return _FLOAT_FORMATS[column]
    if column.endswith("_pct") and not column.startswith("tau"):
        return _PCT_FLOAT
    return _DEFAULT_FLOAT


def _coerce(df: pd.DataFrame, kind: str, source: str) -> pd.DataFrame:
    """Keep the schema's columns in order, convert each to its kind; raise on unusable values."""
    schema = _SCHEMAS[kind]
    missing = [c for c in _REQUIRED[kind] if c not in df.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(map(repr, missing))}; expected the columns "
            f"{', '.join(_ORDER[kind])} (got {', '.join(map(str, df.columns)) or 'none'})"
        )
    out = {}
    n = len(df)
    for column in _ORDER[kind]:
        if column not in df.columns:
            out[column] = (
                pd.Series([""] * n, dtype=object)
                if schema[column] == "text"
                else pd.Series(np.full(n, np.nan), dtype=float)
            )
            continue
        values = df[column].reset_index(drop=True)
        if schema[column] == "text":
            out[column] = _as_text(values)
        else:
            out[column] = _as_number(values, column, source, integer=schema[column] == "int")
    return pd.DataFrame(out)


def _as_text(values: pd.Series) -> pd.Series:
    def one(v: object) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return ""
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        return str(v).strip()

    return pd.Series([one(v) for v in values], dtype=object)


def _as_number(values: pd.Series, column: str, source: str, *, integer: bool) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
    else:
        text = _as_text(values)
        numbers = pd.to_numeric(text.where(~text.isin(_NA_STRINGS), None), errors="coerce")
        bad = numbers.isna() & ~text.isin(_NA_STRINGS)
        if bad.any():
            rows = np.flatnonzero(bad.to_numpy())
            shown = ", ".join(f"row {r + 1}: {text.iloc[r]!r}" for r in rows[:5])
            more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
            raise InputError(
                f"{source}: column {column!r} must hold numbers; found {shown}{more} "
                "(rows counted from 1 after the header). Fix or empty those cells."
            )
        numbers = numbers.astype(float)
    if integer:
        finite = numbers.dropna()
        if not np.all(np.isclose(finite, np.round(finite))):
            raise InputError(f"{source}: column {column!r} must hold whole numbers (counts)")
        # Int64 keeps counts integral in memory and on disk while allowing missing values.
        return numbers.round().astype("Int64")
    return numbers


def _read_csv(path: str | os.PathLike, kind: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected the {kind} table)")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV table ({exc})") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw


def _check_no_duplicates(df: pd.DataFrame, keys: Sequence[str], source: str) -> None:
    dup = df.duplicated(list(keys), keep=False)
    if dup.any():
        rows = df.loc[dup, list(keys)].drop_duplicates().head(5)
        listed = "; ".join(", ".join(f"{k}={r[k]}" for k in keys) for _, r in rows.iterrows())
        raise InputError(f"{source}: duplicate rows for {'/'.join(keys)}: {listed}")


def _check_not_empty(df: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    for column in columns:
        empty = df[column] == ""
        if empty.any():
            rows = ", ".join(str(r + 1) for r in np.flatnonzero(empty.to_numpy())[:5])
            raise InputError(f"{source}: column {column!r} is empty in row(s) {rows}")


def check_measurements(
    measurements: pd.DataFrame, *, source: str = "measurements", statistic: str = "mean"
) -> pd.DataFrame:
    """Check a measurements table and return a clean copy in the ``measurements.csv`` layout.

    Parameters
    ----------
    measurements : DataFrame
        One row per exam x disc x ROI with the ``measurements.csv`` columns
        (docs/reference/formats.md). ``n_voxels``, ``n_excluded``, ``t2_sd_ms`` and ``method``
        may be absent; the T2 column that ``statistic`` names must be present.
    source : str
        Name of the table in messages (a file path, usually).
    statistic : {'mean', 'median'}
        Which T2 column the caller will use (``t2_mean_ms`` or ``t2_median_ms``).

    Returns
    -------
    DataFrame
        The columns of ``measurements.csv`` in order; unknown columns dropped.

    Raises
    ------
    InputError
        A missing column, a non-numeric value, an unknown role or ROI name, an empty key or a
        duplicated subject/visit/level/roi row; the message names the table and the column.
    """
    if statistic not in ("mean", "median"):
        raise InputError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    column = f"t2_{statistic}_ms"
    if column not in measurements.columns:
        raise InputError(
            f"{source}: missing column {column!r} (the T2 statistic asked for); got "
            f"{', '.join(map(str, measurements.columns))}"
        )
    df = _coerce(measurements, "measurements", source)
    _check_not_empty(df, ("subject", "visit", "level", "role", "roi"), source)
    if df["months"].isna().any():
        rows = ", ".join(str(r + 1) for r in np.flatnonzero(df["months"].isna().to_numpy())[:5])
        raise InputError(f"{source}: column 'months' is empty in row(s) {rows}")
    bad_role = sorted(set(df["role"]) - set(ROLES))
    if bad_role:
        raise InputError(
            f"{source}: column 'role' has {', '.join(map(repr, bad_role))}; "
            f"expected one of {', '.join(ROLES)}"
        )
    bad_roi = sorted(set(df["roi"]) - set(ROI_ORDER))
    if bad_roi:
        raise InputError(
            f"{source}: column 'roi' has {', '.join(map(repr, bad_roi))}; "
            f"expected one of {', '.join(ROI_ORDER)}"
        )
    _check_no_duplicates(df, ("subject", "visit", "level", "roi"), source)
    per_visit = df.groupby(["subject", "visit"])["months"].nunique()
    if (per_visit > 1).any():
        s, v = per_visit[per_visit > 1].index[0]
        raise InputError(
            f"{source}: subject {s} visit {v} has rows with different 'months'; one visit, one "
            "time point"
        )
    return df


def check_changes(changes: pd.DataFrame, *, source: str = "changes") -> pd.DataFrame:
    """Check a change table (as :func:`~discT2.report.change_table` makes) and return a clean copy.

    Raises
    ------
    InputError
        Missing columns, non-numeric values, unknown categories, duplicated rows.
    """
    df = _coerce(changes, "changes", source)
    _check_not_empty(df, ("subject", "level", "role", "roi", "visit"), source)
    bad = sorted(set(df["category"]) - {*CATEGORIES, ""})
    if bad:
        raise InputError(
            f"{source}: column 'category' has {', '.join(map(repr, bad))}; expected one of "
            f"{', '.join(CATEGORIES)} or empty"
        )
    _check_no_duplicates(df, ("subject", "level", "roi", "visit"), source)
    return df


def check_arms(arms: pd.DataFrame, *, source: str = "arms") -> pd.DataFrame:
    """Check an allocation table ``subject, arm`` and return a clean copy.

    Raises
    ------
    StudyError
        A missing column, an empty cell, or a subject listed twice.
    """
    try:
        df = _coerce(arms, "arms", source)
        _check_not_empty(df, ("subject", "arm"), source)
    except StudyError:
        raise
    except InputError as exc:
        raise StudyError(str(exc)) from None
    dup = df["subject"][df["subject"].duplicated()]
    if len(dup):
        raise StudyError(
            f"{source}: subject(s) {', '.join(sorted(set(dup)))} listed more than once; each "
            "subject belongs to one arm"
        )
    return df


def check_trial_table(trial: pd.DataFrame, *, source: str = "trial") -> pd.DataFrame:
    """Check a long-form trial table (:func:`~discT2.report.trial_table`) and return a clean copy.

    Columns added after ``tau_pct`` (quartiles, the category statistic's name) may be absent:
    they come back empty.

    Parameters
    ----------
    trial : DataFrame
        The trial table.
    source : str
        Name of the table in messages (a file path, usually).

    Returns
    -------
    DataFrame
        The columns of ``trial_table.csv`` in order; unknown columns dropped.

    Raises
    ------
    InputError
        Missing columns or non-numeric values.
    """
    return _coerce(trial, "trial", source)


def check_errors(errors: pd.DataFrame, *, source: str = "errors") -> pd.DataFrame:
    """Check an error table ``subject, visit, stage, error`` and return a clean copy."""
    return _coerce(errors, "errors", source)


def check_exams(exams: pd.DataFrame, *, source: str = "exams") -> pd.DataFrame:
    """Check an exam-metadata table (:data:`EXAM_COLUMNS`) and return a clean copy.

    ``echo_times_ms`` may hold a sequence per row (it is written ``;``-separated).
    """
    exams = exams.copy()
    if "echo_times_ms" in exams.columns:
        exams["echo_times_ms"] = [_join_numbers(v) for v in exams["echo_times_ms"]]
    df = _coerce(exams, "exams", source)
    _check_not_empty(df, ("subject", "visit"), source)
    _check_no_duplicates(df, ("subject", "visit"), source)
    return df


def _join_numbers(value: object) -> object:
    if isinstance(value, (list, tuple, np.ndarray)):
        return ";".join(f"{float(v):g}" for v in value)
    return value


def read_measurements(path: str | os.PathLike, *, statistic: str = "mean") -> pd.DataFrame:
    """Read and check ``measurements.csv`` (see :func:`check_measurements`).

    Parameters
    ----------
    path : path-like
        A ``measurements.csv``.
    statistic : {'mean', 'median'}
        Which T2 column the caller will use (``t2_mean_ms`` or ``t2_median_ms``); it must be
        present.
    """
    return check_measurements(
        _read_csv(path, "measurements"), source=str(path), statistic=statistic
    )


def read_changes(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check ``changes.csv`` (see :func:`check_changes`).

    Parameters
    ----------
    path : path-like
        A ``changes.csv``.
    """
    return check_changes(_read_csv(path, "changes"), source=str(path))


def read_arms(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check the allocation file ``arms.csv`` (columns ``subject, arm``).

    Parameters
    ----------
    path : path-like
        The allocation CSV.

    Raises
    ------
    StudyError
        The file is missing or unusable; the message names it.
    """
    try:
        raw = _read_csv(path, "arms")
    except InputError as exc:
        raise StudyError(str(exc)) from None
    return check_arms(raw, source=str(path))


def read_errors(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``errors.csv`` (columns ``subject, visit, stage, error``).

    Parameters
    ----------
    path : path-like
        An ``errors.csv``.
    """
    return check_errors(_read_csv(path, "errors"), source=str(path))


def read_exams(path: str | os.PathLike) -> pd.DataFrame:
    """Read the exam-metadata table ``exams.csv`` (see :data:`EXAM_COLUMNS`).

    Parameters
    ----------
    path : path-like
        An ``exams.csv``.
    """
    return check_exams(_read_csv(path, "exams"), source=str(path))


def read_trial_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``trial_table.csv`` as :func:`~discT2.report.trial_table` returns it.

    Parameters
    ----------
    path : path-like
        A ``trial_table.csv``.
    """
    return check_trial_table(_read_csv(path, "trial"), source=str(path))


def write_table(
    table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    kind: str,
    float_formats: Mapping[str, str] | None = None,
) -> Path:
    """Write one of the study tables with its fixed column order and float format.

    Parameters
    ----------
    table : DataFrame
        The table; its columns must include those of ``kind`` (extra columns are dropped).
    path : path-like
        Destination CSV; written under a temporary name, then renamed.
    kind : {'measurements', 'changes', 'arms', 'errors', 'exams', 'trial'}
        Which layout.
    float_formats : mapping, optional
        Per-column printf formats that override the defaults.

    Returns
    -------
    Path
        The file written.
    """
    if kind not in _ORDER:
        raise InputError(f"unknown table kind {kind!r}; expected one of {', '.join(_ORDER)}")
    path = Path(path)
    df = _coerce(table, kind, str(path))
    formats = dict(float_formats or {})
    for column in df.columns:
        if df[column].dtype == float:
            fmt = formats.get(column, _float_format(column))
            df[column] = [("" if np.isnan(v) else fmt % v) for v in df[column]]
        elif str(df[column].dtype) == "Int64":
            df[column] = ["" if v is pd.NA else str(int(v)) for v in df[column]]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        df.to_csv(tmp, index=False, lineterminator="\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    logger.debug("wrote %s (%d rows)", path, len(df))
    return path
