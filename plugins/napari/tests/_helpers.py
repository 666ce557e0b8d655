"""Driving napari layers as a reader does: mouse presses and releases in world coordinates."""

from __future__ import annotations

import numpy as np
from conftest import PLUGIN
from napari.utils._test_utils import read_only_mouse_event
from napari.utils.interactions import (
    mouse_double_click_callbacks,
    mouse_move_callbacks,
    mouse_press_callbacks,
    mouse_release_callbacks,
)


def world_of(layer, data_point) -> np.ndarray:
    """World coordinates (viewer dims) of a point in a layer's data coordinates."""
    return np.asarray(layer.data_to_world(np.asarray(data_point, float)))


def _event(viewer, kind, world, *, is_dragging=False):
    world = np.asarray(world, float)
    point = np.array(viewer.dims.point, float)
    point[-len(world) :] = world
    # Canvas position: any distinct pixel per world point will do for napari's callbacks.
    return read_only_mouse_event(
        type=kind,
        position=tuple(point),
        pos=np.asarray(world[-2:][::-1], float) * 10.0,
        view_direction=None,
        dims_displayed=list(viewer.dims.displayed),
        button=1,
        modifiers=[],
        is_dragging=is_dragging,
    )


def click(viewer, layer, data_point) -> None:
    """Press and release the mouse on a layer at a point (its data coordinates)."""
    world = world_of(layer, data_point)
    mouse_press_callbacks(layer, _event(viewer, "mouse_press", world))
    mouse_release_callbacks(layer, _event(viewer, "mouse_release", world))


def drag(viewer, layer, start, end, steps=4) -> None:
    """Press at ``start``, move to ``end``, release (data coordinates of the layer)."""
    a, b = world_of(layer, start), world_of(layer, end)
    mouse_press_callbacks(layer, _event(viewer, "mouse_press", a))
    for t in np.linspace(0, 1, steps + 1)[1:]:
        mouse_move_callbacks(layer, _event(viewer, "mouse_move", a + t * (b - a), is_dragging=True))
    mouse_release_callbacks(layer, _event(viewer, "mouse_release", b))


def draw_polygon(viewer, layer, vertices) -> None:
    """Draw a polygon in add_polygon mode: a click per vertex, a double click to close it."""
    for v in vertices:
        w = world_of(layer, v)
        mouse_move_callbacks(layer, _event(viewer, "mouse_move", w))
        mouse_press_callbacks(layer, _event(viewer, "mouse_press", w))
        mouse_release_callbacks(layer, _event(viewer, "mouse_release", w))
    w = world_of(layer, vertices[-1])
    mouse_double_click_callbacks(layer, _event(viewer, "mouse_double_click", w))


def open_sample(viewer, key="exam"):
    """Open a sample of the plugin; returns its exam."""
    from napari_disct2._exam import exam_of

    layers = viewer.open_sample(PLUGIN, key)
    return exam_of(layers[0])


def add_widget(viewer, qtbot, name):
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    if viewer.window._qt_window.isVisible():  # a dock shows only in a shown window
        qtbot.waitUntil(dock.isVisible, timeout=5000)
    return widget


def settle(qtbot, editor, timeout=5000):
    """Wait until the editor has read the reader's last edit."""
    qtbot.waitUntil(lambda: not editor.pending, timeout=timeout)


def wait_idle(qtbot, widget, timeout=60000):
    """Wait until the widget's edits are read and its thread worker has finished."""
    editor = getattr(widget, "editor", None) or getattr(widget, "followup_editor", None)
    if editor is not None:
        settle(qtbot, editor)
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)
    error = widget.jobs.last_error
    assert error is None, f"{type(error).__name__}: {error}"


def canvas_pixel(viewer, world) -> tuple[int, int]:
    """Canvas pixel (x, y) where a world point (last two displayed dims) is drawn."""
    canvas = viewer.window._qt_viewer.canvas
    view = canvas.view
    transform = view.transform * view.scene.transform
    x, y = transform.map([float(world[-1]), float(world[-2])])[:2]
    return round(x), round(y)


def screen_click(viewer, qtbot, layer, data_point) -> tuple[int, int]:
    """A real mouse click (Qt events through vispy) on the canvas over a layer's data point."""
    from qtpy.QtCore import QPoint, Qt

    qtbot.wait(50)  # let pending resizes (a dock appearing) reach the camera first
    world = world_of(layer, data_point)
    x, y = canvas_pixel(viewer, world)
    native = viewer.window._qt_viewer.canvas.native
    qtbot.mouseMove(native, QPoint(x, y))
    qtbot.mouseClick(native, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    return x, y
