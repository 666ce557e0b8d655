"""Synthetic sagittal lumbar-spine multi-echo spin-echo exams and studies with exact ground truth.

The phantom is what discT2 is developed, tested and demonstrated on:

- :mod:`~discT2.phantom.anatomy`: a parametric lumbar spine (T12-S3, discs T12-L1 ... L5-S1 with
  annulus and nucleus, canal, posterior elements, soft tissues) in patient millimetres;
- :mod:`~discT2.phantom.tissues`: T2/T1/proton density per tissue, from the literature;
- :mod:`~discT2.phantom.signal`: CPMG extended-phase-graph signal per voxel with a smooth B1
  field, T1 weighting, partial volume and Rician noise;
- :mod:`~discT2.phantom.exam`: one exam (:func:`make_exam`) with truth maps, the true disc
  geometry (``discs.json``) and the true T2 of every disc ROI;
- :mod:`~discT2.phantom.study`: a cohort (:func:`make_study`) of subjects x visits with an index
  disc that changes by a known percentage, unchanged controls, repositioning, arms, and the study
  files the pipeline reads (``study.csv``, ``arms.csv``) plus the answer key (``truth.csv``).

See ``docs/reference/phantom.md``.
"""

from discT2.phantom.anatomy import LEVELS, TRUTH_LEVELS, SpineModel, SpineShape
from discT2.phantom.exam import DiscTruth, Exam, Pose, Protocol, make_exam, roi_label
from discT2.phantom.study import (
    PRESETS,
    Study,
    StudyPlan,
    SubjectPlan,
    make_study,
    plan_study,
    preset_plan,
)
from discT2.phantom.tissues import (
    ROI_NAMES,
    TISSUES,
    DiscRelaxation,
    Tissue,
    degenerated_disc,
    healthy_disc,
)

__all__ = [
    "LEVELS",
    "PRESETS",
    "ROI_NAMES",
    "TISSUES",
    "TRUTH_LEVELS",
    "DiscRelaxation",
    "DiscTruth",
    "Exam",
    "Pose",
    "Protocol",
    "SpineModel",
    "SpineShape",
    "Study",
    "StudyPlan",
    "SubjectPlan",
    "Tissue",
    "degenerated_disc",
    "healthy_disc",
    "make_exam",
    "make_study",
    "plan_study",
    "preset_plan",
    "roi_label",
]
