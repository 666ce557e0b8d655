# The public names of ``discT2``. This stub is what type checkers and IDEs read, and what
# ``discT2/__init__.py`` reads at import time (lazy_loader.attach_stub) to load each name from its
# module on first use. A new public name is one ``from .module import name`` line here.
from . import phantom
from ._version import __version__
from .data import sample_study
from .display import DisplayFrame
from .epg import cpmg_signal
from .errors import (
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
from .fit import FIT_METHODS, EPGOptions, T2Model, auto_mask, estimate_noise_sigma, fit_t2
from .io import SeriesInfo, find_series, load_series
from .maps import FitFlag, T2Map
from .measure import measure
from .phantom.exam import make_exam
from .phantom.study import make_study
from .report import (
    CATEGORIES,
    change_table,
    protocol_drift,
    trial_table,
    welch_from_summary,
    write_report,
)
from .roi import (
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
from .series import MultiEchoSeries
from .study import RunOptions, RunResult, Study, read_study, run_study

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
