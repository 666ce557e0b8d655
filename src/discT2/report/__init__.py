"""Reporting: change from baseline, treated vs control, trial tables, figures and the HTML report.

The layer works on tidy tables (pandas DataFrames in the layouts of DESIGN.md section 6), so the
study runner, the ``discT2 report`` command and a notebook call the same functions::

    changes = change_table(measurements, tau_pct=0.0)          # changes.csv
    trial = trial_table(changes, arms)                          # trial_table.csv (unblinded)
    write_report("report.html", changes, measurements=measurements, arms=arms)
"""

from discT2.report._names import (
    CATEGORIES,
    CHANGE_COLUMNS,
    LEVEL_ORDER,
    MEASUREMENT_COLUMNS,
    ROI_ORDER,
    TRIAL_COLUMNS,
)
from discT2.report.changes import add_derived_rois, categorize, change_table, round_pct
from discT2.report.drift import DRIFT_FLAGS, DRIFT_TOLERANCES, protocol_drift
from discT2.report.exam_maps import disc_roi_names, exam_map_figures
from discT2.report.figures import (
    ROI_COLORS,
    T2_CMAP,
    figure_to_png,
    plot_arm_boxes,
    plot_t2_rois,
    plot_trajectories,
)
from discT2.report.html import MapFigure, render_report, write_report
from discT2.report.io import (
    EXAM_COLUMNS,
    read_arms,
    read_changes,
    read_errors,
    read_exams,
    read_measurements,
    read_trial_table,
    write_table,
)
from discT2.report.trial import (
    ENDPOINTS,
    WelchResult,
    category_test,
    trial_table,
    welch_from_summary,
)

__all__ = [
    "CATEGORIES",
    "CHANGE_COLUMNS",
    "DRIFT_FLAGS",
    "DRIFT_TOLERANCES",
    "ENDPOINTS",
    "EXAM_COLUMNS",
    "LEVEL_ORDER",
    "MEASUREMENT_COLUMNS",
    "ROI_COLORS",
    "ROI_ORDER",
    "T2_CMAP",
    "TRIAL_COLUMNS",
    "MapFigure",
    "WelchResult",
    "add_derived_rois",
    "categorize",
    "category_test",
    "change_table",
    "disc_roi_names",
    "exam_map_figures",
    "figure_to_png",
    "plot_arm_boxes",
    "plot_t2_rois",
    "plot_trajectories",
    "protocol_drift",
    "read_arms",
    "read_changes",
    "read_errors",
    "read_exams",
    "read_measurements",
    "read_trial_table",
    "render_report",
    "round_pct",
    "trial_table",
    "welch_from_summary",
    "write_report",
    "write_table",
]
