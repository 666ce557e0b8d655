from unittest.mock import ANY

import numpy as np
import pytest
from _helpers import add_widget, click, draw_polygon, open_sample, settle, wait_idle

from discT2 import DiscGeometry, measure, place_rois, sample_study
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


def test_one_real_mouse_click_grows_the_disc(make_napari_viewer, qtbot, truth_discs):
    from _helpers import screen_click

    from discT2 import grow_disc

    viewer = make_napari_viewer(show=True)
    exam = open_sample(viewer)
    widget = add_widget(viewer, qtbot, "Disc ROIs")
    widget.reader_edit.setText("Reader Two")
    k = exam.mid_slice
    widget.editor.show_slice(k)
    widget.set_level("L2-L3")
    widget.start("grow")
    centre = truth_discs["L2-L3"].centre_ras_mm
    screen_click(viewer, qtbot, widget.editor.clicks, exam.ras_to_layer(centre)[0])
    wait_idle(qtbot, widget)
    session = exam.session
    assert list(session.discs) == ["L2-L3"], widget.status.text()
    disc = session.discs["L2-L3"]
    assert disc.method == "grown" and disc.reader == "Reader Two" and disc.slice == k
    # The click landed within a screen pixel of the disc centre, on the slice shown.
    click = disc.center_ras_mm
    assert abs(exam.frame.ras_to_display(click)[0] - k) < 1e-9
    assert np.linalg.norm(click - centre) < 1.0
    # Same numbers as the library given the same click.
    grown = grow_disc(exam.series, click, "L2-L3", slice=k)
    expected = place_rois(exam.series, [grown])
    np.testing.assert_array_equal(
        exam.frame.from_display(widget.editor.labels.data), expected.labels
    )
    assert widget.stats_table.texts() == _expected_rows(measure(exam.t2map, expected))
    assert len(widget.editor.clicks.data) == 0


@pytest.fixture
def detected(make_napari_viewer, qtbot):
    """A viewer with the sample, the Disc ROIs widget, and the discs of the mid slice detected."""
    viewer = make_napari_viewer(show=True)
    exam = open_sample(viewer)
    widget = add_widget(viewer, qtbot, "Disc ROIs")
    widget.reader_edit.setText("Reader Three")
    widget.editor.show_slice(exam.mid_slice)
    widget.detect()
    wait_idle(qtbot, widget)
    return viewer, exam, widget


def test_detection_on_the_slice_gives_five_rois_per_disc(detected):
    from discT2 import detect_discs

    _, exam, widget = detected
    session = exam.session
    found = detect_discs(exam.series, slice=exam.mid_slice)
    # The phantom draws T12-L1 too (its truth file lists only the discs the study measures).
    assert (
        list(session.discs)
        == [d.level for d in found]
        == [
            "T12-L1",
            "L1-L2",
            "L2-L3",
            "L3-L4",
            "L4-L5",
            "L5-S1",
        ]
    )
    expected = place_rois(exam.series, found)
    labels = exam.frame.from_display(widget.editor.labels.data)
    np.testing.assert_array_equal(labels, expected.labels)
    for level in session.discs:
        values = {label_value(level, k) for k in range(1, 6)}
        assert values <= set(np.unique(labels)), level  # five labelled ROIs per disc
    assert widget.stats_table.texts() == _expected_rows(measure(exam.t2map, expected))
    statuses = {row[0]: row[5] for row in widget.disc_table.texts()}
    assert set(statuses.values()) == {"to review"}
    assert all(d.method == "auto" and d.reader == "Reader Three" for d in session.discs.values())


@pytest.fixture
def loaded(make_napari_viewer, qtbot):
    """A viewer with the sample and the Disc ROIs widget, the true discs.json loaded into it."""
    viewer = make_napari_viewer(show=True)
    exam = open_sample(viewer)
    widget = add_widget(viewer, qtbot, "Disc ROIs")
    widget.load(sample_study() / "S01" / "baseline" / "truth" / "discs.json")  # by nobody named
    widget.reader_edit.setText("Reader Three")
    return viewer, exam, widget


