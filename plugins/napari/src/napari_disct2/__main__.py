"""``python -m napari_disct2`` (``make napari``): napari on an exam with the discT2 widgets.

    python -m napari_disct2 [PATH] [--screenshot PNG]

Opens the bundled sample exam (or PATH: a DICOM folder, a NIfTI series, a discT2 output folder),
docks the three widgets as tabs, and shows the scale bar and the T2 colour bar. ``--screenshot``
saves the window as first shown and quits (the plugin's tests use it under Xvfb).
"""

from __future__ import annotations

import argparse
from typing import Any

PLUGIN = "napari-discT2"
WIDGETS = ("Fit T2", "Disc ROIs", "Follow-up review")


def open_window(viewer: Any, path: str | None = None) -> None:
    """Open the sample exam (or ``path``) in ``viewer`` and dock the widgets, first one in front."""
    from napari_disct2._display import show_scales

    if path is None:
        viewer.open_sample(PLUGIN, "exam")
    else:
        viewer.open(path, plugin=PLUGIN)
    docks = [viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=True)[0] for name in WIDGETS]
    show_scales(viewer)
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()
    docks[0].raise_()  # the Fit T2 tab in front
    viewer.reset_view()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m napari_disct2", description=__doc__)
    parser.add_argument("path", nargs="?", help="exam to open (default: the sample exam)")
    parser.add_argument("--screenshot", metavar="PNG", help="save the window and quit")
    args = parser.parse_args(argv)

    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(title="discT2")
    # The whole screen (showMaximized needs a window manager, which Xvfb has not).
    screen = QApplication.primaryScreen().availableGeometry()
    viewer.window._qt_window.setGeometry(screen)
    open_window(viewer, args.path)
    if args.screenshot:
        from napari.utils.io import imsave

        for _ in range(20):
            QApplication.processEvents()
        imsave(args.screenshot, viewer.screenshot(canvas_only=False, flash=False))
        viewer.close()
        return 0
    napari.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
