"""``discT2 agreement RUN_A RUN_B -o DIR``: reader agreement between two sets of ROI measurements.

RUN_A and RUN_B are study folders (``discT2 run``) or measurement CSVs (``discT2 measure``) of the
same discs measured twice: two readers, one reader twice, or test-retest exams. Writes
``DIR/agreement.csv``, ``DIR/agreement_pairs.csv`` and ``DIR/agreement.html``.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from discT2.cli._parser import Example
from discT2.errors import InputError

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)

#: Shown by ``discT2 agreement --help`` and on the command-line reference page.
EXAMPLES = (
    Example(
        'discT2 agreement reader1_out/ reader2_out/ -o agreement/ --label-a "reader 1" '
        '--label-b "reader 2"',
        "two readers placed the ROIs of the same exams (two 'discT2 run' folders)",
    ),
    Example(
        "discT2 agreement session1.csv session2.csv -o retest/ --statistic median",
        "test-retest, or one reader twice, from two measurement CSVs of 'discT2 measure'",
    ),
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``discT2 agreement``."""
    parser = subparsers.add_parser(
        "agreement",
        examples=EXAMPLES,
        help="reader agreement of two ROI measurement sets (ICC, Bland-Altman, CV, MDC)",
        description="Compare two measurements of the same discs (two readers, one reader twice, "
        "test-retest): per ROI and per disc level, ICC(2,1) and ICC(3,1) with 95% CI, "
        "Bland-Altman bias and limits of agreement, within-subject CV and the minimal "
        "detectable change. Writes agreement.csv, agreement_pairs.csv and agreement.html.",
    )
    parser.add_argument("run_a", metavar="RUN_A", type=Path, help="study folder or CSV of A")
    parser.add_argument("run_b", metavar="RUN_B", type=Path, help="study folder or CSV of B")
    parser.add_argument(
        "-o", "--out", type=Path, required=True, metavar="DIR", help="output folder"
    )
    parser.add_argument("--label-a", metavar="NAME", help="name of A (default its path)")
    parser.add_argument("--label-b", metavar="NAME", help="name of B (default its path)")
    parser.add_argument(
        "--statistic",
        choices=("mean", "median"),
        default="mean",
        help="ROI T2 statistic compared (default mean)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``discT2 agreement``; returns the exit status."""
    from discT2.report.agreement import (
        AGREEMENT_COLUMNS,
        agreement_table,
        pair_measurements,
        read_reader_measurements,
        render_agreement_report,
    )

    a = read_reader_measurements(args.run_a, statistic=args.statistic)
    b = read_reader_measurements(args.run_b, statistic=args.statistic)
    pairs, notes = pair_measurements(a, b)
    table = agreement_table(pairs)
    if not len(table):
        raise InputError(
            f"{args.run_a} and {args.run_b}: fewer than 3 paired ROI values per ROI "
            f"({len(pairs)} pairs in all); nothing to compare"
        )
    for note in notes:
        logger.warning("%s", note)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    html = render_agreement_report(
        table,
        pairs,
        label_a=args.label_a or str(args.run_a),
        label_b=args.label_b or str(args.run_b),
        notes=notes,
        statistic=args.statistic,
    )
    written = [
        _atomic(out / "agreement.csv", lambda p: table[list(AGREEMENT_COLUMNS)].to_csv(
            p, index=False, float_format="%.6g", lineterminator="\n")),
        _atomic(out / "agreement_pairs.csv", lambda p: pairs.to_csv(
            p, index=False, float_format="%.6g", lineterminator="\n")),
        _atomic(out / "agreement.html", lambda p: p.write_text(html, encoding="utf-8")),
    ]  # fmt: skip
    for path in written:
        print(path)
    pooled = table[(table["level"] == "all") & (table["roi"].isin(["NP", "AF", "disc"]))]
    for r in pooled.itertuples(index=False):
        logger.info(
            "%-4s ICC(2,1) %.2f  ICC(3,1) %.2f  bias %+.1f ms  wCV %.1f %%  MDC %.1f ms (n %d)",
            r.roi,
            r.icc21,
            r.icc31,
            r.bias_ms,
            r.within_cv_pct,
            r.mdc_ms,
            r.n_pairs,
        )
    return 0


def _atomic(path: Path, write) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
