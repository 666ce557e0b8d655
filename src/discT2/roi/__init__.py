"""Disc ROIs: geometry, the five bands, growing from a click, automatic detection, propagation."""

from discT2.roi.auto import detect_discs, relabel
from discT2.roi.bands import DEFAULT_FRACTIONS
from discT2.roi.corners import order_corners
from discT2.roi.discs_io import load_discs, save_discs
from discT2.roi.geometry import DiscGeometry, corners_from_outline
from discT2.roi.levels import DERIVED_ROIS, LEVELS, ROI_NAMES, label_value, parse_label
from discT2.roi.place import place_rois
from discT2.roi.register import propagate, registration_figure
from discT2.roi.rois import DiscROIs
from discT2.roi.segment import grow_disc

__all__ = [
    "DEFAULT_FRACTIONS",
    "DERIVED_ROIS",
    "LEVELS",
    "ROI_NAMES",
    "DiscGeometry",
    "DiscROIs",
    "corners_from_outline",
    "detect_discs",
    "grow_disc",
    "label_value",
    "load_discs",
    "order_corners",
    "parse_label",
    "place_rois",
    "propagate",
    "registration_figure",
    "relabel",
    "save_discs",
]
