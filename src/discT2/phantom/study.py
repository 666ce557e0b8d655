"""A synthetic disc-regeneration trial: subjects x visits, with the answer key.

:func:`plan_study` draws the cohort (anatomy, degeneration, index and control discs, arm, the
index disc's change, repositioning, scanner vendor, synthetic patient fields) from one seed;
:func:`make_study` simulates and writes it::

    OUT/README.md        what the study is and the command that regenerates it
    OUT/study.csv        subject,visit,months,dicom,index_disc,control_discs,discs
    OUT/arms.csv         subject,arm      (kept apart for blinding)
    OUT/truth.csv        the true change of every ROI of the index and control discs
    OUT/<subject>/<visit>/dicom/ | nifti/ | truth/      (see :mod:`discT2.phantom.exam`)

The baseline row of ``study.csv`` points ``discs`` at the baseline's true ``discs.json`` (it
doubles as the reader's discs file); follow-up rows leave it empty so the pipeline propagates the
baseline geometry.

Change model: at a visit ``months`` after baseline the index disc's ROI T2 is
``T2_0 * (1 + c * months / 12 / 100)`` with ``c`` the subject's change at 12 months (one value for
the three nucleus ROIs, one for the two annulus ROIs); every other disc keeps its T2 exactly.
Proton density, T1 and geometry do not change; the spine is repositioned at every visit.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from discT2._version import __version__
from discT2.errors import InputError
from discT2.phantom.anatomy import LEVELS, SpineShape
from discT2.phantom.exam import Exam, Pose, Protocol, make_exam
from discT2.phantom.tissues import ROI_NAMES, DiscRelaxation, degenerated_disc, healthy_disc

__all__ = [
    "PRESETS",
    "Study",
    "StudyPlan",
    "SubjectPlan",
    "make_study",
    "plan_study",
    "preset_plan",
    "simulate_visit",
    "visit_name",
]

logger = logging.getLogger(__name__)

#: Scanner conventions cycled over subjects by ``vendor='mixed'`` (vendor, enhanced multi-frame).
MIXED_VENDORS: tuple[tuple[str, bool], ...] = (
    ("siemens", False),
    ("ge", False),
    ("philips", False),
    ("siemens", True),
)
#: Sequence settings per vendor (a multicentre trial: same resolution, vendor-typical timing).
VENDOR_SEQUENCE: dict[str, dict[str, Any]] = {
    "siemens": {"echo_spacing_ms": 12.0, "repetition_time_ms": 2000.0, "refocusing_deg": 180.0,
                "field_strength_t": 1.5, "series_description": "t2_se_mc_sag_T2MAP"},
    "ge": {"echo_spacing_ms": 11.5, "repetition_time_ms": 2200.0, "refocusing_deg": 160.0,
           "field_strength_t": 3.0, "series_description": "Sag T2 MAP MESE"},
    "philips": {"echo_spacing_ms": 12.0, "repetition_time_ms": 2000.0, "refocusing_deg": 180.0,
                "field_strength_t": 1.5, "series_description": "T2_MAP_SAG"},
}  # fmt: skip
_SERIES_NUMBER = {"siemens": 12, "ge": 5, "philips": 601}
_ARMS = ("MSC", "sham")
# index disc -> two healthy, non-adjacent control discs
_CONTROLS = {
    "L3-L4": ("L1-L2", "L5-S1"),
    "L4-L5": ("L1-L2", "L2-L3"),
    "L5-S1": ("L2-L3", "L3-L4"),
}
_NATO = ("ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL", "INDIA",
         "JULIETT", "KILO", "LIMA", "MIKE", "NOVEMBER", "OSCAR", "PAPA", "QUEBEC", "ROMEO",
         "SIERRA", "TANGO", "UNIFORM", "VICTOR", "WHISKEY", "XRAY", "YANKEE", "ZULU")  # fmt: skip
_DERIVED = {"NP": (1, 2, 3), "AF": (0, 4), "disc": (0, 1, 2, 3, 4)}

#: Named study presets for :func:`preset_plan` and ``discT2 simulate --preset``.
PRESETS: dict[str, dict[str, Any]] = {
    # the committed sample_data/: small enough for the repository (see sample_data/README.md)
    "sample": {
        "n_subjects": 4,
        "visits_months": (0, 12),
        "seed": 2024,
        "vendor": "mixed",
        "protocol": Protocol(matrix=(96, 120), pixel_mm=1.875, n_slices=3, n_echoes=10),
    },
    # the default of `discT2 simulate`: a cohort at a typical quantitative-T2 resolution
    "cohort": {
        "n_subjects": 12,
        "visits_months": (0, 12, 24),
        "seed": 1,
        "vendor": "mixed",
        "protocol": Protocol(matrix=(128, 160), pixel_mm=1.5, n_slices=5, n_echoes=12),
    },
    # close to a clinical protocol (slower: ~10x the voxels of 'cohort')
    "highres": {
        "n_subjects": 6,
        "visits_months": (0, 12),
        "seed": 3,
        "vendor": "mixed",
        "protocol": Protocol(matrix=(224, 272), pixel_mm=0.875, n_slices=7, n_echoes=16),
    },
}


def preset_plan(name: str, **overrides: Any) -> StudyPlan:
    """The :class:`StudyPlan` of a named preset, with some :func:`plan_study` arguments changed.

    Parameters
    ----------
    name : {'sample', 'cohort', 'highres'}
        The preset (:data:`PRESETS`).
    **overrides
        Arguments of :func:`plan_study` to change; ``None`` values are ignored.

    Examples
    --------
    >>> plan = preset_plan("sample")
    >>> [s.code for s in plan.subjects], plan.visits_months
    (['S01', 'S02', 'S03', 'S04'], (0, 12))
    """
    if name not in PRESETS:
        raise InputError(f"unknown study preset {name!r}; choose one of {sorted(PRESETS)}")
    settings = {**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
    n_subjects = settings.pop("n_subjects")
    return plan_study(n_subjects, **settings)


def visit_name(months: int) -> str:
    """Name of the visit ``months`` after baseline: ``'baseline'``, ``'m12'``, ``'m24'`` ..."""
    months = int(months)
    return "baseline" if months == 0 else f"m{months:02d}"


@dataclass(frozen=True)
class SubjectPlan:
    """Everything that defines one synthetic subject.

    Attributes
    ----------
    code : str
        Subject code used in the study files (``'S01'``); never in the DICOM patient fields.
    arm : str
        Treatment arm (written only to ``arms.csv``).
    shape : SpineShape
        Baseline anatomy and disc relaxation.
    index_disc : str
        The treated disc.
    control_discs : tuple of str
        Two healthy, non-adjacent discs.
    change_pct : dict of str to float
        Change of each ROI of the index disc at 12 months (%).
    poses : dict of str to Pose
        Position of the spine at each visit (repositioning).
    vendor : str
        DICOM conventions of the subject's scanner.
    enhanced : bool
        Enhanced multi-frame DICOM.
    protocol : Protocol
        Acquisition (the same at every visit).
    b1_coefficients : tuple of float
        Transmit-field pattern of the subject (the same at every visit).
    patient : dict of str to str
        Synthetic, identifying-looking DICOM patient fields (for PHI-leak tests).
    baseline_datetime : datetime
        Acquisition date and time of the baseline.
    """

    code: str
    arm: str
    shape: SpineShape
    index_disc: str
    control_discs: tuple[str, str]
    change_pct: dict[str, float]
    poses: dict[str, Pose]
    vendor: str
    enhanced: bool
    protocol: Protocol
    b1_coefficients: tuple[float, ...]
    patient: dict[str, str]
    baseline_datetime: dt.datetime

    def shape_at(self, months: int) -> SpineShape:
        """The subject's anatomy at a visit: the index disc's T2 changed, all else equal.

        Parameters
        ----------
        months : int
            Months after baseline.
        """
        factors = [1.0 + self.change_pct[name] * months / 12.0 / 100.0 for name in ROI_NAMES]
        index = self.shape.disc(self.index_disc).scaled(factors)
        return self.shape.with_discs({self.index_disc: index})

    def acquisition_datetime(self, months: int) -> dt.datetime:
        days = round(30.4375 * months)
        # follow-ups at a slightly different time of day, as in practice
        minutes = 0 if months == 0 else 17 * ((months // 12) % 3) - 20
        return self.baseline_datetime + dt.timedelta(days=days, minutes=minutes)


@dataclass(frozen=True)
class StudyPlan:
    """A cohort: subjects and the visits (months after baseline) every subject has.

    Attributes
    ----------
    subjects : tuple of SubjectPlan
        Anatomy, scanner, index and control discs, arm and change of each subject.
    visits_months : tuple of int
        Visits in months after baseline, starting with 0.
    seed : int
        The seed everything was drawn from.
    description : dict
        The settings of :func:`plan_study`, written into the study's README.
    """

    subjects: tuple[SubjectPlan, ...]
    visits_months: tuple[int, ...]
    seed: int
    description: dict[str, Any] = field(default_factory=dict)


def plan_study(
    n_subjects: int = 4,
    *,
    visits_months: Sequence[int] = (0, 12),
    seed: int = 0,
    vendor: str = "mixed",
    enhanced: bool = False,
    protocol: Protocol | None = None,
    snr: float | None = None,
) -> StudyPlan:
    """Draw a synthetic cohort from ``seed`` (same seed, same study).

    Parameters
    ----------
    n_subjects : int
        Number of subjects (arms alternate in a seeded balanced order).
    visits_months : sequence of int
        Visits in months after baseline; must start with 0.
    seed : int
        Seed of everything random in the study.
    vendor : {'mixed', 'siemens', 'ge', 'philips'}
        DICOM conventions; ``'mixed'`` cycles siemens, ge, philips, siemens-enhanced.
    enhanced : bool
        Write every exam as enhanced multi-frame DICOM.
    protocol : Protocol, optional
        Resolution and echo train (vendor-typical echo spacing, TR and refocusing angle are
        applied on top).
    snr : float, optional
        Override the protocol's SNR.

    Returns
    -------
    StudyPlan
    """
    n_subjects = int(n_subjects)
    if n_subjects < 1:
        raise InputError(f"a study needs at least one subject; got {n_subjects}")
    months = tuple(int(m) for m in visits_months)
    if not months or months[0] != 0 or any(b <= a for a, b in itertools.pairwise(months)):
        raise InputError(
            f"visits must start at 0 (baseline) and increase; got {list(visits_months)}"
        )
    if len(months) < 2:
        raise InputError(
            f"a study needs a baseline and at least one follow-up (e.g. visits 0,12), since its "
            f"truth is the change from baseline; got {list(visits_months)}"
        )
    if vendor != "mixed" and vendor not in VENDOR_SEQUENCE:
        raise InputError(
            f"vendor must be 'mixed' or one of {sorted(VENDOR_SEQUENCE)}; got {vendor!r}"
        )
    protocol = protocol or Protocol()
    if snr is not None:
        protocol = replace(protocol, snr=float(snr))
    rng = np.random.default_rng(seed)
    arms = [_ARMS[i % 2] for i in range(n_subjects)]
    arms = [arms[i] for i in rng.permutation(n_subjects)]
    subjects = []
    for i in range(n_subjects):
        sub_rng = np.random.default_rng([seed, i])
        if vendor == "mixed":
            sub_vendor, sub_enhanced = MIXED_VENDORS[i % len(MIXED_VENDORS)]
        else:
            sub_vendor, sub_enhanced = vendor, False
        subjects.append(
            _plan_subject(
                i, arms[i], sub_rng, months, sub_vendor, sub_enhanced or enhanced, protocol
            )
        )
    return StudyPlan(
        subjects=tuple(subjects),
        visits_months=months,
        seed=int(seed),
        description={"n_subjects": n_subjects, "vendor": vendor, "enhanced": enhanced},
    )


def _plan_subject(
    i: int,
    arm: str,
    rng: np.random.Generator,
    months: tuple[int, ...],
    vendor: str,
    enhanced: bool,
    protocol: Protocol,
) -> SubjectPlan:
    def u(lo, hi):
        return float(np.round(rng.uniform(lo, hi), 3))

    index = ("L3-L4", "L4-L5", "L5-S1")[int(rng.choice(3, p=(0.15, 0.45, 0.4)))]
    controls = _CONTROLS[index]
    scale = u(0.92, 1.08)
    discs: dict[str, DiscRelaxation] = {}
    for level in LEVELS:
        jitter = scale * u(0.96, 1.04)
        if level == index:
            discs[level] = degenerated_disc(jitter, grade=int(rng.choice((3, 4), p=(0.65, 0.35))))
        elif level not in controls and level != "T12-L1" and rng.uniform() < 0.3:
            discs[level] = degenerated_disc(jitter, grade=3)
        else:
            discs[level] = healthy_disc(jitter)
    shape = SpineShape(
        sacral_slope_deg=u(32.0, 44.0),
        lordosis_scale=u(0.85, 1.15),
        body_height_scale=u(0.94, 1.06),
        body_depth_scale=u(0.92, 1.08),
        disc_height_scale=u(0.9, 1.1),
        canal_depth_mm=u(14.0, 18.0),
        spinous_length_mm=u(26.0, 33.0),
        subcutaneous_fat_mm=u(10.0, 28.0),
        lumbar_lift_mm=u(8.0, 20.0),
        discs=discs,
    )
    if arm == "MSC":
        np_change, af_change = u(8.0, 25.0), u(0.0, 8.0)
    else:
        np_change, af_change = -u(2.0, 10.0), -u(0.0, 5.0)
    np_change, af_change = round(np_change, 1), round(af_change, 1)
    change = {name: (np_change if name.startswith("NP") else af_change) for name in ROI_NAMES}
    poses = {}
    for m in months:
        poses[visit_name(m)] = Pose(
            rotation_deg=u(-3.0, 3.0),
            translation_mm=(u(-1.2, 1.2), u(-2.0, 2.0), u(-8.0, 8.0)),
        )
    b1 = tuple(float(v) for v in np.round(rng.normal(0.0, 1.0, 6), 3))
    birth = dt.date(1955, 1, 1) + dt.timedelta(days=int(rng.integers(0, 35 * 365)))
    sub_protocol = replace(protocol, **VENDOR_SEQUENCE[vendor])
    patient = {
        "PatientName": f"PHANTOM^{_NATO[i % len(_NATO)]}"
        + (f"{i // len(_NATO)}" if i >= 26 else ""),
        "PatientID": f"SYN-PHI-{i + 1:04d}",
        "PatientBirthDate": birth.strftime("%Y%m%d"),
        "PatientSex": "F" if i % 2 else "M",
    }
    baseline = dt.datetime(2023, 1, 9, 8, 0) + dt.timedelta(
        days=7 * i, minutes=int(rng.integers(0, 180))
    )
    return SubjectPlan(
        code=f"S{i + 1:02d}",
        arm=arm,
        shape=shape,
        index_disc=index,
        control_discs=controls,
        change_pct=change,
        poses=poses,
        vendor=vendor,
        enhanced=enhanced,
        protocol=sub_protocol,
        b1_coefficients=b1,
        patient=patient,
        baseline_datetime=baseline,
    )


@dataclass
class Study:
    """A written synthetic study: its folder, plan and per-exam ROI truth.

    Attributes
    ----------
    folder : Path
        The study folder (``study.csv``, ``arms.csv``, ``truth.csv``, one folder per subject).
    plan : StudyPlan
        The cohort that was written.
    truth_rows : list of dict
        The rows of ``truth.csv``.
    """

    folder: Path
    plan: StudyPlan
    truth_rows: list[dict[str, Any]]

    @property
    def study_csv(self) -> Path:
        return self.folder / "study.csv"

    @property
    def arms_csv(self) -> Path:
        return self.folder / "arms.csv"

    @property
    def truth_csv(self) -> Path:
        return self.folder / "truth.csv"


def make_study(
    out: str | os.PathLike,
    plan: StudyPlan | None = None,
    *,
    dicom: bool = True,
    nifti: bool = False,
    command: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Study:
    """Simulate and write a synthetic study (see the module docstring for the layout).

    Parameters
    ----------
    out : path-like
        Study folder (created; existing files with the same names are replaced).
    plan : StudyPlan, optional
        The cohort (default: ``plan_study()``).
    dicom, nifti : bool
        Write each exam as DICOM and/or NIfTI + JSON.
    command : str, optional
        The command that made the study, recorded in its README.
    progress : callable, optional
        Called with a short message before each exam.

    Returns
    -------
    Study
    """
    if not (dicom or nifti):
        raise InputError("make_study needs dicom=True or nifti=True (nothing to write)")
    plan = plan or plan_study()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    study_rows, truth_by_exam = [], {}
    for subject in plan.subjects:
        for months in plan.visits_months:
            visit = visit_name(months)
            if progress is not None:
                progress(f"{subject.code} {visit}")
            exam = simulate_visit(subject, months, plan.seed)
            exam_dir = folder / subject.code / visit
            when = subject.acquisition_datetime(months)
            exam.write(
                exam_dir,
                dicom=dicom,
                nifti=nifti,
                vendor=subject.vendor,
                enhanced=subject.enhanced,
                series_number=_SERIES_NUMBER[subject.vendor],
                patient=subject.patient,
                acquisition_datetime=when,
                uid_seed=f"discT2-phantom-{plan.seed}-{subject.code}-{visit}",
            )
            source = f"{subject.code}/{visit}/" + ("dicom" if dicom else "nifti/mese.nii.gz")
            study_rows.append(
                {
                    "subject": subject.code,
                    "visit": visit,
                    "months": months,
                    "dicom": source,
                    "index_disc": subject.index_disc,
                    "control_discs": ";".join(subject.control_discs),
                    "discs": f"{subject.code}/{visit}/truth/discs.json" if months == 0 else "",
                }
            )
            truth_by_exam[(subject.code, months)] = {
                level: (d.roi_t2_ms, d.derived_t2_ms) for level, d in exam.discs.items()
            }
            del exam
    _write_csv(folder / "study.csv", study_rows)
    _write_csv(folder / "arms.csv", [{"subject": s.code, "arm": s.arm} for s in plan.subjects])
    truth_rows = truth_table(plan, truth_by_exam)
    _write_csv(folder / "truth.csv", truth_rows)
    (folder / "README.md").write_text(_readme(plan, command, dicom, nifti))
    return Study(folder=folder, plan=plan, truth_rows=truth_rows)


def simulate_visit(subject: SubjectPlan, months: int, seed: int, **kwargs: Any) -> Exam:
    """Simulate one subject's exam at one visit (deterministic in ``seed``)."""
    visit = visit_name(months)
    return make_exam(
        subject.shape_at(months),
        protocol=subject.protocol,
        pose=subject.poses[visit],
        b1_coefficients=subject.b1_coefficients,
        seed=[int(seed), int(subject.code[1:]), int(months), 7],
        **kwargs,
    )


