"""Structural endpoints (DREAM, JOR Spine 2025): disc height index and reader grades per visit.

* **Disc height index** (DHI) = mean disc height / mean height of the adjacent vertebral bodies,
  each height measured anteriorly, in the middle and posteriorly on the mid-sagittal slice
  (:meth:`discT2.roi.DiscGeometry.measures`). The disc heights come from the disc's four corners
  (where the annulus meets the endplates). The vertebral bodies come from the reader's
  ``vertebra_corners_ras_mm`` when given, else from the neighbouring discs' corners: the body
  between two discs spans from the upper disc's inferior corners to the lower disc's superior
  corners. L5-S1 uses L5 only (the sacrum is not a vertebral body), and a disc without a placed
  neighbour uses the one it has; a disc with neither has no DHI. The change of the DHI from
  baseline is ``100 * (DHI_t / DHI_0 - 1)`` %, per disc.
* **Reader grades** from ``grades.csv`` (``subject, visit, level, pfirrmann, pfirrmann_modified,
  reader, graded_on``): Pfirrmann 1-5 (Pfirrmann et al. 2001) and the modified Pfirrmann scale
  1-8 (Griffith et al. 2007), each grade with who gave it and the date (``YYYY-MM-DD``). A
  Pfirrmann grade stored with the disc geometry (``discs.json``) is used when ``grades.csv`` has
  none for that disc, with the geometry's reader and date.

Grading and the DHI need no T2 fit: discs placed on the exam's single-echo T2-weighted series
(``discT2 rois T2W --anatomical --discs discs.json -o DIR/<subject>/<visit>/anatomical``) are
used before those of the multi-echo series.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from discT2.errors import InputError, RoiError
from discT2.report._names import LEVEL_ORDER, level_rank
from discT2.report._visits import natural_key

__all__ = [
    "GRADE_COLUMNS",
    "STRUCTURAL_COLUMNS",
    "disc_height_table",
    "read_grades",
    "structural_table",
    "write_structural_csv",
]

logger = logging.getLogger(__name__)

#: Columns of ``grades.csv`` (one row per graded disc and visit).
GRADE_COLUMNS: tuple[str, ...] = (
    "subject",
    "visit",
    "level",
    "pfirrmann",
    "pfirrmann_modified",
    "reader",
    "graded_on",
)

#: Columns of ``structural.csv``.
STRUCTURAL_COLUMNS: tuple[str, ...] = (
    "subject",
    "visit",
    "months",
    "level",
    "role",
    "height_anterior_mm",
    "height_middle_mm",
    "height_posterior_mm",
    "height_mean_mm",
    "vertebral_height_mm",
    "dhi",
    "dhi_source",
    "dhi_change_pct",
    "pfirrmann",
    "pfirrmann_modified",
    "reader",
    "graded_on",
)

_HEIGHTS = ("height_anterior_mm", "height_middle_mm", "height_posterior_mm", "height_mean_mm")


def disc_height_table(discs: Sequence) -> pd.DataFrame:
    """Disc heights and disc height index of one exam's discs.

    Parameters
    ----------
    discs : sequence of DiscGeometry
        The exam's discs (``discs.json``); those without corners are skipped.

    Returns
    -------
    DataFrame
        One row per disc with corners: ``level``, the heights (mm), ``vertebral_height_mm``,
        ``dhi`` and ``dhi_source`` (``vertebra corners``, ``adjacent discs`` or empty when no
        vertebral body is known).
    """
    with_corners = {d.level: d for d in discs if d.corners_ras_mm is not None}
    rows = []
    for level, disc in with_corners.items():
        source = "vertebra corners" if disc.vertebra_corners_ras_mm else ""
        geometry = disc
        if not disc.vertebra_corners_ras_mm:
            bodies = _bodies_from_neighbours(disc, with_corners)
            if bodies:
                geometry = replace(disc, vertebra_corners_ras_mm=bodies)
                source = "adjacent discs"
        m = geometry.measures()
        rows.append(
            {
                "level": level,
                **{k: m[k] for k in _HEIGHTS},
                "vertebral_height_mm": m.get("vertebral_height_mm", np.nan),
                "dhi": m.get("disc_height_index", np.nan),
                "dhi_source": source,
            }
        )
    columns = ["level", *_HEIGHTS, "vertebral_height_mm", "dhi", "dhi_source"]
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values("level", key=lambda s: s.map(level_rank)).reset_index(drop=True)


def _bodies_from_neighbours(disc, by_level: dict) -> dict[str, dict[str, np.ndarray]]:
    """The vertebral bodies above and below a disc, from the neighbouring discs' corners."""
    if disc.level not in LEVEL_ORDER:
        return {}
    i = LEVEL_ORDER.index(disc.level)
    c = disc.corners_ras_mm
    bodies = {}
    above = by_level.get(LEVEL_ORDER[i - 1]) if i > 0 else None
    if above is not None:
        a = above.corners_ras_mm
        bodies["upper"] = {"AS": a["AI"], "PS": a["PI"], "AI": c["AS"], "PI": c["PS"]}
    below = by_level.get(LEVEL_ORDER[i + 1]) if i + 1 < len(LEVEL_ORDER) else None
    if below is not None:
        b = below.corners_ras_mm
        bodies["lower"] = {"AS": c["AI"], "PS": c["PI"], "AI": b["AS"], "PI": b["PS"]}
    return bodies


