"""``discT2 report DIR``: change tables, trial tables (after unblinding) and the HTML report.

Reads ``DIR/measurements.csv`` (and ``changes.csv``, ``exams.csv``, ``errors.csv`` and the per-exam
maps when present), writes ``DIR/report.html``, ``DIR/trial_table.csv`` when ``--arms`` is given,
and ``DIR/changes.csv`` when it had to be (re)computed.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from discT2.errors import InputError, StudyError
from discT2.report import (
    ENDPOINTS,
    change_table,
    exam_map_figures,
    protocol_drift,
    read_arms,
    read_changes,
    read_errors,
    read_exams,
    read_measurements,
    trial_table,
    write_report,
    write_table,
)

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``discT2 report``."""
    parser = subparsers.add_parser(
        "report",
        help="change and trial tables and the HTML report of a study folder",
        description="Make the change table, the trial table (with --arms, after unblinding) and "
        "report.html of a study folder that holds measurements.csv. Without --arms the report "
        "stays blinded.",
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
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``discT2 report``; returns the exit status."""
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
    tau_used = float(changes["tau_pct"].iloc[0]) if len(changes) else float(args.tau or 0.0)
    report = write_report(
        folder / "report.html",
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
    )
    print(report)
    return 0


def _changes(folder: Path, measurements, exams, args: argparse.Namespace):
    """The change table: DIR/changes.csv when it is current and has the tau asked for, else new."""
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
