"""Fixtures of the study-runner tests: one synthetic cohort per session, and runs on it.

The cohort (``_studies.make_cohort``): 4 subjects x baseline, 6 and 12 months, one subject per
DICOM convention. The "trial" manifest built on it exercises every way an exam can go:

* S01: discs file at baseline only -> follow-ups propagated from the baseline;
* S02: discs files at every visit; the 6-month exam has one DICOM file cut in half;
* S03: the baseline misses one image (slice x echo) -> it fails; the 6-month exam has no discs
  file and no baseline ROIs to propagate -> automatic detection; the 12-month exam has a discs
  file;
* S04: discs files at every visit.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _load(name: str):
    module_name = f"discT2_tests_study_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            module_name, Path(__file__).with_name(f"{name}.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


@pytest.fixture(scope="session")
def studies():
    """The helper module ``_studies``."""
    return _load("_studies")


@pytest.fixture(scope="session")
def cohort(studies, tmp_path_factory):
    """The written phantom cohort (discT2.phantom.study.Study: folder, plan, truth)."""
    return studies.make_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.fixture(scope="session")
def trial(studies, cohort, tmp_path_factory):
    """The trial manifest with the two corrupted exams, and what was corrupted."""
    root = tmp_path_factory.mktemp("trial")
    rows = studies.manifest_rows(cohort, discs_everywhere=("S02", "S04"))
    broken = {}
    for row in rows:
        key = (row["subject"], row["visit"])
        if key == ("S02", "m06"):
            dest = root / "broken" / "S02_m06"
            broken[key] = studies.truncate_one_file(Path(row["dicom"]), dest)
            row["dicom"] = str(dest)
        elif key == ("S03", "baseline"):
            dest = root / "broken" / "S03_baseline"
            broken[key] = studies.drop_one_file(Path(row["dicom"]), dest)
            row["dicom"] = str(dest)
        elif key == ("S03", "m12"):
            row["discs"] = str(cohort.folder / "S03" / "m12" / "truth" / "discs.json")
    manifest = studies.write_manifest(root / "study.csv", rows)
    return {"manifest": manifest, "broken": broken}


@pytest.fixture(scope="session")
def trial_run(trial, tmp_path_factory):
    """The trial study run once (serially, with the report)."""
    from discT2.study import run_study

    out = tmp_path_factory.mktemp("trial_out")
    return run_study(trial["manifest"], out)


@pytest.fixture(scope="session")
def quick_manifest(studies, cohort, tmp_path_factory):
    """A fast manifest (discs files everywhere, no propagation): S02 baseline and 12 months,
    S04 every visit."""
    rows = [
        r
        for r in studies.manifest_rows(cohort, discs_everywhere=("S02", "S04"))
        if r["subject"] == "S04" or (r["subject"] == "S02" and r["visit"] in ("baseline", "m12"))
    ]
    return studies.write_manifest(tmp_path_factory.mktemp("quick") / "study.csv", rows)


@pytest.fixture(scope="session")
def quick_reference(quick_manifest, tmp_path_factory):
    """The quick study run once without interruption: the reference tables."""
    from discT2.study import run_study

    out = tmp_path_factory.mktemp("quick_reference")
    result = run_study(quick_manifest, out, report=False)
    return out, result
