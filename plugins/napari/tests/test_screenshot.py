"""The T2 map and its ROI overlay as napari really draws them (pixels of a screenshot)."""

import numpy as np
import pytest
from _helpers import add_widget, canvas_pixel, open_sample
from napari_disct2._exam import layers_of

from discT2 import sample_study
from discT2.report.figures import ROI_COLORS, T2_CMAP

OPACITY = 0.7


def _rgb(hex_color):
    return np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)], float)


def _navia_rgb(t2_ms, lo=0.0, hi=200.0):
    return np.asarray(T2_CMAP(np.clip((t2_ms - lo) / (hi - lo), 0, 1))[:3]) * 255


@pytest.fixture
def shown(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    exam = open_sample(viewer)
    widget = add_widget(viewer, qtbot, "Disc ROIs")
    widget.load(sample_study() / "S01" / "baseline" / "truth" / "discs.json")
    for layer in viewer.layers:
        layer.visible = any(layer is x for x in layers_of(viewer, exam, "t2")) or any(
            layer is x for x in layers_of(viewer, exam, "rois")
        )
    # The pixels of the map and the ROIs are checked: hide the scale bar and the colour bar, which
    # the widget switches on and which may cover part of the map.
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)
    (overlays.scale_bar if overlays is not None else viewer.scale_bar).visible = False
    for layer in viewer.layers:
        if hasattr(layer, "colorbar"):
            layer.colorbar.visible = False
    k = next(iter(exam.session.discs.values())).slice
    widget.editor.show_slice(k)
    viewer.reset_view()
    qtbot.wait(100)
    return viewer, exam, widget, k


def _screenshot(viewer, qtbot):
    qtbot.wait(50)
    return viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(float)


def test_t2_pixels_are_the_map_in_navia_and_rois_blend_over_them(shown, qtbot):
    viewer, exam, widget, k = shown
    (rois_layer,) = layers_of(viewer, exam, "rois")
    t2_layer = layers_of(viewer, exam, "t2")[0]
    rois_layer.visible = False
    bare = _screenshot(viewer, qtbot)
    rois_layer.visible = True
    overlaid = _screenshot(viewer, qtbot)
    assert bare.shape[0] > 300 and bare.shape[1] > 200

    t2 = exam.t2map.t2_ms
    labels = exam.session.rois.labels
    checked = {"map": 0, "roi": 0}
    ii, jj = np.nonzero(np.isfinite(t2[:, :, k]) & (t2[:, :, k] > 0))
    rng = np.random.default_rng(0)
    for n in rng.choice(len(ii), size=300, replace=False):
        ijk = np.array([ii[n], jj[n], k])
        world = t2_layer.data_to_world(exam.frame.voxel_to_display(ijk))
        x, y = canvas_pixel(viewer, world)
        if not (0 <= y < bare.shape[0] and 0 <= x < bare.shape[1]):
            continue
        expected = _navia_rgb(float(t2[tuple(ijk)]))
        got = bare[y, x]
        assert np.abs(got - expected).max() <= 6, (ijk, got, expected)
        checked["map"] += 1
        label = int(labels[tuple(ijk)])
        if label:
            roi = ROI_COLORS[widget.session.rois.label_table[label][1]]
            blend = OPACITY * _rgb(roi) + (1 - OPACITY) * got
            assert np.abs(overlaid[y, x] - blend).max() <= 8, (ijk, overlaid[y, x], blend)
            checked["roi"] += 1
        else:
            assert np.abs(overlaid[y, x] - got).max() <= 1
    assert checked["map"] > 250


def test_roi_voxels_blend_their_colour_and_sit_where_the_anatomy_is(shown, qtbot):
    viewer, exam, _, k = shown
    (rois_layer,) = layers_of(viewer, exam, "rois")
    t2_layer = layers_of(viewer, exam, "t2")[0]
    rois_layer.visible = False
    bare = _screenshot(viewer, qtbot)
    rois_layer.visible = True
    overlaid = _screenshot(viewer, qtbot)
    rois = exam.session.rois
    centres = {}
    for value, (level, roi) in rois.label_table.items():
        ii, jj, kk = np.nonzero(rois.labels == value)
        on_slice = kk == k
        pixels = []
        for i, j in zip(ii[on_slice], jj[on_slice], strict=True):
            world = t2_layer.data_to_world(exam.frame.voxel_to_display([i, j, k]))
            x, y = canvas_pixel(viewer, world)
            blend = OPACITY * _rgb(ROI_COLORS[roi]) + (1 - OPACITY) * bare[y, x]
            assert np.abs(overlaid[y, x] - blend).max() <= 8, (level, roi, overlaid[y, x], blend)
            pixels.append((x, y))
        assert pixels, f"{level} {roi} has no voxel on slice {k}"
        centres[(level, roi)] = np.mean(pixels, axis=0)
    # Superior up: upper discs higher on the screen. Anterior left: AF_anterior leftmost.
    ys = [centres[(lv, "NP_central")][1] for lv in rois.levels]
    assert ys == sorted(ys)
    for level in rois.levels:
        xs = [centres[(level, roi)][0] for roi in ROI_COLORS]
        assert xs == sorted(xs), level
    # The ROI colours cover the area of the ROI voxels (within the pixels of its edges).
    changed = np.abs(overlaid - bare).max(axis=2) > 8
    mm2_per_px = (viewer.camera.zoom) ** -2
    voxel_mm2 = exam.scale[1] * exam.scale[2]
    area = np.count_nonzero(rois.labels[:, :, k]) * voxel_mm2
    assert changed.sum() * mm2_per_px == pytest.approx(area, rel=0.1)


def test_the_window_shows_the_widget_and_the_map(shown, qtbot, tmp_path):
    from napari.utils.io import imsave

    viewer = shown[0]
    whole = viewer.screenshot(canvas_only=False, flash=False)
    canvas = viewer.screenshot(canvas_only=True, flash=False)
    assert whole.shape[1] > canvas.shape[1]  # the dock widget is in the picture
    imsave(str(tmp_path / "window.png"), whole)
    assert (tmp_path / "window.png").stat().st_size > 10_000