def test_dragging_a_corner_updates_rois_and_table(loaded, qtbot):
    from _helpers import drag

    viewer, exam, widget = loaded
    session = exam.session
    editor = widget.editor
    before = session.table.copy()
    corners = editor.corners
    feats = corners.features
    index = int(
        np.nonzero((feats.level == "L4-L5").to_numpy() & (feats.corner == "PS").to_numpy())[0][0]
    )
    start = np.asarray(corners.data[index])
    end = start + np.array([0.0, -2.0, 1.5])  # 2 rows up (superior), 1.5 columns posterior
    corners.mode = "select"
    corners.selected_data = set()
    drag(viewer, corners, start, end)
    settle(qtbot, editor)
    disc = session.discs["L4-L5"]
    moved = exam.layer_to_ras(end)[0]
    np.testing.assert_allclose(disc.corners_ras_mm["PS"], moved, atol=1e-9)
    assert disc.method == "drawn" and disc.reader == "Reader Three"
    assert disc.qa["derived_from"] == {"method": "drawn", "reader": "", "created": ANY}
    assert disc.outline_ras_mm is None  # the corners now define the disc
    expected = place_rois(exam.series, list(session.discs.values()))
    np.testing.assert_array_equal(exam.frame.from_display(editor.labels.data), expected.labels)
    table = measure(exam.t2map, expected)
    assert widget.stats_table.texts() == _expected_rows(table)
    changed = table.t2_mean_ms.to_numpy() != before.t2_mean_ms.to_numpy()
    assert set(table.level[changed]) == {"L4-L5"}  # only the edited disc changed
    statuses = {row[0]: row[5] for row in widget.disc_table.texts()}
    assert statuses["L4-L5"] == "adjusted"


def test_pfirrmann_reader_save_reload_and_the_cli_agree(loaded, qtbot, tmp_path):
    import json

    from discT2 import DiscROIs, T2Map, load_discs
    from discT2.cli import main

    viewer, exam, widget = loaded
    widget.set_level("L5-S1")
    widget.pfirrmann_box.setCurrentIndex(4)
    assert exam.session.discs["L5-S1"].pfirrmann == 4
    out = tmp_path / "rois"
    written = widget.save(out)
    assert {p.name for p in written.values()} == {"rois.json", "rois.nii.gz", "discs.json"}
    doc = json.loads((out / "rois.json").read_text())
    assert {d["level"]: d["pfirrmann"] for d in doc["discs"]}["L5-S1"] == 4
    # The reader of record is whoever placed each disc (the file's discs name nobody); the grade
    # names its reader.
    l5 = next(d for d in doc["discs"] if d["level"] == "L5-S1")
    assert l5["qa"]["pfirrmann_graded"]["reader"] == "Reader Three"
    assert "arm" not in json.dumps(doc).lower()  # blinded
    saved = DiscROIs.load(out)
    np.testing.assert_array_equal(saved.labels, exam.session.rois.labels)
    # The command line, given the saved discs.json and the same DICOM folder, agrees.
    exam.t2map.save(tmp_path / "fit")
    assert main(
        ["rois", exam.source, "--discs", str(out / "discs.json"), "-o", str(tmp_path / "cli")]
    ) in (0, 1)
    cli = DiscROIs.load(tmp_path / "cli")
    np.testing.assert_array_equal(cli.labels, saved.labels)
    assert (
        main(
            ["measure", str(tmp_path / "fit"), str(tmp_path / "cli"), "-o", str(tmp_path / "m.csv")]
        )
        == 0
    )
    import pandas as pd

    cli_table = pd.read_csv(tmp_path / "m.csv")
    mine = exam.session.table
    np.testing.assert_allclose(cli_table.t2_mean_ms, mine.t2_mean_ms, atol=5e-4)  # CSV: 3 decimals
    np.testing.assert_array_equal(cli_table.n_voxels, mine.n_voxels)
    # Reload into a fresh viewer: the same discs, ROIs and table.
    viewer2_exam = _fresh_exam_with_widget(viewer, qtbot)
    exam2, widget2 = viewer2_exam
    exam2.session.clear()
    assert widget2.load(out / "discs.json") == [d.level for d in load_discs(out / "discs.json")]
    np.testing.assert_array_equal(exam2.session.rois.labels, saved.labels)
    assert widget2.stats_table.texts() == widget.stats_table.texts()
    assert exam2.session.discs["L5-S1"].pfirrmann == 4
    assert isinstance(T2Map.load(tmp_path / "fit"), T2Map)


def _fresh_exam_with_widget(viewer, qtbot):
    for layer in list(viewer.layers):
        viewer.layers.remove(layer)
    exam = open_sample(viewer)
    widget = [w for w in viewer.window.dock_widgets.values() if hasattr(w, "stats_table")]
    widget = widget[0] if widget else add_widget(viewer, qtbot, "Disc ROIs")
    assert widget.exam is exam
    return exam, widget


