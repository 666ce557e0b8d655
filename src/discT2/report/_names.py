"""Names and column orders shared by the reporting modules (docs/reference/formats.md)."""

from __future__ import annotations

__all__ = [
    "CATEGORIES",
    "CHANGE_COLUMNS",
    "DERIVED_ROIS",
    "ERROR_COLUMNS",
    "LEVEL_ORDER",
    "MEASUREMENT_COLUMNS",
    "REPORT_BLINDED",
    "REPORT_UNBLINDED",
    "ROI_ORDER",
    "ROLES",
    "TRIAL_COLUMNS",
]

#: File names of the HTML report: the name says whether the treatment allocation is in it.
REPORT_BLINDED: str = "report_BLINDED.html"
REPORT_UNBLINDED: str = "report_UNBLINDED.html"

#: Change categories, from better to worse (the order of every table and figure).
CATEGORIES: tuple[str, str, str] = ("regeneration", "no evolution", "degeneration")

#: The five ROIs from anterior to posterior (docs/methods/rois.md), then the derived summaries.
FIVE_ROIS: tuple[str, ...] = (
    "AF_anterior",
    "NP_anterior",
    "NP_central",
    "NP_posterior",
    "AF_posterior",
)
#: Derived ROIs and the five ROIs each pools (voxel-weighted).
DERIVED_ROIS: dict[str, tuple[str, ...]] = {
    "NP": ("NP_anterior", "NP_central", "NP_posterior"),
    "AF": ("AF_anterior", "AF_posterior"),
    "disc": FIVE_ROIS,
}
ROI_ORDER: tuple[str, ...] = (*FIVE_ROIS, *DERIVED_ROIS)

#: Disc levels from cranial to caudal; the label of a level in ``rois.nii.gz`` is ``10 * position``
#: plus the ROI number 1..5 (so ``41`` is L4-L5 AF_anterior).
LEVEL_ORDER: tuple[str, ...] = ("T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")

#: Disc roles in a study manifest: the treated disc, the healthy control discs, any other disc.
ROLES: tuple[str, ...] = ("index", "control", "other")

MEASUREMENT_COLUMNS: tuple[str, ...] = (
    "subject",
    "visit",
    "months",
    "level",
    "role",
    "roi",
    "n_voxels",
    "n_excluded",
    "t2_mean_ms",
    "t2_median_ms",
    "t2_sd_ms",
    "method",
)

CHANGE_COLUMNS: tuple[str, ...] = (
    "subject",
    "level",
    "role",
    "roi",
    "visit",
    "months",
    "baseline_t2_ms",
    "t2_ms",
    "pct_of_baseline",
    "change_pct",
    "category",
    # index-disc rows only (empty elsewhere):
    "control_change_pct",
    "treated_minus_control_pct",
    "ratio_change_pct",
    "control_levels",
    # settings and flags that make each row self-describing:
    "tau_pct",
    "protocol_flags",
)

ERROR_COLUMNS: tuple[str, ...] = ("subject", "visit", "stage", "error")

TRIAL_COLUMNS: tuple[str, ...] = (
    "visit",
    "months",
    "endpoint",
    "roi",
    "arm",
    "n",
    "n_missing",
    "mean_pct",
    "sd_pct",
    "median_pct",
    "n_regeneration",
    "pct_regeneration",
    "n_no_evolution",
    "pct_no_evolution",
    "n_degeneration",
    "pct_degeneration",
    "compared_with",
    "diff_mean_pct",
    "diff_ci_low_pct",
    "diff_ci_high_pct",
    "welch_t",
    "welch_df",
    "welch_p",
    "mannwhitney_u",
    "mannwhitney_p",
    "category_test",
    "category_statistic",
    "category_p",
    "tau_pct",
    # added later, at the end so that readers of the older layout keep working:
    "q1_pct",
    "q3_pct",
    "category_statistic_name",
)


def level_rank(level: str) -> int:
    """Position of a level from cranial to caudal; unknown names sort after the known ones."""
    try:
        return LEVEL_ORDER.index(level)
    except ValueError:
        return len(LEVEL_ORDER)


def roi_rank(roi: str) -> int:
    """Position of an ROI name in :data:`ROI_ORDER`; unknown names sort last."""
    try:
        return ROI_ORDER.index(roi)
    except ValueError:
        return len(ROI_ORDER)
