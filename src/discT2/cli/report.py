"""``discT2 report DIR``: change tables, trial tables (after unblinding) and the HTML report.

Reads ``DIR/measurements.csv`` (and ``changes.csv``, ``exams.csv``, ``errors.csv``, ``run.json``
and the per-exam maps when present), writes ``DIR/report_BLINDED.html``, or with ``--arms``
``DIR/report_UNBLINDED.html`` with ``trial_table.csv`` (long form), ``trial_endpoints.csv`` and
``trial_endpoints.xlsx`` (the published layout), ``DIR/structural.csv`` (disc height index and
reader grades per visit, with ``--grades`` or ``DIR/grades.csv``) when the exams have disc
geometry, and ``DIR/changes.csv`` when it had to be (re)computed. The ROI review notes of
``run.json`` are listed in both reports.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from discT2.cli._choices import ENDPOINTS
from discT2.cli._parser import Example
from discT2.errors import InputError, StudyError

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)


#: Shown by ``discT2 report --help`` and on the command-line reference page.
EXAMPLES = (
    Example("discT2 report study_out/", "the blinded report of a folder 'discT2 run' wrote"),
    Example(
        "discT2 report study_out/ --arms sample_data/arms.csv --tau 10",
        "after unblinding: the trial tables per arm, category threshold 10 %",
    ),
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``discT2 report``."""
    parser = subparsers.add_parser(
        "report",
        examples=EXAMPLES,
        help="change and trial tables and the HTML report of a study folder",
        description="Make the change table, the trial table (with --arms, after unblinding) and "
        "report of a study folder that holds measurements.csv: report_BLINDED.html, or with "
        "--arms report_UNBLINDED.html and the trial tables (trial_table.csv, and "
        "trial_endpoints.csv/.xlsx in the published layout).",
    )
    parser.add_argument("dir", metavar="DIR", type=Path, help="study folder (discT2 run -o DIR)")
    parser.add_argument(
        "--arms",
        type=Path,
        metavar="CSV",
        help="allocation file with columns subject,arm; unblinds the report",
    )
    parser.add_argument(
        "--tau",
        type=float,
        metavar="PCT",
        default=None,
        help="category threshold tau in %% (default: that of DIR/changes.csv, else 0)",
    )
    parser.add_argument(
        "--endpoint",
        nargs="+",
        choices=list(ENDPOINTS),
        metavar="NAME",
        default=["change_pct", "treated_minus_control_pct"],
        help="trial endpoints: " + ", ".join(ENDPOINTS) + " (default: the first two)",
    )
    parser.add_argument("--reference-arm", metavar="ARM", help="arm the others are compared with")
    parser.add_argument(
        "--primary-roi",
        metavar="ROI",
        default=None,
        help="ROI of the primary-endpoint table (default NP); its endpoint is the first --endpoint",
    )
    parser.add_argument(
        "--statistic",
        choices=("mean", "median"),
        default="mean",
        help="ROI T2 summary used for the changes (default mean)",
    )
    parser.add_argument(
        "--max-time-shift",
        type=float,
        default=2.0,
        metavar="HOURS",
        help="flag follow-ups acquired more than this many hours from the baseline time of day",
    )
    parser.add_argument("--no-maps", action="store_true", help="leave the T2-map figures out")
    parser.add_argument(
        "--grades",
        type=Path,
        metavar="CSV",
        help="reader grades (subject,visit,level,pfirrmann,pfirrmann_modified,reader,graded_on; "
        "default DIR/grades.csv when present)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``discT2 report``; returns the exit status."""
    from discT2.report import (
        REPORT_BLINDED,
        REPORT_UNBLINDED,
        exam_map_figures,
        protocol_drift,
        read_arms,
        read_errors,
        read_exams,
        read_measurements,
        trial_table,
        write_report,
        write_table,
    )

    folder: Path = args.dir
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder (expected a study folder with measurements.csv)")
    m_path = folder / "measurements.csv"
    measurements = read_measurements(m_path, statistic=args.statistic)
    exams_path = folder / "exams.csv"
    exams = read_exams(exams_path) if exams_path.is_file() else None
    errors_path = folder / "errors.csv"
    errors = read_errors(errors_path) if errors_path.is_file() else None
    arms = None if args.arms is None else read_arms(args.arms)
    if arms is not None:
        _check_arms_subjects(arms, args.arms, folder, measurements, exams, errors)
    changes = _changes(folder, measurements, exams, args)
    drift = (
        protocol_drift(exams, max_time_shift_h=args.max_time_shift, missing_baseline="skip")
        if exams is not None
        else None
    )

    trial = None
    if arms is not None:
        tau = float(changes["tau_pct"].iloc[0]) if len(changes) else float(args.tau or 0.0)
        trial = trial_table(
            changes,
            arms,
            tau_pct=tau,
            endpoint=args.endpoint,
            reference_arm=args.reference_arm,
            source=str(folder / "changes.csv"),
            arms_source=str(args.arms),
        )
        print(write_table(trial, folder / "trial_table.csv", kind="trial"))
        for path in _published(folder, trial, args, tau):
            print(path)

    missing_maps: list[str] = []
    maps = [] if args.no_maps else exam_map_figures(folder, measurements, notes=missing_maps)
    notes = (
        [
            f"T2-map figures: {len(maps)} drawn; {len(missing_maps)} exams or discs without one "
            "(the log names them)."
        ]
        if missing_maps
        else []
    )
    notes += _run_notes(folder)
    structural = _structural(folder, measurements, args)
    tau_used = float(changes["tau_pct"].iloc[0]) if len(changes) else float(args.tau or 0.0)
    report = write_report(
        folder / (REPORT_BLINDED if arms is None else REPORT_UNBLINDED),
        changes,
        measurements=measurements,
        arms=arms,
        trial=trial,
        errors=errors,
        drift=drift,
        map_figures=maps,
        tau_pct=tau_used,
        statistic=args.statistic,
        endpoints=args.endpoint,
        notes=notes,
        primary_roi=args.primary_roi,
        structural=structural,
    )
    print(report)
    return 0


def _published(folder: Path, trial, args: argparse.Namespace, tau: float) -> list[Path]:
    """The trial tables in the published layout: ``trial_endpoints.csv`` and ``.xlsx``."""
    from discT2.report.published import (
        primary_table,
        published_table,
        write_published_csv,
        write_published_xlsx,
    )

    if not len(trial):
        return []
    endpoints = published_table(trial)
    primary = primary_table(trial, roi=args.primary_roi)
    notes = [
        "Treated disc of each subject; n allocated per arm in the header.",
        f"Categories: regeneration change > +{tau:g} %, degeneration < -{tau:g} %, no evolution "
        "otherwise (changes rounded to 0.1 % first).",
        "Difference of the means with 95 % CI and p: Welch's t-test; median row: Mann-Whitney U; "
        "categories: chi-square, or Fisher's exact test (2x2, or an expected count < 5).",
        "p-values two-sided, not adjusted for the many ROIs and visits.",
    ]
    title = "discT2 trial tables - UNBLINDED (treatment allocation shown)"
    return [
        write_published_csv(folder / "trial_endpoints.csv", endpoints),
        write_published_xlsx(
            folder / "trial_endpoints.xlsx", primary, endpoints, trial, title=title, notes=notes
        ),
    ]


def _structural(folder: Path, measurements, args: argparse.Namespace):
    """DHI and reader grades per visit (``DIR/structural.csv``), when any exam has geometry."""
    from discT2.report.structural import read_grades, structural_table, write_structural_csv

    path = args.grades or (folder / "grades.csv")
    grades = read_grades(path) if args.grades or path.is_file() else None
    table = structural_table(folder, measurements, grades=grades)
    if len(table):
        print(write_structural_csv(table, folder / "structural.csv"))
    return table


def _run_notes(folder: Path) -> list[str]:
    """The ROI review notes of ``DIR/run.json`` (``discT2 run``), so unblinding keeps them."""
    path = folder / "run.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        exams = list(doc.get("exams") or [])
    except (OSError, ValueError, AttributeError, TypeError):
        return []
    notes = []
    for exam in exams:
        if not isinstance(exam, dict):
            continue
        review = exam.get("review") or []
        if review and exam.get("status") in ("ok", "partial"):
            label = f"{exam.get('subject')}/{exam.get('visit')}"
            notes.append(f"{label}: review the ROIs: {'; '.join(map(str, review))}.")
    return notes


def _changes(folder: Path, measurements, exams, args: argparse.Namespace):
    """The change table: DIR/changes.csv when it is current and has the tau asked for, else new."""
    import numpy as np

    from discT2.report import change_table, read_changes, write_table

    c_path = folder / "changes.csv"
    existing = read_changes(c_path) if c_path.is_file() else None
    if existing is not None:
        taus = set(existing["tau_pct"].dropna())
        stale = c_path.stat().st_mtime < (folder / "measurements.csv").stat().st_mtime
        same_tau = args.tau is None or taus == {float(args.tau)}
        if len(taus) == 1 and same_tau and not stale and args.statistic == "mean":
            logger.info("using %s (tau %g %%)", c_path, next(iter(taus)))
            return existing
    tau = args.tau
    if tau is None:
        known = set(existing["tau_pct"].dropna()) if existing is not None else set()
        tau = next(iter(known)) if len(known) == 1 else 0.0
    changes = change_table(
        measurements,
        tau_pct=tau,
        statistic=args.statistic,
        exams=exams,
        max_time_shift_h=args.max_time_shift,
        missing_baseline="skip",
        source=str(folder / "measurements.csv"),
    )
    if exams is None and existing is not None and len(changes):
        # Drift flags came from exam metadata this folder no longer has: keep them per exam.
        flags = existing.drop_duplicates(["subject", "visit"]).set_index(["subject", "visit"])
        kept = [
            flags["protocol_flags"].get((s, v), "")
            for s, v in zip(changes["subject"], changes["visit"], strict=True)
        ]
        merged = [
            ";".join(dict.fromkeys(x for x in f"{a};{b}".split(";") if x))
            for a, b in zip(kept, changes["protocol_flags"], strict=True)
        ]
        changes["protocol_flags"] = np.array(merged, dtype=object)
    logger.info("computed the change table with tau %g %%", tau)
    print(write_table(changes, c_path, kind="changes"))
    return changes


def _check_arms_subjects(arms, arms_path: Path, folder: Path, *tables) -> None:
    """Refuse an allocation naming subjects the study does not have (before anything is written).

    A subject of ``arms.csv`` that is in none of the study's tables (measurements, exams,
    errors) is a typo or another study's subject, not a dropout.
    """
    known: set[str] = set()
    for table in tables:
        if table is not None and "subject" in table:
            known.update(str(s) for s in table["subject"].dropna())
    unknown = sorted({str(s) for s in arms["subject"]} - known)
    if unknown:
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        listed = ", ".join(unknown[:10]) + more
        raise StudyError(
            f"{arms_path}: {len(unknown)} subject(s) not in the study {folder}: {listed}; "
            "correct arms.csv, or give the output folder of the study it allocates"
        )
