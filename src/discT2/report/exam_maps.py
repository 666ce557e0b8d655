"""T2-map figures of a study folder: each disc at each visit, its five ROIs outlined.

A study folder keeps each exam's outputs under ``DIR/<subject>/<visit>/`` (see
docs/reference/formats.md): the fitted ``t2.nii.gz`` and the ROI step's ``rois.nii.gz`` (with
``rois.json`` beside it), at any depth below the exam folder. Exams without both files are skipped
(with a note): the figures are an aid to review, never a reason to fail the report.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from discT2.errors import InputError
from discT2.io.nifti import load_map
from discT2.report._names import FIVE_ROIS, LEVEL_ORDER, level_rank
from discT2.report._visits import natural_key
from discT2.report.figures import T2_RANGE_MS, figure_to_png, plot_t2_rois
from discT2.report.html import MapFigure

__all__ = ["disc_roi_names", "exam_map_figures"]

logger = logging.getLogger(__name__)


def disc_roi_names(level: str, label_table: dict | None = None) -> dict[int, str]:
    """Label values of one disc's five ROIs in ``rois.nii.gz``, mapped to the ROI names.

    Parameters
    ----------
    level : str
        Disc level, e.g. ``'L4-L5'``.
    label_table : dict, optional
        The ``labels`` object of ``rois.json`` (``{"41": {"level": "L4-L5", "roi":
        "AF_anterior"}, ...}``). Without it, the convention label = 10 x (position of the level,
        T12-L1 = 0 ... L5-S1 = 5) + ROI number 1..5.

    Returns
    -------
    dict
        ``{label: roi_name}``, empty when the level is unknown.

    Examples
    --------
    >>> disc_roi_names("L4-L5")[41], disc_roi_names("L4-L5")[45]
    ('AF_anterior', 'AF_posterior')
    """
    if label_table:
        return {
            int(value): str(entry["roi"])
            for value, entry in label_table.items()
            if isinstance(entry, dict) and entry.get("level") == level and entry.get("roi")
        }
    if level not in LEVEL_ORDER:
        return {}
    n = LEVEL_ORDER.index(level)
    return {10 * n + k: name for k, name in enumerate(FIVE_ROIS, start=1)}


def _find(folder: Path, name: str) -> Path | None:
    hits = sorted(folder.rglob(name), key=lambda p: (len(p.parts), str(p)))
    return hits[0] if hits else None


def exam_map_figures(
    study_dir: str | os.PathLike,
    measurements: pd.DataFrame,
    *,
    roles: Sequence[str] = ("index", "control"),
    t2_range_ms: tuple[float, float] = T2_RANGE_MS,
    notes: list[str] | None = None,
) -> list[MapFigure]:
    """Make a T2-map figure per subject, disc (of the given roles) and visit in a study folder.

    Parameters
    ----------
    study_dir : path-like
        The study output folder (``DIR`` of ``discT2 run``/``report``).
    measurements : DataFrame
        The measurements table: which subjects, visits, discs and roles exist.
    roles : sequence of str
        Disc roles to draw.
    t2_range_ms : (float, float)
        Colour scale (ms).
    notes : list of str, optional
        Collects a line for every exam skipped.

    Returns
    -------
    list of MapFigure
        In subject, disc, months order.
    """
    study_dir = Path(study_dir)
    wanted = measurements[measurements["role"].isin(list(roles))]
    exams = wanted[["subject", "visit", "months"]].drop_duplicates()
    exams = exams.assign(_k=exams["subject"].map(natural_key)).sort_values(["_k", "months"])
    figures: dict[tuple[str, str], list[tuple[float, MapFigure]]] = {}
    for subject, visit, months, _ in exams.itertuples(index=False):
        folder = study_dir / str(subject) / str(visit)
        t2_path = _find(folder, "t2.nii.gz") if folder.is_dir() else None
        rois_path = _find(folder, "rois.nii.gz") if folder.is_dir() else None
        if t2_path is None or rois_path is None:
            _note(
                notes,
                f"subject {subject} visit {visit}: no t2.nii.gz and rois.nii.gz under "
                f"{subject}/{visit}; no T2-map figure.",
            )
            continue
        try:
            t2_ms, affine = load_map(t2_path)
            labels, _ = load_map(rois_path)
        except InputError as exc:
            _note(notes, f"subject {subject} visit {visit}: {exc}; no T2-map figure.")
            continue
        label_table = _label_table(rois_path.with_name("rois.json"))
        discs = wanted[(wanted["subject"] == subject) & (wanted["visit"] == visit)]
        for level, role in discs[["level", "role"]].drop_duplicates().itertuples(index=False):
            names = disc_roi_names(level, label_table)
            try:
                fig = plot_t2_rois(
                    np.asarray(t2_ms, float),
                    np.rint(labels).astype(np.int32),
                    affine=affine,
                    roi_names=names,
                    t2_range_ms=t2_range_ms,
                    title=f"{subject} · {level} ({role}) · {visit}",
                )
            except InputError as exc:
                _note(notes, f"subject {subject} visit {visit} disc {level}: {exc}; no figure.")
                continue
            # PNG now: a large study must not hold hundreds of live figures in memory.
            caption = f"Subject {subject}, {level} ({role} disc), {visit} ({months:g} months)"
            figures.setdefault((subject, level), []).append(
                (months, MapFigure(str(subject), caption, figure_to_png(fig)))
            )
    ordered = sorted(figures.items(), key=lambda kv: (natural_key(kv[0][0]), level_rank(kv[0][1])))
    return [mf for _, items in ordered for _, mf in sorted(items, key=lambda t: t[0])]


def _label_table(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        labels = json.loads(path.read_text(encoding="utf-8")).get("labels")
    except (OSError, ValueError, AttributeError):
        logger.warning("%s: not readable JSON; using the label numbering convention", path)
        return None
    return labels if isinstance(labels, dict) else None


def _note(notes: list[str] | None, text: str) -> None:
    logger.info("%s", text)
    if notes is not None:
        notes.append(text)
