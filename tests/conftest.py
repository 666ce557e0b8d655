"""Shared test fixtures."""

import os
from pathlib import Path

import pytest


def _find_realdata() -> Path:
    """``$DISCT2_REALDATA``, else the first ``shared/realdata`` beside the checkout or above it."""
    if os.environ.get("DISCT2_REALDATA"):
        return Path(os.environ["DISCT2_REALDATA"])
    here = Path(__file__).resolve()
    for parent in here.parents[1:]:
        candidate = parent / "shared" / "realdata"
        if candidate.is_dir():
            return candidate
    return here.parents[1].parent / "shared" / "realdata"


#: Real scanner data kept beside the project (never inside it); tests skip when it is absent.
REALDATA = _find_realdata()


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(f"real scanner data not found at {REALDATA}")
    return REALDATA
