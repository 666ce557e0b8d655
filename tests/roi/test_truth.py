"""ROIs from the true corners of the committed sample study, against the phantom's own truth.

The phantom writes the true bands (``truth/rois.nii.gz``: voxel centres inside the band of the
corner quadrilateral, on every slice) with the same label numbers as discT2, so ROIs placed from
the true corners without margins must equal them voxel for voxel (Dice 1).

T2 tolerance: the ROI mean of the EPG fit must match the band's true T2 within 4 standard errors
of the mean plus 2 %. The standard error is the fit's own (``t2_fit_se_ms`` = sqrt(sum of the
voxels' fit variances) / n; an ROI's sample SD is meaningless with 2-5 voxels), and 2 % bounds
the EPG fit's bias on EPG-simulated CPMG data (docs/methods/fitting.md: within 0.6 % for
T2 >= 50 ms, 2.1 % at 20 ms) plus partial volume at the band edges.
"""

import numpy as np
import pytest

from discT2 import DiscGeometry, measure, place_rois
from discT2.roi.levels import ROI_NAMES

EXAMS = [(s, v) for s in ("S01", "S02", "S03", "S04") for v in ("baseline", "m12")]


def _true_discs(exam):
    return [DiscGeometry(lv, corners_ras_mm=d["corners_ras_mm"]) for lv, d in exam.discs.items()]


@pytest.mark.parametrize(("subject", "visit"), EXAMS)
def test_true_corners_give_the_true_bands(ph, subject, visit):
    exam = ph.sample_exam(subject, visit)
    rois = place_rois(exam.series, _true_discs(exam), endplate_margin=0, outer_margin=0, slices=1)
    np.testing.assert_array_equal(rois.labels, exam.labels)
    assert rois.levels == list(exam.discs)


@pytest.mark.slow
@pytest.mark.parametrize(("subject", "visit"), EXAMS)
def test_roi_t2_from_true_corners_matches_the_truth(ph, subject, visit):
    exam = ph.sample_exam(subject, visit)
    table = measure(exam.t2map, place_rois(exam.t2map, _true_discs(exam)))
    for level, truth in exam.roi_t2.items():
        for roi in ROI_NAMES:
            row = table[(table.level == level) & (table.roi == roi)].iloc[0]
            assert row.n_voxels >= 2, (level, roi)
            tolerance = 4 * row.t2_fit_se_ms + 0.02 * truth[roi]
            assert abs(row.t2_mean_ms - truth[roi]) <= tolerance, (level, roi, row.t2_mean_ms)
