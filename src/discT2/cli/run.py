"""``discT2 run study.csv -o DIR``: every exam of a study, then the study tables and the report.

Writes per exam ``DIR/<subject>/<visit>/`` (maps, ROIs, measurements, ``exam.json``,
``exam.log``) and ``DIR/measurements.csv``, ``changes.csv``, ``exams.csv``, ``errors.csv``,
``report_BLINDED.html`` and ``run.json``. Exit status: 0 when every exam was completed, 1 when
some failed (the tables of the others are written), 2 for a bad manifest or option.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from discT2.cli._choices import FIT_METHODS
from discT2.cli._choices import STUDY_METHOD as DEFAULT_METHOD
from discT2.cli._dicom_out import add_dicom_options, write_study_results
from discT2.cli._parser import Example
from discT2.errors import InputError

if TYPE_CHECKING:
    from discT2.study import RunResult

__all__ = ["add_parser", "add_run_options", "progress_bar", "run", "run_options"]

logger = logging.getLogger(__name__)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``demo`` share: workers, method, force, tau and the exam options."""
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="exams processed at once, each in its own process (default 1)",
    )
    parser.add_argument(
        "--method",
        choices=FIT_METHODS,
        default=DEFAULT_METHOD,
        help=f"T2 fit method (default {DEFAULT_METHOD}: corrects stimulated echoes)",
    )
    parser.add_argument(
        "--force", action="store_true", help="recompute every exam, even those already done"
    )
    parser.add_argument(
        "--tau",
        type=float,
        default=0.0,
        metavar="PCT",
        help="category threshold tau in %% (default 0; see docs/methods/reporting.md)",
    )
    parser.add_argument(
        "--skip-first-echo", action="store_true", help="leave out the first echo in the fit"
    )
    parser.add_argument(
        "--slices",
        type=int,
        default=0,
        metavar="K",
        help="measure on the mid-sagittal slice and K slices each side (default 0)",
    )
    parser.add_argument(
        "--max-time-shift",
        type=float,
        default=2.0,
        metavar="HOURS",
        help="flag follow-ups acquired more than this many hours from the baseline's time of day",
    )


#: Shown by ``discT2 run --help`` and on the command-line reference page.
EXAMPLES = (
    Example(
        "discT2 run sample_data/study.csv -o study_out/ --workers 2",
        "every exam of the study, two at a time; then the tables and the blinded report",
    ),
    Example(
        "discT2 run sample_data/study.csv -o study_out/ --tau 5",
        "a rerun reuses the finished exams; here with a category threshold of 5 %",
    ),
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``discT2 run``."""
    parser = subparsers.add_parser(
        "run",
        examples=EXAMPLES,
        help="a whole study: fit, ROIs, measure, changes, blinded report",
        description="Process every exam of a study manifest (study.csv: subject, visit, months, "
        "dicom, index_disc, control_discs[, discs]): load, fit T2, place the five ROIs per disc "
        "(the exam's discs file; else the baseline's ROIs propagated; else found automatically, "
        "flagged for review), measure; then changes.csv and report_BLINDED.html. Exams that "
        "fail are listed in errors.csv and the others go on; a rerun reuses finished exams.",
    )
    parser.add_argument("manifest", type=Path, metavar="STUDY_CSV", help="the study manifest")
    parser.add_argument(
        "-o", "--out", type=Path, required=True, metavar="DIR", help="output folder"
    )
    add_run_options(parser)
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the exams on the Dask cluster of this scheduler (e.g. tcp://host:8786) "
        "instead of local processes; needs discT2[dask] (see docs/tutorials/study.md)",
    )
    parser.add_argument("--no-report", action="store_true", help="write the tables only")
    add_dicom_options(parser, source=False)
    parser.set_defaults(func=run)
    return parser


def run_options(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`discT2.run_study` from the shared options."""
    fit = {"skip_first_echo": True} if args.skip_first_echo else {}
    rois = {"slices": args.slices} if args.slices else {}
    return {
        "workers": args.workers,
        "method": args.method,
        "force": args.force,
        "tau_pct": args.tau,
        "max_time_shift_h": args.max_time_shift,
        "fit_options": fit,
        "roi_options": rois,
    }


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Callable | None]:
    """A tqdm bar over exams on a terminal (log lines printed above it), or nothing."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with (
        logging_redirect_tqdm(loggers=[logging.getLogger("discT2")]),
        tqdm(total=total, unit="exam", desc="exams", file=sys.stderr) as bar,
    ):

        def update(result, done: int, total: int) -> None:
            bar.set_postfix_str(f"{result.label} {result.status}", refresh=False)
            bar.update(done - bar.n)

        yield update


def execute(manifest: Path, out: Path, args: argparse.Namespace, **overrides) -> RunResult:
    """Read the manifest and run the study with a progress bar on a terminal."""
    from discT2.study import read_study, run_study

    study = read_study(manifest)
    quiet = bool(getattr(args, "quiet", False))
    with progress_bar(len(study), enabled=not quiet and sys.stderr.isatty()) as update:
        return run_study(study, out, progress=update, **{**run_options(args), **overrides})


@contextlib.contextmanager
def dask_client(address: str | None) -> Iterator[object | None]:
    """A ``dask.distributed`` client connected to ``address`` (None: no client)."""
    if not address:
        yield None
        return
    try:
        from distributed import Client
    except ImportError as exc:
        raise InputError("--scheduler needs dask.distributed: pip install 'discT2[dask]'") from exc
    try:
        client = Client(address, timeout="30s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"{address}: cannot reach the Dask scheduler ({exc})") from exc
    with client:
        yield client


def run(args: argparse.Namespace) -> int:
    """Run ``discT2 run``; returns the exit status."""
    with dask_client(getattr(args, "scheduler", None)) as client:
        result = execute(args.manifest, args.out, args, report=not args.no_report, client=client)
    dicom_failed = 0
    if args.dicom_out is not None:
        dicom_failed = write_study_results(args, args.manifest, args.out)
    print(result.summary())
    if len(result.errors):
        print(f"exams not completed: {args.out / 'errors.csv'}")
    if result.report is not None:
        print(f"report: {result.report}")
    else:
        print(f"tables: {args.out}")
    if dicom_failed and result.exit_status == 0:
        return 1
    return result.exit_status
