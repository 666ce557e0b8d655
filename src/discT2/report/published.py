"""Trial tables in the layout trials publish them (RESPINE, Ann Rheum Dis 2024, Table 3).

:func:`published_table` turns the long-form :func:`~discT2.report.trial_table` (one row per visit
x endpoint x ROI x arm) into the table a paper prints: one column per arm, and per endpoint,
visit and ROI the rows *regeneration (> tau %)*, *no evolution*, *degeneration (< -tau %)* as
**n (%)**, the change as **mean ± SD** and **median [IQR]**, the between-arm difference of the
means with its 95 % confidence interval, and each p-value in a column of its own, on the row of
the comparison it belongs to. Every cell is text formatted once, here, so that the HTML report,
``trial_endpoints.csv`` and ``trial_endpoints.xlsx`` show the same characters; the numbers come
from the long-form table unchanged (rounded for print only).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from discT2.errors import InputError
from discT2.report._names import CATEGORIES, TRIAL_COLUMNS, roi_rank
from discT2.report.io import check_trial_table

__all__ = [
    "ENDPOINT_LABELS",
    "PUBLISHED_KEYS",
    "primary_table",
    "published_table",
    "write_published_csv",
    "write_published_xlsx",
]

#: Short endpoint names for table headings, with the unit of their change.
ENDPOINT_LABELS: dict[str, tuple[str, str]] = {
    "change_pct": ("Change of the treated disc from baseline", "% change"),
    "treated_minus_control_pct": (
        "Treated disc minus its control discs",
        "difference of changes (points)",
    ),
    "ratio_change_pct": ("Treated-to-control T2 ratio, change from baseline", "% change"),
}

#: The leading columns of a published table: which block a row belongs to, and what it shows.
PUBLISHED_KEYS: tuple[str, ...] = ("endpoint", "visit", "months", "roi", "measure")

_TEST_NAMES = {
    "fisher exact": "Fisher's exact test",
    "chi-square": "chi-square test",
}


def _num(x: object, digits: int = 1) -> str:
    if x is None or x is pd.NA:
        return ""
    value = float(x)  # type: ignore[arg-type]
    if not np.isfinite(value):
        return ""
    text = f"{value:.{digits}f}"
    return "0.0" if text == "-0.0" else text


def _p(x: object) -> str:
    if x is None or x is pd.NA or not np.isfinite(float(x)):  # type: ignore[arg-type]
        return ""
    value = float(x)  # type: ignore[arg-type]
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _count(n: object, pct: object) -> str:
    if n is None or n is pd.NA:
        return ""
    share = _num(pct)
    return f"{int(n)} ({share})" if share else f"{int(n)}"


def _arm_order(trial: pd.DataFrame) -> tuple[list[str], list[tuple[str, str]]]:
    """Arms as columns (compared arms first, the reference last) and the comparisons shown."""
    arms = list(dict.fromkeys(trial["arm"]))
    compared = trial.loc[trial["compared_with"] != "", ["arm", "compared_with"]]
    pairs = list(dict.fromkeys(map(tuple, compared.to_numpy())))
    references = {b for _, b in pairs}
    if len(arms) == 2 and len(references) == 2:  # two arms, each tested against the other
        pairs = [(arms[0], arms[1])]
        references = {arms[1]}
    order = [a for a in arms if a not in references] + [a for a in arms if a in references]
    return order, pairs  # type: ignore[return-value]


def _arm_header(arm: str, trial: pd.DataFrame) -> str:
    rows = trial[trial["arm"] == arm]
    allocated = (rows["n"].astype(float) + rows["n_missing"].astype(float)).max()
    return f"{arm} (n = {int(allocated)})" if np.isfinite(allocated) else str(arm)


def published_table(
    trial: pd.DataFrame,
    *,
    endpoints: Sequence[str] | None = None,
    rois: Sequence[str] | None = None,
    visits: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Lay a long-form trial table out as a published table: arms as columns.

    Parameters
    ----------
    trial : DataFrame
        A trial table (:func:`~discT2.report.trial_table`, or ``trial_table.csv`` read with
        :func:`~discT2.report.read_trial_table`).
    endpoints, rois, visits : sequence of str, optional
        Keep only these (default all, in the trial table's order; ROIs anatomical).

    Returns
    -------
    DataFrame
        Text cells. Columns :data:`PUBLISHED_KEYS`, then one per arm headed ``ARM (n = N)``
        (N allocated), then per comparison ``A − B, mean (95 % CI)``, ``p (A vs B)`` and
        ``test (A vs B)``. Per endpoint, visit and ROI the rows (``measure``): ``n with a
        value``, the three categories as ``n (%)`` (their test's p on the first), ``mean ± SD``
        (Welch's t-test) and ``median [IQR]`` (Mann–Whitney U).

    Raises
    ------
    InputError
        A table without the trial-table columns, or nothing left after the selection.
    """
    t = check_trial_table(trial)
    if endpoints is not None:
        t = t[t["endpoint"].isin(list(endpoints))]
    if rois is not None:
        t = t[t["roi"].isin(list(rois))]
    if visits is not None:
        t = t[t["visit"].isin(list(visits))]
    if not len(t):
        raise InputError("published_table: no trial-table rows for the endpoints/ROIs/visits asked")
    arms, pairs = _arm_order(t)
    arm_cols = {a: _arm_header(a, t) for a in arms}
    pair_cols = {
        (a, b): (f"{a} − {b}, mean (95 % CI)", f"p ({a} vs {b})", f"test ({a} vs {b})")
        for a, b in pairs
    }
    tau = float(t["tau_pct"].dropna().iloc[0]) if t["tau_pct"].notna().any() else 0.0
    labels = {
        "regeneration": f"regeneration (> {tau:g} %), n (%)",
        "no evolution": "no evolution, n (%)",
        "degeneration": f"degeneration (< {-tau:g} %), n (%)"
        if tau
        else "degeneration (< 0 %), n (%)",
    }
    endpoint_order = list(dict.fromkeys(t["endpoint"]))
    blocks = (
        t[["endpoint", "visit", "months", "roi"]]
        .drop_duplicates()
        .assign(
            _e=lambda d: d["endpoint"].map(endpoint_order.index),
            _r=lambda d: d["roi"].map(roi_rank),
        )
        .sort_values(["_e", "months", "visit", "_r"])
    )
    rows: list[dict[str, str]] = []
    for endpoint, visit, months, roi in blocks[["endpoint", "visit", "months", "roi"]].itertuples(
        index=False
    ):
        block = t[(t["endpoint"] == endpoint) & (t["visit"] == visit) & (t["roi"] == roi)]
        by_arm = {a: block[block["arm"] == a].iloc[0] for a in arms if (block["arm"] == a).any()}
        unit = ENDPOINT_LABELS.get(endpoint, (endpoint, "change"))[1]
        key = {
            "endpoint": endpoint,
            "visit": visit,
            "months": f"{float(months):g}",
            "roi": roi,
        }

        def line(measure: str, cell, tests=None, _key=key, _by_arm=by_arm) -> dict[str, str]:
            row = {**_key, "measure": measure}
            for a in arms:
                row[arm_cols[a]] = cell(_by_arm[a]) if a in _by_arm else ""
            for pair, (diff_col, p_col, test_col) in pair_cols.items():
                got = tests(_by_arm.get(pair[0])) if tests and pair[0] in _by_arm else ("", "", "")
                row[diff_col], row[p_col], row[test_col] = got
            return row

        rows.append(line("n with a value", lambda r: str(int(r["n"]))))
        for i, cat in enumerate(CATEGORIES):
            key_ = cat.replace(" ", "_")
            tests = None
            if i == 0:

                def tests(r):
                    name = _TEST_NAMES.get(str(r["category_test"]), str(r["category_test"]))
                    return "", _p(r["category_p"]), name if _p(r["category_p"]) else ""

            rows.append(
                line(
                    labels[cat],
                    lambda r, k=key_: _count(r[f"n_{k}"], r[f"pct_{k}"]),
                    tests,
                )
            )

        def mean_cell(r) -> str:
            mean, sd = _num(r["mean_pct"]), _num(r["sd_pct"])
            return f"{mean} ± {sd}" if mean and sd else mean

        def welch(r):
            diff = _num(r["diff_mean_pct"])
            low, high = _num(r["diff_ci_low_pct"]), _num(r["diff_ci_high_pct"])
            text = f"{diff} ({low} to {high})" if diff and low and high else diff
            return text, _p(r["welch_p"]), "Welch's t-test" if _p(r["welch_p"]) else ""

        rows.append(line(f"{unit}, mean ± SD", mean_cell, welch))

        def median_cell(r) -> str:
            median = _num(r["median_pct"])
            q1, q3 = _num(r["q1_pct"]), _num(r["q3_pct"])
            return f"{median} [{q1}; {q3}]" if median and q1 and q3 else median

        def mann_whitney(r):
            p = _p(r["mannwhitney_p"])
            return "", p, "Mann–Whitney U" if p else ""

        rows.append(line(f"{unit}, median [IQR]", median_cell, mann_whitney))
    columns = [*PUBLISHED_KEYS, *arm_cols.values()]
    for cols in pair_cols.values():
        columns.extend(cols)
    return pd.DataFrame(rows, columns=columns).fillna("")


