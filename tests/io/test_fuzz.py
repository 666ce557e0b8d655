"""Damaged DICOM and NIfTI files: no exception but discT2's own escapes the readers, no hang.

The cases come from ``benchmarks/fuzz_readers.py`` (seeded byte mutations and truncations of the
bundled sample DICOM, of a small NIfTI and a gzipped NIfTI, and of the real GE knee series).
Each run is bounded in time: it stops starting new cases after its budget, so a slow machine runs
fewer cases rather than a longer test. A case that hangs fails the test (after 20 s).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_readers.py"


@pytest.fixture(scope="module")
def fuzz():
    name = "discT2_benchmarks_fuzz_readers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    loggers = [logging.getLogger(n) for n in ("discT2", "nibabel")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    yield sys.modules[name]
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def _check(counts, problems, at_least):
    assert problems == []
    assert counts["unhandled"] == counts["hang"] == 0
    assert sum(counts.values()) >= at_least
    # the damage must be real: some cases refused, and some still read
    assert counts["error"] > 0 and counts["ok"] > 0


def test_damaged_files_raise_only_discT2_errors(fuzz):
    counts, problems = fuzz.fuzz(300, seed=12, realdata=None, time_budget_s=25.0)
    _check(counts, problems, at_least=30)


@pytest.mark.slow
def test_damaged_files_raise_only_discT2_errors_many(fuzz):
    counts, problems = fuzz.fuzz(1000, seed=2026, realdata=None, time_budget_s=90.0)
    _check(counts, problems, at_least=200)


@pytest.mark.realdata
def test_damaged_real_files_raise_only_discT2_errors(fuzz, realdata):
    knee = realdata / "knee_ge_mr750_3T_8echo"
    if not knee.is_dir():
        pytest.skip(f"{knee} not found")
    counts, problems = fuzz.fuzz(200, seed=7, realdata=knee, time_budget_s=25.0)
    _check(counts, problems, at_least=30)
