"""What the viewer shows by default with discT2's layers: the scale bar and the T2 colour bar."""

from __future__ import annotations

import weakref
from typing import Any

from napari_disct2._exam import role_of

__all__ = ["show_scales"]

_CONNECTED: weakref.WeakSet = weakref.WeakSet()  # viewers whose new layers get a colour bar


def show_scales(viewer: Any) -> None:
    """Turn on the scale bar (mm), and the colour bar of every T2 map, present and to come.

    Called by every discT2 widget and by ``python -m napari_disct2``; connecting twice to the
    same viewer does nothing more.
    """
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)  # napari >= 0.9
    (overlays.scale_bar if overlays is not None else viewer.scale_bar).visible = True
    for layer in viewer.layers:
        _colour_bar(layer)
    if viewer not in _CONNECTED:
        viewer.layers.events.inserted.connect(lambda event: _colour_bar(event.value))
        _CONNECTED.add(viewer)


def _colour_bar(layer: Any) -> None:
    if role_of(layer) == "t2" and hasattr(layer, "colorbar"):
        layer.colorbar.visible = True
