"""What the viewer shows by default with discT2's layers: the scale bar and the T2 colour bar."""

from __future__ import annotations

from typing import Any

from napari_disct2._exam import role_of

__all__ = ["show_scales"]

_CONNECTED = "_disct2_show_scales"


def show_scales(viewer: Any) -> None:
    """Turn on the scale bar (mm), and the colour bar of every T2 map, present and to come.

    Called by every discT2 widget and by ``python -m napari_disct2``; connecting twice to the
    same viewer does nothing more.
    """
    overlays = getattr(getattr(viewer, "canvas", None), "overlays", None)  # napari >= 0.9
    (overlays.scale_bar if overlays is not None else viewer.scale_bar).visible = True
    for layer in viewer.layers:
        _colour_bar(layer)
    if not getattr(viewer, _CONNECTED, False):
        viewer.layers.events.inserted.connect(lambda event: _colour_bar(event.value))
        setattr(viewer, _CONNECTED, True)


def _colour_bar(layer: Any) -> None:
    if role_of(layer) == "t2" and hasattr(layer, "colorbar"):
        layer.colorbar.visible = True
