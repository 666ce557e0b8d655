"""napari plugin of discT2: open exams, fit T2, draw the five disc ROIs, review follow-ups.

Every number the widgets show or write comes from the discT2 API (``fit_t2``, ``place_rois``,
``measure``, ``grow_disc``, ``detect_discs``, ``propagate``, ``load_discs``/``save_discs``,
``DiscROIs.save``/``load``); the plugin only moves data between napari layers and those calls.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