def test_a_crash_loses_nothing_the_autosave_comes_back(make_napari_viewer, qtbot, truth_discs):
    from napari_disct2._session import autosave_root

    from discT2 import load_discs

    viewer = make_napari_viewer(show=True)
    exam = open_sample(viewer)
    widget = add_widget(viewer, qtbot, "Disc ROIs")
    widget.reader_edit.setText("Reader Four")
    exam.session.set_corners("L3-L4", truth_discs["L3-L4"].corner_array())
    widget.set_level("L3-L4")
    widget.pfirrmann_box.setCurrentIndex(2)
    autosaved = load_discs(exam.session.autosave_path)
    assert [(d.level, d.pfirrmann, d.reader) for d in autosaved] == [("L3-L4", 2, "Reader Four")]
    assert exam.session.autosave_path.is_relative_to(autosave_root())
    labels = exam.session.rois.labels.copy()
    # "Crash": no save; a new viewer opens the same exam again.
    viewer2 = make_napari_viewer(show=True)
    exam2 = open_sample(viewer2)
    assert exam2 is not exam and exam2.key == exam.key
    widget2 = add_widget(viewer2, qtbot, "Disc ROIs")
    assert list(exam2.session.discs) == ["L3-L4"]
    assert "Restored L3-L4" in widget2.status.text()
    np.testing.assert_array_equal(exam2.session.rois.labels, labels)
    assert exam2.session.discs["L3-L4"].pfirrmann == 2
    # Starting over keeps the earlier autosave beside the new one, never overwritten.
    exam2.session.clear()
    exam3_session = type(exam2.session)(exam2)
    exam3_session.set_corners("L4-L5", truth_discs["L4-L5"].corner_array())
    kept = sorted(exam.session.autosave_path.parent.glob("discs-*.json"))
    assert kept, "the previous autosave was overwritten"


def test_refusals_are_shown_and_change_nothing(make_napari_viewer, qtbot, truth_discs):
    viewer = make_napari_viewer(show=True)
    exam = open_sample(viewer)
    widget = add_widget(viewer, qtbot, "Disc ROIs")
    widget.editor.show_slice(exam.mid_slice)
    widget.set_level("L4-L5")
    # Four collinear clicks make no disc.
    widget.start("corners")
    corners = widget.editor.corners
    c = truth_discs["L4-L5"].corners_ras_mm
    line = [c["AS"] + t * (c["PS"] - c["AS"]) for t in (0.0, 0.3, 0.6, 1.0)]
    for p in line:
        click(viewer, corners, exam.ras_to_layer(p)[0])
    settle(qtbot, widget.editor)
    assert exam.session.discs == {}
    assert "L4-L5" in widget.status.text()
    corners.data = np.empty((0, 3))
    # A click in a vertebral body is refused by grow_disc, with its reason.
    widget.start("grow")
    body = (truth_discs["L4-L5"].centre_ras_mm + truth_discs["L3-L4"].centre_ras_mm) / 2
    click(viewer, widget.editor.clicks, exam.ras_to_layer(body)[0])
    settle(qtbot, widget.editor)
    qtbot.waitUntil(lambda: not widget.busy, timeout=30000)
    assert "not inside a disc" in str(widget.jobs.last_error)
    assert "not inside a disc" in widget.status.text()
    assert exam.session.discs == {}
    # Painting the ROI layer is undone: the ROIs follow the geometry only.
    exam.session.set_corners("L4-L5", truth_discs["L4-L5"].corner_array())
    before = widget.editor.labels.data.copy()
    widget.editor.labels.paint((1, 10, 10), 45)
    settle(qtbot, widget.editor)
    np.testing.assert_array_equal(widget.editor.labels.data, before)
    assert "painting is not used" in widget.status.text()
    # A grade needs a disc.
    widget.set_level("L1-L2")
    widget.pfirrmann_box.setCurrentIndex(3)
    assert widget.pfirrmann_box.currentIndex() == 0
    assert "Place L1-L2 first" in widget.status.text()


def test_closing_the_widget_leaves_the_session_working(make_napari_viewer, qtbot, truth_discs):
    import gc

    from conftest import PLUGIN

    viewer = make_napari_viewer(show=True)
    exam = open_sample(viewer)
    dock, _ = viewer.window.add_plugin_dock_widget(PLUGIN, "Disc ROIs")
    viewer.window.remove_dock_widget(dock)
    qtbot.wait(50)
    gc.collect()
    exam.session.set_corners("L4-L5", truth_discs["L4-L5"].corner_array())
    assert exam.session.rois.levels == ["L4-L5"]
    widget = add_widget(viewer, qtbot, "Disc ROIs")
    assert widget.exam is exam and widget.stats_table.rowCount() == 8
