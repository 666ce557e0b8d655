"""The committed sample study and generated phantom exams, with their truth, for the ROI tests.

Every exam is loaded once per session: the DICOM series, its EPG T2 map (fitted on demand), the
true disc geometry (``discs.json``), the true ROI bands (``rois.nii.gz``, label ``10 n + k`` as
discT2 writes them), the true T2 map and the true T2 of every ROI (``truth.json``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from discT2 import fit_t2, load_series
from discT2.roi.levels import LEVELS

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
SUBJECTS = ("S01", "S02", "S03", "S04")
VISITS = ("baseline", "m12")
EXAMS = tuple((s, v) for s in SUBJECTS for v in VISITS)


@dataclass
class PhantomExam:
    """One exam and its ground truth."""

    name: str
    series: Any
    discs: dict[str, dict[str, Any]]  # level -> discs.json entry (corners, outline, centre)
    labels: np.ndarray  # true ROI bands
    mid: int  # the mid-sagittal slice the truth lies on
    truth_t2: np.ndarray  # true T2 (ms) at each voxel centre
    roi_t2: dict[str, dict[str, float]]  # level -> ROI name -> true T2 (ms)
    _t2map: Any = field(default=None, repr=False)

    @property
    def t2map(self) -> Any:
        """The EPG fit of the series (the fit the study runner uses), made on first use."""
        if self._t2map is None:
            log = logging.getLogger("discT2")
            level = log.level
            log.setLevel(logging.ERROR)  # the fit's "assuming 180 deg" notes, for this fit only
            try:
                self._t2map = fit_t2(self.series, method="epg")
            finally:
                log.setLevel(level)
        return self._t2map

    def corners(self, level: str) -> dict[str, np.ndarray]:
        return {n: np.asarray(p, float) for n, p in self.discs[level]["corners_ras_mm"].items()}

    def point(self, level: str, t: float, s: float) -> np.ndarray:
        """The point at fraction t from anterior to posterior and s from inferior to superior."""
        c = self.corners(level)
        upper = c["AS"] + t * (c["PS"] - c["AS"])
        lower = c["AI"] + t * (c["PI"] - c["AI"])
        return lower + s * (upper - lower)

    def in_view(self, level: str, margin_vox: float = 2.0) -> bool:
        """Whether the true disc lies inside the field of view (its truth is complete)."""
        ijk = self.series.world_to_voxel(np.array(list(self.corners(level).values())))
        upper = np.asarray(self.series.shape[:2], float) - 1 - margin_vox
        return bool(np.all(ijk[:, :2] >= margin_vox) and np.all(ijk[:, :2] <= upper))


@cache
def sample_exam(subject: str, visit: str) -> PhantomExam:
    """An exam of the committed sample study (DICOM as a scanner writes it)."""
    folder = SAMPLE / subject / visit
    series = load_series(folder / "dicom")
    discs = json.loads((folder / "truth" / "discs.json").read_text())
    truth = json.loads((folder / "truth" / "truth.json").read_text())
    return PhantomExam(
        name=f"{subject}/{visit}",
        series=series,
        discs={d["level"]: d for d in discs["discs"]},
        labels=np.asarray(nib.load(folder / "truth" / "rois.nii.gz").dataobj).astype(int),
        mid=int(discs["mid_sagittal_slice"]),
        truth_t2=np.asarray(nib.load(folder / "truth" / "t2.nii.gz").dataobj, float),
        roi_t2={
            d["level"]: {name: r["t2_ms"] for name, r in d["rois"].items()} for d in truth["discs"]
        },
    )


@cache
def generated_exam(preset: str, subject: int, months: int = 0) -> PhantomExam:
    """An exam of a generated cohort (``discT2.phantom.preset_plan``), other anatomy and vendor."""
    from discT2.phantom import preset_plan

    return _simulated(preset, preset_plan(preset, n_subjects=subject + 1), subject, months)


@cache
def mixed_vendor_exam(seed: int, subject: int, months: int) -> PhantomExam:
    """An exam of a 4-subject mixed-vendor cohort at the sample protocol without supersampling
    (as the study-runner tests generate it): anatomy and lordosis drawn from ``seed``."""
    from dataclasses import replace

    from discT2.phantom import PRESETS, plan_study

    # the images these hard cases were found on: a uniform slice at SNR 150, the phantom's
    # defaults before it simulated the 2-D slice profile (the same seeds give other images now)
    protocol = replace(PRESETS["sample"]["protocol"], supersample=1, slice_profile=False, snr=150.0)
    plan = plan_study(4, visits_months=(0, 6, 12), seed=seed, vendor="mixed", protocol=protocol)
    return _simulated(f"mixed{seed}", plan, subject, months)


def _simulated(name: str, plan: Any, subject: int, months: int) -> PhantomExam:
    from discT2.phantom.study import simulate_visit

    exam = simulate_visit(plan.subjects[subject], months, plan.seed)
    return PhantomExam(
        name=f"{name}/S{subject + 1:02d}/m{months}",
        series=exam.series,
        discs={lv: d.discs_json_entry() for lv, d in exam.discs.items()},
        labels=exam.roi_labels.astype(int),
        mid=exam.mid_slice,
        truth_t2=np.asarray(exam.truth.t2_ms, float),
        roi_t2={lv: dict(d.roi_t2_ms) for lv, d in exam.discs.items()},
    )


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / float(total)


def roi_dice(labels: np.ndarray, truth: np.ndarray, level: str, k: int) -> np.ndarray:
    """Dice of the five ROIs of one disc on slice k."""
    n = LEVELS.index(level)
    return np.array(
        [dice(labels[:, :, k] == 10 * n + r, truth[:, :, k] == 10 * n + r) for r in range(1, 6)]
    )
