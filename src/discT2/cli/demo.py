"""``discT2 demo``: the whole pipeline on the bundled synthetic sample study.

Runs ``discT2 run`` on the sample study (4 subjects, baseline and 12 months, mixed vendors), then
``discT2 report --arms`` with the study's allocation so that the report shows the trial tables,
and prints where ``report_UNBLINDED.html`` is.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from discT2.cli._parser import Example
from discT2.cli.run import add_run_options, execute

__all__ = ["add_parser", "run"]

logger = logging.getLogger(__name__)


#: Shown by ``discT2 demo --help`` and on the command-line reference page.
EXAMPLES = (
    Example("discT2 demo", "the whole pipeline on the bundled sample, into ./discT2-demo"),
    Example("discT2 demo --out demo2/ --workers 2", "into demo2/, two exams at a time"),
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``discT2 demo``."""
    parser = subparsers.add_parser(
        "demo",
        examples=EXAMPLES,
        help="run the whole pipeline on the bundled sample study",
        description="Run the whole pipeline on the bundled synthetic sample study (its DICOM, "
        "study.csv and arms.csv): fit, ROIs, measurements, changes, then the unblinded report "
        "with the trial tables. Prints where report_UNBLINDED.html is.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("discT2-demo"),
        metavar="DIR",
        help="output folder (default ./discT2-demo)",
    )
    add_run_options(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``discT2 demo``; returns the exit status."""
    from discT2.cli import get_parser
    from discT2.data import sample_study
    from discT2.report._names import REPORT_UNBLINDED

    study = sample_study()
    logger.info("sample study: %s", study)
    result = execute(study / "study.csv", args.out, args, report=False)
    print(result.summary())
    report_args = ["report", str(args.out), "--arms", str(study / "arms.csv")]
    if args.tau:
        report_args += ["--tau", str(args.tau)]
    report_args += ["--max-time-shift", str(args.max_time_shift)]
    parsed = get_parser().parse_args(report_args)
    status = parsed.func(parsed)
    report = (args.out / REPORT_UNBLINDED).resolve()
    print(f"\nThe report (open it in a browser): {report}")
    print(f"Tables and per-exam maps: {args.out.resolve()}")
    return max(int(status or 0), result.exit_status)
