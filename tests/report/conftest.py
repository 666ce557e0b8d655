"""Fixtures of the reporting tests: the hand-made study helpers in ``_study.py``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _load_study_module():
    name = "discT2_tests_report_study"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("_study.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def study():
    """The helper module: ``measurement_rows``, ``cohort``, ``sagittal_disc``."""
    return _load_study_module()