def primary_table(
    trial: pd.DataFrame, *, endpoint: str | None = None, roi: str | None = None
) -> pd.DataFrame:
    """The compact primary-endpoint table: one endpoint and ROI, every visit.

    Parameters
    ----------
    trial : DataFrame
        A trial table (:func:`~discT2.report.trial_table`).
    endpoint : str, optional
        The primary endpoint (default the trial table's first).
    roi : str, optional
        Its ROI (default ``NP`` when tabulated, else the first ROI in anatomical order).

    Returns
    -------
    DataFrame
        :func:`published_table` of that endpoint and ROI.

    Raises
    ------
    InputError
        An endpoint or ROI the trial table does not hold.
    """
    t = check_trial_table(trial)
    if not len(t):
        raise InputError("primary_table: the trial table is empty")
    endpoint = endpoint or str(t["endpoint"].iloc[0])
    present = sorted(set(t["roi"]), key=roi_rank)
    roi = roi or ("NP" if "NP" in present else present[0])
    if endpoint not in set(t["endpoint"]):
        raise InputError(
            f"primary endpoint {endpoint!r} is not in the trial table (it has "
            f"{', '.join(dict.fromkeys(t['endpoint']))})"
        )
    if roi not in present:
        raise InputError(
            f"primary ROI {roi!r} is not in the trial table (it has {', '.join(present)})"
        )
    return published_table(t, endpoints=[endpoint], rois=[roi])


