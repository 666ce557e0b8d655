"""discT2: quantitative T2 mapping of lumbar intervertebral discs.

Multi-echo spin-echo DICOM or NIfTI in; T2 maps, the five disc ROIs (anterior annulus, three
nucleus, posterior annulus), % of baseline, treated-vs-control and per-arm trial tables out.
"""

from discT2 import phantom
from discT2._version import __version__
from discT2.data import sample_study
from discT2.display import DisplayFrame
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
from discT2.fit import (
    FIT_METHODS,
    EPGOptions,
    T2Model,
    auto_mask,
    estimate_noise_sigma,
    fit_t2,
)
from discT2.io import SeriesInfo, find_series, load_series
from discT2.maps import FitFlag, T2Map
from discT2.measure import measure
from discT2.phantom.exam import make_exam
from discT2.phantom.study import make_study
from discT2.report import (
    CATEGORIES,
    change_table,
    protocol_drift,
    trial_table,
    welch_from_summary,
    write_report,
)
from discT2.roi import (
    LEVELS,
    ROI_NAMES,
    DiscGeometry,
    DiscROIs,
    detect_discs,
    grow_disc,
    load_discs,
    order_corners,
    place_rois,
    propagate,
    save_discs,
)
from discT2.series import MultiEchoSeries
from discT2.study import RunOptions, RunResult, Study, read_study, run_study

__all__ = [
    "CATEGORIES",
    "FIT_METHODS",
    "LEVELS",
    "ROI_NAMES",
    "DicomSeriesError",
    "DiscGeometry",
    "DiscROIs",
    "DiscT2Error",
    "DisplayFrame",
    "EPGOptions",
    "EchoTimeError",
    "FitFlag",
    "FitWarning",
    "GeometryError",
    "InputError",
    "MissingDependencyError",
    "MultiEchoSeries",
    "RegistrationError",
    "RoiError",
    "RunOptions",
    "RunResult",
    "SeriesInfo",
    "ShapeMismatchError",
    "Study",
    "StudyError",
    "T2Map",
    "T2Model",
    "__version__",
    "auto_mask",
    "change_table",
    "cpmg_signal",
    "detect_discs",
    "estimate_noise_sigma",
    "find_series",
    "fit_t2",
    "grow_disc",
    "load_discs",
    "load_series",
    "make_exam",
    "make_study",
    "measure",
    "order_corners",
    "phantom",
    "place_rois",
    "propagate",
    "protocol_drift",
    "read_study",
    "run_study",
    "sample_study",
    "save_discs",
    "trial_table",
    "welch_from_summary",
    "write_report",
]