def truth_table(plan: StudyPlan, truth_by_exam: dict) -> list[dict[str, Any]]:
    """Rows of ``truth.csv``: true T2 change per subject x disc x ROI x follow-up visit.

    Columns mirror the pipeline's ``changes.csv`` (docs/reference/formats.md); ``roi`` is one of
    the five ROIs or the derived ``NP``, ``AF``, ``disc`` (voxel-weighted on each exam's
    mid-sagittal slice). ``category`` uses tau = 0 on values rounded to 0.1 %.
    """
    rows = []
    rois = (*ROI_NAMES, *_DERIVED)
    for subject in plan.subjects:
        base = truth_by_exam[(subject.code, 0)]
        discs = [(subject.index_disc, "index")] + [(c, "control") for c in subject.control_discs]
        for months in plan.visits_months[1:]:
            now = truth_by_exam[(subject.code, months)]
            values = {}
            for level, _ in discs:
                for roi in rois:
                    values[level, roi] = (_roi_value(base[level], roi), _roi_value(now[level], roi))
            for level, role in discs:
                for roi in rois:
                    t2_0, t2_t = values[level, roi]
                    pct = 100.0 * t2_t / t2_0
                    change = pct - 100.0
                    row = {
                        "subject": subject.code,
                        "level": level,
                        "role": role,
                        "roi": roi,
                        "visit": visit_name(months),
                        "months": months,
                        "baseline_t2_ms": _fmt(t2_0),
                        "t2_ms": _fmt(t2_t),
                        "pct_of_baseline": _fmt(pct),
                        "change_pct": _fmt(change),
                        "category": _category(change),
                        "control_change_pct": "",
                        "treated_minus_control_pct": "",
                        "ratio_change_pct": "",
                    }
                    if role == "index":
                        controls = [values[c, roi] for c in subject.control_discs]
                        control_change = float(
                            np.mean([100.0 * t / b - 100.0 for b, t in controls])
                        )
                        ratio_t = t2_t / np.mean([t for _, t in controls])
                        ratio_0 = t2_0 / np.mean([b for b, _ in controls])
                        row["control_change_pct"] = _fmt(control_change)
                        row["treated_minus_control_pct"] = _fmt(change - control_change)
                        row["ratio_change_pct"] = _fmt(100.0 * (ratio_t / ratio_0 - 1.0))
                    rows.append(row)
    return rows


