"""``discT2 simulate``: write a synthetic lumbar-spine study with ground truth."""

from __future__ import annotations

import argparse
import logging
import shlex
from pathlib import Path

from discT2.cli._choices import PRESETS
from discT2.cli._parser import Example
from discT2.errors import InputError

logger = logging.getLogger("discT2.cli.simulate")


#: Shown by ``discT2 simulate --help`` and on the command-line reference page.
EXAMPLES = (
    Example(
        "discT2 simulate trial/", "the default cohort: 12 subjects, visits at 0, 12, 24 months"
    ),
    Example(
        "discT2 simulate small/ --subjects 4 --visits 0,6,12 --seed 7 --vendor philips",
        "4 subjects with Philips DICOM conventions, visits at 0, 6, 12 months",
    ),
    Example(
        "discT2 simulate sample_data --preset sample --force",
        "regenerate the bundled sample study",
    ),
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "simulate",
        examples=EXAMPLES,
        help="write a synthetic lumbar-spine study (DICOM + ground truth)",
        description=(
            "Simulate a disc-regeneration study of synthetic sagittal lumbar-spine multi-echo "
            "spin-echo exams: subjects x visits, one index disc per subject whose T2 changes by "
            "a known percentage, two control discs that do not, repositioning between visits, "
            "mixed scanner vendors. Writes study.csv, arms.csv, truth.csv, a README, and per exam "
            "DICOM (and/or NIfTI) plus truth maps and the true discs.json."
        ),
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="study folder to write")
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="cohort",
        help="study size and protocol (default: cohort; 'sample' is the bundled sample_data)",
    )
    parser.add_argument("--subjects", type=int, help="number of subjects (overrides the preset)")
    parser.add_argument(
        "--visits", help="visits in months after baseline, comma-separated, e.g. 0,12,24"
    )
    parser.add_argument(
        "--seed", type=int, help="seed of everything random (same seed, same study)"
    )
    parser.add_argument(
        "--vendor",
        choices=("mixed", "siemens", "ge", "philips"),
        help="DICOM conventions (default: mixed = siemens, ge, philips, siemens enhanced)",
    )
    parser.add_argument(
        "--enhanced", action="store_true", help="write enhanced multi-frame DICOM for every exam"
    )
    parser.add_argument("--snr", type=float, help="peak signal / noise sigma (default 150)")
    parser.add_argument("--nifti", action="store_true", help="also write NIfTI + JSON sidecars")
    parser.add_argument(
        "--no-dicom", action="store_true", help="write NIfTI only (implies --nifti)"
    )
    parser.add_argument(
        "--force", action="store_true", help="write into OUT even if it already holds a study"
    )
    parser.set_defaults(func=run)
    return parser


def _visits(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(
            f"--visits must be months separated by commas, e.g. 0,12; got {text!r}"
        ) from None


def run(args: argparse.Namespace) -> int:
    from discT2.phantom.study import make_study, preset_plan

    out: Path = args.out
    if (out / "study.csv").exists() and not args.force:
        raise InputError(
            f"{out} already holds a study (study.csv); choose another folder or pass --force"
        )
    plan = preset_plan(
        args.preset,
        n_subjects=args.subjects,
        visits_months=_visits(args.visits),
        seed=args.seed,
        vendor=args.vendor,
        enhanced=args.enhanced or None,
        snr=args.snr,
    )
    options = [f"--preset {args.preset}"]
    for flag, value in (
        ("--subjects", args.subjects),
        ("--visits", args.visits),
        ("--seed", args.seed),
        ("--vendor", args.vendor),
        ("--snr", args.snr),
    ):
        if value is not None:
            options.append(f"{flag} {value}")
    options += [flag for flag, on in (("--enhanced", args.enhanced), ("--nifti", args.nifti),
                                      ("--no-dicom", args.no_dicom)) if on]  # fmt: skip
    command = f"discT2 simulate {shlex.quote(out.name or str(out))} " + " ".join(options)
    n_exams = len(plan.subjects) * len(plan.visits_months)
    logger.info("simulating %d exams into %s", n_exams, out)
    counter = iter(range(1, n_exams + 1))
    study = make_study(
        out,
        plan,
        dicom=not args.no_dicom,
        nifti=args.nifti or args.no_dicom,
        command=command,
        progress=lambda what: logger.info("[%d/%d] %s", next(counter), n_exams, what),
    )
    logger.info("wrote %s (%s, %s, %s)", out, "study.csv", "arms.csv", "truth.csv")
    print(study.study_csv)
    return 0
