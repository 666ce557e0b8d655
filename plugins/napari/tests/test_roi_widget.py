import numpy as np
from _helpers import add_widget, click, draw_polygon, open_sample, settle

from discT2 import DiscGeometry, measure, place_rois
from discT2.roi import label_value


def _expected_rows(table):
    fmt = lambda v: "–" if not np.isfinite(v) else f"{v:.1f}"  # noqa: E731
    return [
        [r.level, r.roi, str(r.n_voxels), fmt(r.t2_mean_ms), fmt(r.t2_median_ms), fmt(r.t2_sd_ms)]
        for r in table.itertuples()
    ]


def test_four_corner_clicks_give_the_library_rois_and_table(make_napari_viewer, qtbot, truth_discs):
    viewer = make_napari_viewer(show=True)
    exam = open_sample(viewer)
    widget = add_widget(viewer, qtbot, "Disc ROIs")
    assert widget.exam is exam
    widget.reader_edit.setText("Reader One")
    truth = truth_discs["L4-L5"]
    widget.set_level("L4-L5")
    widget.editor.show_slice(exam.mid_slice)
    widget.start("corners")
    corners = widget.editor.corners
    for name in ("PI", "AS", "AI", "PS"):  # any order
        click(viewer, corners, exam.ras_to_layer(truth.corners_ras_mm[name])[0])
    settle(qtbot, widget.editor)
    session = exam.session
    assert set(session.discs) == {"L4-L5"}
    expected = place_rois(
        exam.series, [DiscGeometry("L4-L5", corners_ras_mm=truth.corners_ras_mm)], reader="x"
    )
    labels = exam.frame.from_display(widget.editor.labels.data)
    np.testing.assert_array_equal(labels, expected.labels)
    assert sorted(set(np.unique(labels)) - {0}) == [label_value("L4-L5", k) for k in range(1, 6)]
    table = measure(exam.t2map, expected)
    assert widget.stats_table.texts() == _expected_rows(table)
    disc = session.discs["L4-L5"]
    assert disc.reader == "Reader One" and disc.method == "drawn"
    assert widget.level == "L5-S1"  # on to the next level


def test_an_outline_drawn_with_the_mouse_places_the_disc(make_napari_viewer, qtbot, truth_discs):
    viewer = make_napari_viewer(show=True)
    exam = open_sample(viewer)
    widget = add_widget(viewer, qtbot, "Disc ROIs")
    truth = truth_discs["L3-L4"]
    widget.set_level("L3-L4")
    widget.start("outline")
    outlines = widget.editor.outlines
    assert outlines.mode == "add_polygon"
    draw_polygon(viewer, outlines, exam.ras_to_layer(truth.outline_ras_mm))
    settle(qtbot, widget.editor)
    session = exam.session
    assert list(session.discs) == ["L3-L4"]
    disc = session.discs["L3-L4"]
    # napari keeps shape vertices in float32: the clicks come back to within 1e-5 mm.
    np.testing.assert_allclose(disc.outline_ras_mm, truth.outline_ras_mm, atol=1e-4)
    expected = place_rois(exam.series, [DiscGeometry("L3-L4", outline_ras_mm=disc.outline_ras_mm)])
    labels = exam.frame.from_display(widget.editor.labels.data)
    np.testing.assert_array_equal(labels, expected.labels)
    assert widget.stats_table.texts() == _expected_rows(measure(exam.t2map, expected))
    # The corners derived from the outline are shown for editing.
    assert len(widget.editor.corners.data) == 4
