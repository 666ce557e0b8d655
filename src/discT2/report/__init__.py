"""Reporting: change from baseline, treated vs control, trial tables, figures and the HTML report.

The layer works on tidy tables (pandas DataFrames in the layouts of docs/reference/formats.md),
so the study runner, the ``discT2 report`` command and a notebook call the same functions::

    changes = change_table(measurements, tau_pct=0.0)          # changes.csv
    trial = trial_table(changes, arms)                          # trial_table.csv (unblinded)
    write_report("report_UNBLINDED.html", changes, measurements=measurements, arms=arms)
"""

from discT2.report._names import (
    CATEGORIES,
    CHANGE_COLUMNS,
    LEVEL_ORDER,
    MEASUREMENT_COLUMNS,
    REPORT_BLINDED,
    REPORT_UNBLINDED,
    ROI_ORDER,
    TRIAL_COLUMNS,
)
from discT2.report.changes import (
    add_derived_rois,
    categorize,
    change_table,
    pooled_outside_parts,
    round_pct,
)
from discT2.report.drift import DRIFT_FLAGS, DRIFT_TOLERANCES, protocol_drift
from discT2.report.html import MapFigure, render_report, write_report
from discT2.report.io import (
    EXAM_COLUMNS,
    check_trial_table,
    read_arms,
    read_changes,
    read_errors,
    read_exams,
    read_measurements,
    read_trial_table,
    write_table,
)
from discT2.report.published import (
    ENDPOINT_LABELS,
    primary_table,
    published_table,
    write_published_csv,
    write_published_xlsx,
)
from discT2.report.trial import (
    ENDPOINTS,
    WelchResult,
    category_statistic_name,
    category_test,
    trial_table,
    welch_from_summary,
)

# Figures need matplotlib (about a second to import): loaded on first use, so that
# ``import discT2`` and commands that draw nothing stay quick.
_LAZY = {
    "ROI_COLORS": "figures",
    "T2_CMAP": "figures",
    "figure_to_png": "figures",
    "plot_arm_boxes": "figures",
    "plot_t2_rois": "figures",
    "plot_trajectories": "figures",
    "save_png": "figures",
    "disc_roi_names": "exam_maps",
    "exam_map_figures": "exam_maps",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"discT2.report.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'discT2.report' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CATEGORIES",
    "CHANGE_COLUMNS",
    "DRIFT_FLAGS",
    "DRIFT_TOLERANCES",
    "ENDPOINTS",
    "ENDPOINT_LABELS",
    "EXAM_COLUMNS",
    "LEVEL_ORDER",
    "MEASUREMENT_COLUMNS",
    "REPORT_BLINDED",
    "REPORT_UNBLINDED",
    "ROI_COLORS",
    "ROI_ORDER",
    "T2_CMAP",
    "TRIAL_COLUMNS",
    "MapFigure",
    "WelchResult",
    "add_derived_rois",
    "categorize",
    "category_statistic_name",
    "category_test",
    "change_table",
    "check_trial_table",
    "disc_roi_names",
    "exam_map_figures",
    "figure_to_png",
    "plot_arm_boxes",
    "plot_t2_rois",
    "plot_trajectories",
    "pooled_outside_parts",
    "primary_table",
    "protocol_drift",
    "published_table",
    "read_arms",
    "read_changes",
    "read_errors",
    "read_exams",
    "read_measurements",
    "read_trial_table",
    "render_report",
    "round_pct",
    "save_png",
    "trial_table",
    "welch_from_summary",
    "write_published_csv",
    "write_published_xlsx",
    "write_report",
    "write_table",
]