def write_published_csv(path: str | os.PathLike, table: pd.DataFrame) -> Path:
    """Write a :func:`published_table` as CSV (``trial_endpoints.csv``), cells as printed.

    Parameters
    ----------
    path : path-like
        Destination; written under a temporary name, then renamed.
    table : DataFrame
        A :func:`published_table` (or :func:`primary_table`).

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        table.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_published_xlsx(
    path: str | os.PathLike,
    primary: pd.DataFrame,
    endpoints: pd.DataFrame,
    trial: pd.DataFrame,
    *,
    title: str,
    notes: Sequence[str] = (),
) -> Path:
    """Write the trial tables as an Excel workbook (``trial_endpoints_UNBLINDED.xlsx``).

    Parameters
    ----------
    path : path-like
        Destination ``.xlsx``; written under a temporary name, then renamed.
    primary, endpoints : DataFrame
        :func:`primary_table` and :func:`published_table` (text cells, written as they are).
    trial : DataFrame
        The long-form trial table, written with numeric cells on a third sheet.
    title : str
        First line of each published sheet (it says UNBLINDED).
    notes : sequence of str
        Lines under the tables (tests used, threshold, multiplicity).

    Returns
    -------
    Path
        The file written.

    Notes
    -----
    Sheets ``Primary endpoint`` and ``Endpoints``: row 1 the title, row 3 the header, the table
    from row 4, the notes two rows below it; sheet ``Long form``: ``trial_table.csv``'s columns
    with numbers as numbers.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    path = Path(path)
    wb = Workbook()
    first = True
    for name, table in (("Primary endpoint", primary), ("Endpoints", endpoints)):
        ws = wb.active if first else wb.create_sheet()
        first = False
        ws.title = name
        ws.cell(row=1, column=1, value=title).font = Font(bold=True, size=13)
        for j, column in enumerate(table.columns, start=1):
            cell = ws.cell(row=3, column=j, value=str(column))
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for i, values in enumerate(table.itertuples(index=False), start=4):
            for j, value in enumerate(values, start=1):
                ws.cell(row=i, column=j, value=str(value))
        for j, note in enumerate(notes, start=len(table) + 6):
            ws.cell(row=j, column=1, value=note)
        for j, column in enumerate(table.columns, start=1):
            width = max([len(str(column)) // 2, *(len(str(v)) for v in table.iloc[:, j - 1])])
            ws.column_dimensions[get_column_letter(j)].width = min(max(width + 2, 8), 40)
        ws.freeze_panes = "A4"
    ws = wb.create_sheet("Long form")
    long = check_trial_table(trial)[list(TRIAL_COLUMNS)]
    ws.append(list(TRIAL_COLUMNS))
    for values in long.itertuples(index=False):
        ws.append([_cell(v) for v in values])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        wb.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _cell(value: object) -> object:
    """A long-form value for a spreadsheet cell: numbers as numbers, missing as empty."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, (int, np.integer)):
        return int(value)
    return str(value)