def read_grades(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check ``grades.csv``: reader grades per subject, visit and disc.

    Parameters
    ----------
    path : path-like
        The CSV, columns :data:`GRADE_COLUMNS`; either grade may be empty, not both.

    Returns
    -------
    DataFrame
        The columns of :data:`GRADE_COLUMNS`; grades as nullable integers.

    Raises
    ------
    InputError
        A missing column, a grade outside 1-5 (Pfirrmann) or 1-8 (modified Pfirrmann), a graded
        row without a reader or with a date that is not ``YYYY-MM-DD``, or a disc graded twice at
        one visit; the message names the file and the row.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected the reader grades)")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV table ({exc})") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in GRADE_COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    df = raw[list(GRADE_COLUMNS)].apply(lambda s: s.str.strip())
    for column, top, scale in (
        ("pfirrmann", 5, "Pfirrmann"),
        ("pfirrmann_modified", 8, "modified Pfirrmann (Griffith)"),
    ):
        values = pd.to_numeric(df[column].replace("", None), errors="coerce")
        bad = (df[column] != "") & ~values.isin(list(range(1, top + 1)))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{path}: row {row + 1}: {column} {df[column].iloc[row]!r} is not a {scale} "
                f"grade 1-{top}"
            )
        df[column] = values.astype("Int64")
    for row, r in enumerate(df.itertuples(index=False), start=1):
        if r.pfirrmann is pd.NA and r.pfirrmann_modified is pd.NA:
            raise InputError(f"{path}: row {row}: no grade (pfirrmann or pfirrmann_modified)")
        if not r.reader:
            raise InputError(f"{path}: row {row}: a grade needs its reader")
        try:
            _dt.date.fromisoformat(r.graded_on)
        except ValueError:
            raise InputError(
                f"{path}: row {row}: graded_on {r.graded_on!r} is not a date YYYY-MM-DD"
            ) from None
    dup = df.duplicated(["subject", "visit", "level"], keep=False)
    if dup.any():
        r = df[dup].iloc[0]
        raise InputError(
            f"{path}: subject {r['subject']} visit {r['visit']} disc {r['level']} is graded "
            "more than once"
        )
    return df


