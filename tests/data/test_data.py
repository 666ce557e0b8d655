"""Finding the bundled sample study."""

from pathlib import Path

import pytest

import discT2
from discT2.data import SAMPLE_COMMAND, sample_study
from discT2.errors import InputError

CHECKOUT = Path(__file__).resolve().parents[2] / "sample_data"


def test_source_checkout_copy(monkeypatch):
    monkeypatch.delenv("DISCT2_SAMPLE_DATA", raising=False)
    assert sample_study() == CHECKOUT
    assert discT2.sample_study is sample_study
    assert "sample_data --preset sample" in SAMPLE_COMMAND


def test_environment_variable(monkeypatch, tmp_path):
    (tmp_path / "study.csv").write_text("subject\n")
    monkeypatch.setenv("DISCT2_SAMPLE_DATA", str(tmp_path))
    assert sample_study() == tmp_path
    monkeypatch.setenv("DISCT2_SAMPLE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match=r"no study\.csv there"):
        sample_study()


@pytest.mark.slow
def test_regenerates_into_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("DISCT2_SAMPLE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = sample_study(regenerate=True)
    assert folder.parent == tmp_path / "discT2"
    for name in ("study.csv", "arms.csv", "truth.csv"):
        assert (folder / name).read_text() == (CHECKOUT / name).read_text()
