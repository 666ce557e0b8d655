import numpy as np
from _helpers import add_widget, wait_idle
from conftest import PLUGIN
from napari_disct2._exam import exam_of, layers_of, role_of

from discT2 import fit_t2, load_series


def test_fit_in_a_worker_adds_the_library_maps(make_napari_viewer, qtbot):
    from napari_disct2._sample_data import sample_paths

    dicom = sample_paths()[0][2]
    viewer = make_napari_viewer(show=True)
    (echoes,) = viewer.open(str(dicom), plugin=PLUGIN)
    exam = exam_of(echoes)
    widget = add_widget(viewer, qtbot, "Fit T2")
    assert widget.exam_choice.value is exam
    widget.method.value = "loglinear"
    widget.skip_first_echo.value = True
    worker = widget.run()
    assert worker is not None and widget.busy
    assert widget.run() is None and "still running" in widget.status.value  # one at a time
    wait_idle(qtbot, widget)
    series = load_series(dicom)
    expected = fit_t2(series, "loglinear", skip_first_echo=True)
    (t2,) = layers_of(viewer, exam, "t2")
    np.testing.assert_array_equal(t2.data, exam.frame.to_display(expected.t2_ms))
    (sd,) = layers_of(viewer, exam, "t2_sd")
    np.testing.assert_array_equal(sd.data, exam.frame.to_display(expected.t2_sd_ms))
    assert exam.t2map.provenance["method"] == "loglinear"
    assert t2.colormap.name == "navia" and t2.colorbar.visible
    assert tuple(t2.contrast_limits) == (0.0, 200.0)
    assert t2.name.endswith("T2 (ms)")
    assert widget.progress.value == widget.progress.max > 1  # progress reported per chunk
    assert "voxels fitted" in widget.status.value
    # Fitting again with other options replaces the maps (one layer per role).
    widget.method.value = "nlls"
    widget.skip_first_echo.value = False
    widget.run()
    wait_idle(qtbot, widget)
    assert [role_of(layer) for layer in layers_of(viewer, exam)].count("t2") == 1
    np.testing.assert_array_equal(
        layers_of(viewer, exam, "t2")[0].data, exam.frame.to_display(fit_t2(series, "nlls").t2_ms)
    )


def test_bad_options_are_refused_by_the_library_and_shown(make_napari_viewer, qtbot):
    from napari_disct2._sample_data import sample_paths

    viewer = make_napari_viewer()
    viewer.open(str(sample_paths()[0][2]), plugin=PLUGIN)
    widget = add_widget(viewer, qtbot, "Fit T2")
    widget.t2_low_ms.value = 300.0
    widget.t2_high_ms.value = 100.0
    widget.run()
    qtbot.waitUntil(lambda: not widget.busy, timeout=30000)
    assert widget.jobs.last_error is not None
    assert "Fit failed" in widget.status.value and "t2_bounds_ms" in widget.status.value
    assert widget.run_button.enabled