def structural_table(
    folder: str | os.PathLike,
    measurements: pd.DataFrame,
    *,
    grades: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """DHI, its change from baseline and the reader grades per subject, visit and disc.

    Parameters
    ----------
    folder : path-like
        A study folder (``discT2 run -o``): the geometry of each exam is its
        ``<subject>/<visit>/anatomical/discs.json`` (discs placed on a T2-weighted image with
        ``discT2 rois --anatomical``) when present, else its ``discs.json`` (or ``rois.json``).
    measurements : DataFrame
        The study's measurements (for each exam's months and each disc's role).
    grades : DataFrame, optional
        :func:`read_grades`.

    Returns
    -------
    DataFrame
        Columns :data:`STRUCTURAL_COLUMNS`, one row per exam and disc that has geometry or a
        grade. ``dhi_change_pct`` is empty at baseline and where either DHI is missing.
    """
    from discT2.roi.discs_io import load_discs

    folder = Path(folder)
    exams = measurements[["subject", "visit", "months"]].drop_duplicates(["subject", "visit"])
    roles = measurements.drop_duplicates(["subject", "visit", "level"]).set_index(
        ["subject", "visit", "level"]
    )["role"]
    frames = []
    for subject, visit, months in exams.itertuples(index=False):
        exam = folder / str(subject) / str(visit)
        places = (exam / "anatomical" / "discs.json", exam / "discs.json", exam / "rois.json")
        path = next((p for p in places if p.is_file()), None)
        if path is None:
            continue
        try:
            discs = load_discs(path)
        except (RoiError, InputError, OSError, ValueError) as exc:
            logger.warning("%s: no disc geometry for the structural table (%s)", path, exc)
            continue
        table = disc_height_table(discs)
        stored = {d.level: d for d in discs}
        table["pfirrmann"] = [stored[lv].pfirrmann for lv in table["level"]]
        table["reader"] = [
            stored[lv].reader if stored[lv].pfirrmann else "" for lv in table["level"]
        ]
        table["graded_on"] = [
            stored[lv].created[:10] if stored[lv].pfirrmann else "" for lv in table["level"]
        ]
        table.insert(0, "months", months)
        table.insert(0, "visit", visit)
        table.insert(0, "subject", subject)
        frames.append(table)
    empty = pd.DataFrame(
        {c: pd.Series(dtype=object) for c in ("subject", "visit", "level", "reader", "graded_on")}
        | {c: pd.Series(dtype=float) for c in ("months", *_HEIGHTS, "vertebral_height_mm", "dhi")}
        | {"dhi_source": pd.Series(dtype=object), "pfirrmann": pd.Series(dtype="Int64")}
    )
    out = pd.concat(frames, ignore_index=True) if frames else empty
    out["pfirrmann_modified"] = pd.Series([pd.NA] * len(out), dtype="Int64")
    if grades is not None and len(grades):
        out = _merge_grades(out, grades, exams)
    out["pfirrmann"] = pd.array(out["pfirrmann"], dtype="Int64")
    keys = zip(out["subject"], out["visit"], out["level"], strict=True)
    out["role"] = [roles.get(key, "") for key in keys]
    out["dhi_change_pct"] = _dhi_change(out)
    for column in STRUCTURAL_COLUMNS:
        if column not in out.columns:
            out[column] = np.nan
    for column in ("reader", "graded_on", "dhi_source", "role"):
        out[column] = out[column].fillna("").astype(object)
    out = out.assign(
        _s=out["subject"].map(natural_key), _l=out["level"].map(level_rank)
    ).sort_values(["_s", "months", "_l"])
    return out[list(STRUCTURAL_COLUMNS)].reset_index(drop=True)


def _merge_grades(out: pd.DataFrame, grades: pd.DataFrame, exams: pd.DataFrame) -> pd.DataFrame:
    key = ["subject", "visit", "level"]
    g = grades.merge(exams, on=["subject", "visit"], how="left")
    unknown = g[g["months"].isna()]
    if len(unknown):
        r = unknown.iloc[0]
        raise InputError(
            f"grades: subject {r['subject']} visit {r['visit']} is not an exam of the study"
        )
    merged = out.merge(g, on=[*key], how="outer", suffixes=("", "_g"))
    merged["months"] = merged["months"].fillna(merged["months_g"])
    has = merged["pfirrmann_g"].notna() | merged["pfirrmann_modified_g"].notna()
    merged.loc[has, "reader"] = merged.loc[has, "reader_g"]
    merged.loc[has, "graded_on"] = merged.loc[has, "graded_on_g"]
    merged["pfirrmann"] = (
        merged["pfirrmann_g"].astype("Int64").fillna(merged["pfirrmann"].astype("Int64"))
    )
    merged["pfirrmann_modified"] = merged["pfirrmann_modified_g"].astype("Int64")
    return merged.drop(columns=[c for c in merged.columns if c.endswith("_g")])


def _dhi_change(t: pd.DataFrame) -> np.ndarray:
    change = np.full(len(t), np.nan)
    if not len(t):
        return change
    first = t.loc[t.groupby("subject")["months"].transform("min") == t["months"]]
    baseline = first.set_index(["subject", "level"])["dhi"].to_dict()
    for i, (s, lv, months, dhi) in enumerate(
        zip(t["subject"], t["level"], t["months"], t["dhi"], strict=True)
    ):
        base = baseline.get((s, lv), np.nan)
        is_baseline = months == t.loc[t["subject"] == s, "months"].min()
        if not is_baseline and np.isfinite(base) and np.isfinite(dhi) and base > 0:
            change[i] = 100.0 * (dhi / base - 1.0)
    return change


def write_structural_csv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write :func:`structural_table` as ``structural.csv`` (heights to 0.001 mm, DHI to 1e-4).

    Parameters
    ----------
    table : DataFrame
        :func:`structural_table` output.
    path : path-like
        Destination; written under a temporary name, then renamed.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    out = table[list(STRUCTURAL_COLUMNS)].copy()
    for column in (*_HEIGHTS, "vertebral_height_mm"):
        out[column] = out[column].astype(float).round(3)
    out["dhi"] = out["dhi"].astype(float).round(4)
    out["dhi_change_pct"] = out["dhi_change_pct"].astype(float).round(2)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        out.to_csv(tmp, index=False, lineterminator="\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
