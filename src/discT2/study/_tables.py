"""The runner's measurement tables: ``measurements.csv`` columns first, the extra QA columns after.

:func:`discT2.report.write_table` keeps only the documented columns (docs/reference/formats.md); the
runner's ``measurements.csv`` (per exam and for the study) also carries what :func:`discT2.measure`
adds (SEM, fit SE, excluded voxel counts, slice, how the disc was made, QA flags) after them. The
float formats are those of the report tables (T2 to 1 us), so two runs on the same data write
byte-identical files and a table read back and written again does not change.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from discT2.measure import MEASURE_COLUMNS
from discT2.report import LEVEL_ORDER, MEASUREMENT_COLUMNS, ROI_ORDER
from discT2.report._visits import rank_map

__all__ = [
    "EXTRA_COLUMNS",
    "read_exam_measurements",
    "sort_measurements",
    "write_measurements",
]

#: Columns after the documented ones, in order (those :func:`discT2.measure` adds).
EXTRA_COLUMNS: tuple[str, ...] = (
    "t2_sem_ms",
    "t2_fit_se_ms",
    "n_failed",
    "n_out_of_range",
    "slice",
    "n_slices",
    "made_by",
    "reader",
    "pfirrmann",
    "qa_flags",
)
ALL_COLUMNS: tuple[str, ...] = (*MEASUREMENT_COLUMNS, *EXTRA_COLUMNS)

_INT = ("n_voxels", "n_excluded", "n_failed", "n_out_of_range", "slice", "n_slices", "pfirrmann")
_TEXT = ("subject", "visit", "level", "role", "roi", "method", "made_by", "reader", "qa_flags")
_FORMAT = {"months": "%.6g"}
_T2_FORMAT = "%.3f"

# measure() must still produce every column we write.
if not set(MEASURE_COLUMNS) <= set(ALL_COLUMNS):  # pragma: no cover - a guard for developers
    raise ImportError("discT2.measure.MEASURE_COLUMNS has columns the runner does not write")


def _format(column: str) -> str:
    if column in _FORMAT:
        return _FORMAT[column]
    if column.startswith("t2_") and column.endswith("_ms"):
        return _T2_FORMAT
    return "%.6g"


def _clean(table: pd.DataFrame) -> pd.DataFrame:
    n = len(table)
    out = {}
    for column in ALL_COLUMNS:
        values = table[column] if column in table.columns else pd.Series([None] * n)
        values = values.reset_index(drop=True)
        if column in _TEXT:
            out[column] = pd.Series(
                ["" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                 else str(v) for v in values],
                dtype=object,
            )  # fmt: skip
        elif column in _INT:
            out[column] = pd.to_numeric(values, errors="coerce").round().astype("Int64")
        else:
            out[column] = pd.to_numeric(values, errors="coerce").astype(float)
    return pd.DataFrame(out)


def sort_measurements(table: pd.DataFrame) -> pd.DataFrame:
    """Rows in a fixed order: subject (natural), months, visit, level (cranial first), ROI."""
    t = _clean(table)
    keys = t.assign(
        _s=t["subject"].map(rank_map(t["subject"])),
        _v=t["visit"].map(rank_map(t["visit"])),
        _l=t["level"].map(lambda x: LEVEL_ORDER.index(x) if x in LEVEL_ORDER else len(LEVEL_ORDER)),
        _r=t["roi"].map(lambda x: ROI_ORDER.index(x) if x in ROI_ORDER else len(ROI_ORDER)),
    )
    keys = keys.sort_values(["_s", "months", "_v", "_l", "level", "_r", "roi"], kind="stable")
    return t.loc[keys.index].reset_index(drop=True)


def write_measurements(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a measurements table (DESIGN columns, then :data:`EXTRA_COLUMNS`), atomically."""
    from discT2.study._files import write_text

    t = _clean(table)
    lines = [",".join(ALL_COLUMNS)]
    text_cols = set(_TEXT)
    int_cols = set(_INT)
    formats = {c: _format(c) for c in ALL_COLUMNS}
    for row in t.itertuples(index=False):
        cells = []
        for column, value in zip(ALL_COLUMNS, row, strict=True):
            if column in text_cols:
                cells.append(_csv_text(value))
            elif column in int_cols:
                cells.append("" if value is pd.NA else str(int(value)))
            else:
                cells.append("" if not np.isfinite(value) else formats[column] % value)
        lines.append(",".join(cells))
    return write_text(Path(path), "\n".join(lines) + "\n")


def _csv_text(value: str) -> str:
    if any(ch in value for ch in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def read_exam_measurements(path: str | os.PathLike) -> pd.DataFrame:
    """Read a measurements table written by :func:`write_measurements` (types restored)."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    return _clean(raw)
