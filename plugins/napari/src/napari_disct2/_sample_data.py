"""Sample data: the first exam of discT2's bundled synthetic study, fitted.

``File > Open Sample > discT2``: the baseline (and, for the follow-up review, the 12-month visit)
of the study's first subject, as echo images plus the T2 map that ``discT2 fit`` makes of them
(method ``nlls``). The study is synthetic; nothing about treatment arms is read.
"""

from __future__ import annotations

import csv
from typing import Any

from napari_disct2._exam import Exam

__all__ = ["sample_exam", "sample_followup", "sample_paths"]


def sample_paths() -> list[tuple[str, str, Any]]:
    """``(subject, visit, DICOM folder)`` of the first subject's exams, in study order."""
    from discT2 import sample_study

    root = sample_study()
    with open(root / "study.csv", newline="") as fh:
        rows = [(r["subject"], r["visit"], root / r["dicom"]) for r in csv.DictReader(fh)]
    first = rows[0][0]
    return [r for r in rows if r[0] == first]


def load_exam(index: int = 0) -> Exam:
    """Exam ``index`` (0 baseline, 1 follow-up) of the first subject, with its T2 map fitted."""
    from discT2 import fit_t2, load_series

    subject, visit, folder = sample_paths()[index]
    series = load_series(folder)
    return Exam(f"{subject} {visit}", series=series, t2map=fit_t2(series), source=str(folder))


def sample_exam() -> list[tuple[Any, dict[str, Any], str]]:
    """The first exam of the sample study: echo images, T2 map, S0 and T2 uncertainty."""
    exam = load_exam(0)
    return [exam.series_layer(), *exam.map_layers()]


def sample_followup() -> list[tuple[Any, dict[str, Any], str]]:
    """The same subject's follow-up exam, for the review of propagated ROIs."""
    exam = load_exam(1)
    return [exam.series_layer(), *exam.map_layers()]
