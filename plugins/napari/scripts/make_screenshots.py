"""Make the screenshots of docs/tutorials/napari.md with the real plugin in a real napari window.

    python plugins/napari/scripts/make_screenshots.py [-o docs/tutorials/napari]

Needs a display: with none, it starts Xvfb itself (``Xvfb`` must be installed; see
``plugins/napari/ci.sh``). The widgets are driven through the same calls the tests use, on the
bundled sample study (baseline and 12-month follow-up of its first subject, whose true disc
corners are its answer key). PNGs are quantised to a palette to keep them small.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PLUGIN = "napari-discT2"
ROOT = Path(__file__).resolve().parents[3]


def _start_xvfb() -> subprocess.Popen | None:
    if os.environ.get("DISPLAY") or sys.platform != "linux":
        return None
    if shutil.which("Xvfb") is None:
        sys.exit("no display and no Xvfb: install xvfb (see plugins/napari/ci.sh)")
    for n in range(90, 110):
        if not Path(f"/tmp/.X11-unix/X{n}").exists():
            proc = subprocess.Popen(
                ["Xvfb", f":{n}", "-screen", "0", "1600x1200x24", "-nolisten", "tcp"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            os.environ["DISPLAY"] = f":{n}"
            time.sleep(1.0)
            return proc
    sys.exit("no free X display number")


def _save(image, path: Path, *, colors: int = 160) -> None:
    from PIL import Image

    img = Image.fromarray(image[..., :3])
    img = img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    img.save(path, optimize=True)
    print(f"{path} {path.stat().st_size // 1024} kB")


def _crop(image, box):
    """Crop (x0, y0, x1, y1) in canvas pixels, clipped to the image."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = image.shape[:2]
    return image[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]


def _canvas_box(viewer, layer, exam, points_ras, margin_px=60):
    """Canvas pixel box around RAS points of an exam (shown on ``layer``)."""
    import numpy as np

    canvas = viewer.window._qt_viewer.canvas
    view = canvas.view
    transform = view.transform * view.scene.transform
    xy = []
    for p in exam.ras_to_layer(points_ras):
        w = layer.data_to_world(p)
        xy.append(transform.map([float(w[-1]), float(w[-2])])[:2])
    xy = np.array(xy)
    lo, hi = xy.min(axis=0) - margin_px, xy.max(axis=0) + margin_px
    return (*lo, *hi)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default=str(ROOT / "docs" / "tutorials" / "napari"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    xvfb = _start_xvfb()
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    # Work in a throw-away autosave folder, never the user's.
    import tempfile

    os.environ["NAPARI_DISCT2_AUTOSAVE"] = tempfile.mkdtemp(prefix="disct2-shots-")
    try:
        return _shots(out)
    finally:
        if xvfb is not None:
            xvfb.terminate()


def _shots(out: Path) -> int:
    import napari
    import numpy as np
    from napari_disct2._exam import exam_of, layers_of
    from qtpy.QtWidgets import QApplication

    from discT2 import load_discs, sample_study

    def settle(ms: int = 300) -> None:
        end = time.time() + ms / 1000
        while time.time() < end:
            QApplication.processEvents()
            time.sleep(0.01)

    def wait(widget) -> None:
        while widget.busy or getattr(getattr(widget, "editor", None), "pending", False):
            settle(50)

    truth = {
        d.level: d for d in load_discs(sample_study() / "S01" / "baseline" / "truth" / "discs.json")
    }
    viewer = napari.Viewer(show=True, title="discT2")
    viewer.window._qt_window.resize(1400, 900)
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)
    scale_bar = overlays.scale_bar if overlays is not None else viewer.scale_bar
    scale_bar.visible = True
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    base = exam_of(viewer.open_sample(PLUGIN, "exam")[0])
    for layer in layers_of(viewer, base, "echoes"):
        layer.visible = False

    # 1. The fit widget and the T2 map in navia with its colour bar.
    _, fit = viewer.window.add_plugin_dock_widget(PLUGIN, "Fit T2")
    fit.run()
    wait(fit)
    settle()
    viewer.reset_view()
    settle()
    _save(viewer.screenshot(canvas_only=False, flash=False), out / "fit.png")
    viewer.window.remove_dock_widget("all")

    # 2. Four corners of L4-L5, clicked in any order, and the live table.
    _, rois = viewer.window.add_plugin_dock_widget(PLUGIN, "Disc ROIs")
    rois.reader_edit.setText("A. Reader")
    t2_layer = layers_of(viewer, base, "t2")[0]
    t2_layer.colorbar.visible = False
    rois.set_level("L4-L5")
    rois.editor.show_slice(base.mid_slice)
    rois.start("corners")
    corners = rois.editor.corners
    for name in ("PI", "AS", "AI", "PS"):
        corners.add(base.ras_to_layer(truth["L4-L5"].corners_ras_mm[name])[0])
    wait(rois)
    camera.zoom *= 1.6
    camera.center = tuple(
        t2_layer.data_to_world(base.ras_to_layer(truth["L4-L5"].centre_ras_mm)[0])
    )
    settle()
    _save(viewer.screenshot(canvas_only=False, flash=False), out / "corners.png")

    # 3. An outline for L3-L4 and one click for L2-L3; the canvas around the three discs.
    rois.set_level("L3-L4")
    rois.start("outline")
    rois.editor.outlines.add_polygons([base.ras_to_layer(truth["L3-L4"].outline_ras_mm)])
    wait(rois)
    rois.set_level("L2-L3")
    rois.start("grow")
    rois.editor.clicks.add(base.ras_to_layer(truth["L2-L3"].centre_ras_mm)[0])
    wait(rois)
    rois.editor.corners.mode = "pan_zoom"
    camera.center = tuple(
        t2_layer.data_to_world(base.ras_to_layer(truth["L3-L4"].centre_ras_mm)[0])
    )
    settle()
    pts = np.vstack([truth[lv].corner_array() for lv in ("L2-L3", "L3-L4", "L4-L5")])
    canvas = viewer.screenshot(canvas_only=True, flash=False)
    _save(_crop(canvas, _canvas_box(viewer, t2_layer, base, pts)), out / "three_ways.png")

    # 4. Follow-up review: the baseline's discs propagated to the 12-month exam, side by side.
    rois.load(sample_study() / "S01" / "baseline" / "truth" / "discs.json")
    fu = exam_of(viewer.open_sample(PLUGIN, "followup")[0])
    for layer in layers_of(viewer, fu, "echoes"):
        layer.visible = False
    viewer.window.remove_dock_widget("all")
    _, review = viewer.window.add_plugin_dock_widget(PLUGIN, "Follow-up review")
    review.choose(base, fu)
    review.reader_edit.setText("A. Reader")
    review.propagate()
    wait(review)
    review.accept("L2-L3")
    for layer in layers_of(viewer, fu, "t2"):
        layer.colorbar.visible = False
    viewer.reset_view()
    settle()
    _save(viewer.screenshot(canvas_only=False, flash=False), out / "review.png")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
