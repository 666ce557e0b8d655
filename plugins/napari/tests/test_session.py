"""The disc session without a viewer: every edit goes through the library and is autosaved."""

import json

import numpy as np
import pytest
from napari_disct2._exam import Exam
from napari_disct2._session import DiscSession, review_status

from discT2 import DiscGeometry, RoiError, load_discs, measure, place_rois


@pytest.fixture
def exam(sample_exams):
    series, t2map, folder = sample_exams[0]
    return Exam("S01 baseline", series=series, t2map=t2map, source=str(folder))


def test_each_way_of_placing_matches_the_library(exam, truth_discs):
    session = DiscSession(exam, reader="R")
    truth = truth_discs
    session.set_corners("L1-L2", truth["L1-L2"].corner_array()[::-1])  # any order
    session.set_outline("L2-L3", truth["L2-L3"].outline_ras_mm)
    session.grow("L3-L4", truth["L3-L4"].centre_ras_mm, slice=1)
    expected_discs = [
        DiscGeometry("L1-L2", corners_ras_mm=truth["L1-L2"].corners_ras_mm),
        DiscGeometry("L2-L3", outline_ras_mm=truth["L2-L3"].outline_ras_mm),
        session.grown("L3-L4", truth["L3-L4"].centre_ras_mm, slice=1),
    ]
    expected = place_rois(exam.series, expected_discs)
    np.testing.assert_array_equal(session.rois.labels, expected.labels)
    table = measure(exam.t2map, expected)
    np.testing.assert_array_equal(session.table.t2_mean_ms, table.t2_mean_ms)
    assert [d.method for d in session.discs.values()] == ["drawn", "drawn", "grown"]
    assert {d.reader for d in session.discs.values()} == {"R"}


def test_the_geometry_edited_last_defines_the_disc(exam, truth_discs):
    session = DiscSession(exam, reader="R")
    session.set_outline("L4-L5", truth_discs["L4-L5"].outline_ras_mm)
    placed = session.discs["L4-L5"]
    assert placed.outline_ras_mm is not None and placed.corners_ras_mm is not None  # derived
    session.set_corners("L4-L5", truth_discs["L4-L5"].corner_array())
    assert session.discs["L4-L5"].outline_ras_mm is None
    session.set_outline("L4-L5", truth_discs["L4-L5"].outline_ras_mm)
    session.drop_outline("L4-L5")
    assert session.discs["L4-L5"].corners_ras_mm is not None
    assert session.discs["L4-L5"].outline_ras_mm is None
    session.remove("L4-L5")
    assert session.discs == {} and session.rois is None and session.table is None


def test_refused_edits_change_nothing(exam, truth_discs):
    session = DiscSession(exam)
    session.set_corners("L4-L5", truth_discs["L4-L5"].corner_array())
    before = session.rois.labels.copy()
    c = truth_discs["L4-L5"].corner_array()
    with pytest.raises(RoiError, match="coincide"):
        session.set_corners("L4-L5", [c[0], c[0], c[1], c[2]])
    with pytest.raises(RoiError, match="Pfirrmann"):
        session.set_pfirrmann("L4-L5", 7)
    np.testing.assert_array_equal(session.rois.labels, before)
    assert session.discs["L4-L5"].pfirrmann is None


def test_a_disc_that_cannot_be_placed_is_kept_and_reported(exam, truth_discs, tmp_path):
    session = DiscSession(exam)
    session.set_corners("L4-L5", truth_discs["L4-L5"].corner_array())
    outside = truth_discs["L3-L4"].corner_array() + np.array([0.0, 500.0, 0.0])
    session.apply(
        {
            "L3-L4": DiscGeometry(
                "L3-L4", corners_ras_mm=dict(zip(["AS", "PS", "AI", "PI"], outside, strict=True))
            )
        }
    )
    assert "L3-L4" in session.failed and "outside the image" in session.failed["L3-L4"]
    assert session.rois.levels == ["L4-L5"]
    session.save(tmp_path)
    assert [d.level for d in load_discs(tmp_path / "discs.json")] == ["L3-L4", "L4-L5"]


def test_accept_and_review_status(exam, truth_discs):
    session = DiscSession(exam, reader="R")
    auto = DiscGeometry("L4-L5", corners_ras_mm=truth_discs["L4-L5"].corners_ras_mm, method="auto")
    session.replace_all([auto])
    assert review_status(session.discs["L4-L5"]) == "to review"
    session.accept("L4-L5")
    assert review_status(session.discs["L4-L5"]) == "accepted"
    assert session.discs["L4-L5"].qa["reviewed"]["reader"] == "R"
    session.set_corners("L4-L5", truth_discs["L4-L5"].corner_array())
    disc = session.discs["L4-L5"]
    assert review_status(disc) == "adjusted" and disc.qa["derived_from"]["method"] == "auto"


def test_autosave_restore_and_history(exam, truth_discs, _autosave_here):
    first = DiscSession(exam, reader="R")
    first.set_corners("L4-L5", truth_discs["L4-L5"].corner_array())
    first.set_pfirrmann("L4-L5", 3)
    path = first.autosave_path
    assert path.is_relative_to(_autosave_here)
    info = json.loads((path.parent / "exam.json").read_text())
    assert info["exam"] == "S01 baseline"
    again = Exam("S01 baseline", series=exam.series, t2map=exam.t2map, source=exam.source)
    second = DiscSession(again, reader="R")
    assert second.restore() == ["L4-L5"]
    assert second.discs["L4-L5"].pfirrmann == 3
    np.testing.assert_array_equal(second.rois.labels, first.rois.labels)
    assert second.restore() == []  # only into an empty session
    third = DiscSession(again, reader="S")
    third.set_corners("L3-L4", truth_discs["L3-L4"].corner_array())  # starts over
    kept = list(path.parent.glob("discs-*.json"))
    assert len(kept) == 1
    assert [d.level for d in load_discs(kept[0])] == ["L4-L5"]
    assert [d.level for d in load_discs(path)] == ["L3-L4"]
