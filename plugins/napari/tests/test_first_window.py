"""The window ``make napari`` (``python -m napari_disct2``) opens, on a 1366 x 768 screen.

The screenshot is saved as ``first_window.png`` in ``$DISCT2_SCREENSHOTS`` (else the test's
temporary folder), for a person to look at.
"""

import os
from pathlib import Path

import numpy as np
from conftest import PLUGIN
from napari_disct2.__main__ import WIDGETS, open_window
from napari_disct2._exam import role_of

SCREEN = (1366, 768)


def test_first_window_shows_scales_widgets_and_the_whole_canvas(
    make_napari_viewer, qtbot, tmp_path
):
    from napari.utils.io import imsave

    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    window.resize(*SCREEN)
    open_window(viewer)
    qtbot.wait(300)

    assert viewer.window._qt_window.size().width() <= SCREEN[0]
    assert viewer.window._qt_window.size().height() <= SCREEN[1]  # the docked widgets fit
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)
    scale_bar = overlays.scale_bar if overlays is not None else viewer.scale_bar
    assert scale_bar.visible
    (t2,) = [layer for layer in viewer.layers if role_of(layer) == "t2"]
    assert t2.colorbar.visible
    docked = viewer.window.dock_widgets
    assert all(f"{name} ({PLUGIN})" in docked for name in WIDGETS), list(docked)

    whole = viewer.screenshot(canvas_only=False, flash=False)
    canvas = viewer.screenshot(canvas_only=True, flash=False)
    assert whole.shape[:2] == (SCREEN[1], SCREEN[0])
    assert canvas.shape[0] > 0.8 * SCREEN[1] and canvas.shape[1] > 0.4 * SCREEN[0]
    # The whole T2 map is on the canvas: its corners map inside it.
    corners = np.array([[0, 0], [t2.data.shape[-2] - 1, t2.data.shape[-1] - 1]], float)
    for corner in corners:
        point = np.zeros(t2.ndim)
        point[-2:] = corner
        world = t2.data_to_world(point)
        x, y = viewer.window._qt_viewer.canvas.view.scene.transform.map(world[::-1][:2])[:2]
        assert 0 <= x < canvas.shape[1] and 0 <= y < canvas.shape[0]
    out = Path(os.environ.get("DISCT2_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    imsave(str(out / "first_window.png"), whole)
    print(f"screenshot: {out / 'first_window.png'}")
