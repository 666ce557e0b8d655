"""Fixtures of the plugin tests: napari under Xvfb (pytest-xvfb), Qt's xcb platform.

Qt's offscreen platform gives napari no OpenGL context and renders nothing; with Xvfb the xcb
platform renders through Mesa (see the headless recipe). An inherited QT_QPA_PLATFORM is reset.
"""

from __future__ import annotations

import os
import tempfile

import pytest

if os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
    os.environ["QT_QPA_PLATFORM"] = "xcb"  # the QApplication is made later, by pytest-qt
os.environ.setdefault("XDG_RUNTIME_DIR", os.path.join(tempfile.gettempdir(), f"xdg-{os.getuid()}"))
os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)

PLUGIN = "napari-discT2"


@pytest.fixture(autouse=True)
def _autosave_here(tmp_path, monkeypatch):
    """Every test autosaves into its own folder, never into the user's."""
    from napari_disct2._session import AUTOSAVE_ENV

    folder = tmp_path / "autosave"
    monkeypatch.setenv(AUTOSAVE_ENV, str(folder))
    return folder


@pytest.fixture(scope="session")
def sample_exams():
    """The first subject's baseline and follow-up, loaded and fitted once (discT2 calls)."""
    from napari_disct2._sample_data import sample_paths

    from discT2 import fit_t2, load_series

    out = []
    for _subject, _visit, folder in sample_paths()[:2]:
        series = load_series(folder)
        out.append((series, fit_t2(series), folder))
    return out


@pytest.fixture(scope="session")
def truth_discs():
    """The baseline's true disc geometry (the phantom's answer key), level -> DiscGeometry."""
    from napari_disct2._sample_data import sample_paths

    from discT2 import load_discs, sample_study

    subject = sample_paths()[0][0]
    discs = load_discs(sample_study() / subject / "baseline" / "truth" / "discs.json")
    return {d.level: d for d in discs}
