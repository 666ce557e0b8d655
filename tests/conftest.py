"""Shared test fixtures."""

import os
from pathlib import Path

import pytest

#: Real scanner data kept beside the project (never inside it); tests skip when it is absent.
#: DISCT2_REALDATA points elsewhere (e.g. from a git worktree that is not beside ``shared/``).
REALDATA = Path(
    os.environ.get(
        "DISCT2_REALDATA", Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
    )
)


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(f"real scanner data not found at {REALDATA}")
    return REALDATA
