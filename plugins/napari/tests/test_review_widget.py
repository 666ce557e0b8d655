import json

import numpy as np
import pytest
from _helpers import add_widget, drag, open_sample, settle, wait_idle
from napari_disct2._exam import layers_of

from discT2 import DiscROIs, measure, propagate, sample_study


@pytest.mark.slow  # two registrations (the widget's, and the library's for comparison)
def test_propagate_review_side_by_side_accept_adjust_save(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer(show=True)
    base = open_sample(viewer, "exam")
    fu = open_sample(viewer, "followup")
    rois_widget = add_widget(viewer, qtbot, "Disc ROIs")
    rois_widget.select_exam(base)
    rois_widget.reader_edit.setText("Reader Five")
    rois_widget.load(sample_study() / "S01" / "baseline" / "truth" / "discs.json")
    base_rois = base.session.rois
    assert base_rois.levels == ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]

    review = add_widget(viewer, qtbot, "Follow-up review")
    review.choose(base, fu)
    review.reader_edit.setText("Reader Five")
    assert review.propagate() is not None
    wait_idle(qtbot, review, timeout=120000)

    # The follow-up's ROIs are the library's propagation, measured by the library.
    expected = propagate(base.series, base_rois, fu.series, reader="Reader Five")
    editor = review.followup_editor
    assert editor.exam is fu
    np.testing.assert_array_equal(fu.frame.from_display(editor.labels.data), expected.labels)
    table = measure(fu.t2map, expected)
    shown = {(r[0], r[1]): r[3] for r in review.t2_table.texts()}
    for r in table.itertuples():
        assert shown[(r.level, r.roi)] == f"{r.t2_mean_ms:.1f}"
    b_table = base.session.table
    assert {(r[0], r[1]): r[2] for r in review.t2_table.texts()} == {
        (r.level, r.roi): f"{r.t2_mean_ms:.1f}" for r in b_table.itertuples()
    }
    status = {r[0]: r[5] for r in review.disc_table.texts()}
    assert set(status.values()) == {"to review"}
    assert all(d.method == "propagated" for d in fu.session.discs.values())

    # Side by side: every follow-up layer lies right of every baseline layer, on its disc slice.
    b_right = max(layer.extent.world[1][-1] for layer in layers_of(viewer, base))
    f_left = min(layer.extent.world[0][-1] for layer in layers_of(viewer, fu))
    assert f_left > b_right
    point = np.asarray(viewer.dims.point)
    first = expected.discs[0]
    assert fu.world_slice(point) == first.slice
    assert base.world_slice(point) == base.session.discs[first.level].slice

    # Accept one disc, adjust another by dragging its corner on the follow-up.
    review.accept("L2-L3")
    corners = editor.corners
    feats = corners.features
    index = int(
        np.nonzero((feats.level == "L5-S1").to_numpy() & (feats.corner == "AI").to_numpy())[0][0]
    )
    start = np.asarray(corners.data[index])
    review.show_disc("L5-S1")
    corners.mode = "select"
    drag(viewer, corners, start, start + np.array([0.0, 1.0, -1.0]))
    settle(qtbot, editor)
    status = {r[0]: r[5] for r in review.disc_table.texts()}
    assert status["L2-L3"] == "accepted" and status["L5-S1"] == "adjusted"
    adjusted = fu.session.discs["L5-S1"]
    assert adjusted.qa["derived_from"]["method"] == "propagated"
    assert "registration" in adjusted.qa
    assert review.accept_unchanged() == ["L1-L2", "L3-L4", "L4-L5"]
    status = {r[0]: r[5] for r in review.disc_table.texts()}
    assert status == {
        "L1-L2": "accepted",
        "L2-L3": "accepted",
        "L3-L4": "accepted",
        "L4-L5": "accepted",
        "L5-S1": "adjusted",
    }

    written = review.save(tmp_path / "m12")
    saved = DiscROIs.load(written["json"])
    np.testing.assert_array_equal(saved.labels, fu.session.rois.labels)
    doc = json.loads(written["json"].read_text())
    reviewed = {d["level"]: d["qa"].get("reviewed", {}).get("status") for d in doc["discs"]}
    assert reviewed == {
        "L1-L2": "accepted",
        "L2-L3": "accepted",
        "L3-L4": "accepted",
        "L4-L5": "accepted",
        "L5-S1": None,
    }
    assert {d["provenance"]["reader"] for d in doc["discs"]} == {"Reader Five"}
    assert "arm" not in json.dumps(doc).lower().replace("warm", "")


def test_no_follow_up_is_offered_until_a_second_exam_is_open(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    base = open_sample(viewer, "exam")
    review = add_widget(viewer, qtbot, "Follow-up review")
    assert review.baseline is base
    assert review.followup is None  # not the baseline itself
    assert review.propagate() is None
    fu = open_sample(viewer, "followup")
    assert (review.baseline, review.followup) == (base, fu)
