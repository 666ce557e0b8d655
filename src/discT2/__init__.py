"""discT2: quantitative T2 mapping of lumbar intervertebral discs.

Multi-echo spin-echo DICOM or NIfTI in; T2 maps, the five disc ROIs (anterior annulus, three
nucleus, posterior annulus), % of baseline, treated-vs-control and per-arm trial tables out.
"""

from discT2._version import __version__
from discT2.epg import cpmg_signal
from discT2.errors import (
    DicomSeriesError,
    DiscT2Error,
    EchoTimeError,
    FitWarning,
    GeometryError,
    InputError,
    MissingDependencyError,
    RegistrationError,
    RoiError,
    ShapeMismatchError,
    StudyError,
)
from discT2.maps import FitFlag, T2Map
from discT2.measure import measure
from discT2.roi import (
    LEVELS,
    ROI_NAMES,
    DiscGeometry,
    DiscROIs,
    detect_discs,
    grow_disc,
    load_discs,
    place_rois,
    propagate,
    save_discs,
)
from discT2.series import MultiEchoSeries

__all__ = [
    "LEVELS",
    "ROI_NAMES",
    "DicomSeriesError",
    "DiscGeometry",
    "DiscROIs",
    "DiscT2Error",
    "EchoTimeError",
    "FitFlag",
    "FitWarning",
    "GeometryError",
    "InputError",
    "MissingDependencyError",
    "MultiEchoSeries",
    "RegistrationError",
    "RoiError",
    "ShapeMismatchError",
    "StudyError",
    "T2Map",
    "__version__",
    "cpmg_signal",
    "detect_discs",
    "grow_disc",
    "load_discs",
    "measure",
    "place_rois",
    "propagate",
    "save_discs",
]