def _roi_value(disc_truth: tuple[dict, dict], roi: str) -> float:
    rois, derived = disc_truth
    return float(rois[roi] if roi in rois else derived[roi])


def _category(change_pct: float) -> str:
    value = round(change_pct, 1)
    if value > 0:
        return "regeneration"
    if value < 0:
        return "degeneration"
    return "no evolution"


def _fmt(value: float) -> str:
    return f"{float(value):.6f}"


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _readme(plan: StudyPlan, command: str | None, dicom: bool, nifti: bool) -> str:
    p0 = plan.subjects[0].protocol
    lines = [
        "# Synthetic lumbar-spine T2 study (discT2 phantom)",
        "",
        "Synthetic data with exact ground truth, made by `discT2.phantom` "
        f"(discT2 {__version__}). No real person is in it: the DICOM patient fields "
        "(`PHANTOM^...`, `SYN-PHI-...`, birth dates) are invented and only *look* identifying, so "
        "that tests can check that no patient field leaks into discT2's outputs.",
        "",
        "Regenerate it (the result is identical for the same discT2 version):",
        "",
        f"    {command or 'discT2 simulate OUT'}",
        "",
        "(add `--force` to write over an existing study folder).",
        "",
        "## Design",
        "",
        f"- {len(plan.subjects)} subjects, visits at months "
        f"{', '.join(str(m) for m in plan.visits_months)} (`baseline`, `m12`, ...); seed "
        f"{plan.seed}.",
        "- Each subject has one degenerated **index** disc whose T2 changes between visits (arm "
        "`MSC`: nucleus +8 to +25 % and annulus 0 to +8 % at 12 months; arm `sham`: -2 to -10 % "
        "and 0 to -5 %; linear in time) and two healthy, non-adjacent **control** discs whose "
        "T2 does not change at all. Arms are in `arms.csv` only.",
        "- Every visit repositions the spine (rotation up to 3 degrees in the sagittal plane, "
        "shifts up to 2 mm AP, 8 mm SI and 1.2 mm left-right, i.e. a slice offset).",
        f"- Sagittal multi-echo spin echo: {p0.matrix[0]} x {p0.matrix[1]} pixels of "
        f"{p0.pixel_mm} mm, {p0.n_slices} slices of {p0.slice_thickness_mm} mm "
        f"(gap {p0.slice_gap_mm} mm), {p0.n_echoes} echoes; echo spacing, TR and refocusing "
        "angle as the subject's scanner would use (below). Signal from a CPMG extended phase "
        f"graph with B1 {p0.b1_range[0]}-{p0.b1_range[1]} over the field of view, T1 "
        "weighting, partial volume, a posterior coil, and Rician noise.",
        "",
        "| subject | DICOM conventions | echo spacing (ms) | TR (ms) | refocusing (deg) | "
        "index disc | controls |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in plan.subjects:
        kind = s.vendor + (" enhanced multi-frame" if s.enhanced else " classic")
        lines.append(
            f"| {s.code} | {kind} | {s.protocol.echo_spacing_ms:g} | "
            f"{s.protocol.repetition_time_ms:g} | {s.protocol.refocusing_deg:g} | {s.index_disc} | "
            f"{', '.join(s.control_discs)} |"
        )
    lines += [
        "",
        "## Files",
        "",
        "- `study.csv`: the study manifest (docs/reference/formats.md). `dicom` is the exam's "
        + ("DICOM folder" if dicom else "NIfTI file")
        + "; `discs` is the baseline's true `discs.json` (the reader's disc corners), empty at "
        "follow-ups so that the pipeline propagates the baseline geometry.",
        "- `arms.csv`: treatment arm per subject (unblinding).",
        "- `truth.csv`: the answer key, laid out like the pipeline's `changes.csv`: per subject, "
        "index/control disc, ROI (the five ROIs, and NP, AF, disc voxel-weighted on each exam's "
        "mid-sagittal slice) and follow-up visit, the true baseline and follow-up T2, % of "
        "baseline, change, category (tau = 0 after rounding to 0.1 %) and, on index rows, the "
        "treated-vs-control difference and ratio change.",
        "- `<subject>/<visit>/dicom/`: the exam as the scanner would write it"
        + (" (also `nifti/mese.nii.gz` + `mese.json`)." if nifti and dicom else "."),
        "- `<subject>/<visit>/truth/`: ground truth on the exam grid: `t2.nii.gz`, `t1.nii.gz` "
        "(ms), `s0.nii.gz`, `b1.nii.gz`, `labels.nii.gz` (tissue at each voxel centre), "
        "`purity.nii.gz` (fraction of the voxel that is that tissue), `rois.nii.gz` + `rois.json` "
        "(the true ROI bands, label 10 n + k), `discs.json` (true corners, outline, centre and "
        "mid-sagittal slice of each lumbar disc, RAS mm) and `truth.json` (true T2 per ROI, voxel "
        "counts, B1, echo-1 SNR, and the exam's parameters).",
        "",
        "Within each ROI band the true T2 is constant, so the ROI truth does not depend on how "
        "many voxels an ROI keeps (endplate margins, multi-slice). See "
        "`docs/reference/phantom.md` for the anatomy, tissue values and signal model.",
        "",
    ]
    return "\n".join(lines)
