"""Propagation of baseline ROIs to a repositioned follow-up.

The follow-up is the same anatomy rotated by 4 degrees about the left-right axis and moved
3 mm anteriorly and 4 mm inferiorly (1 mm to the right, which this left-right extruded phantom
cannot show), and its index disc has regenerated (brighter nucleus). Rigid registration of
images with sharp edges recovers such motion to a fraction of a voxel; a band ~6 voxels wide
then keeps a Dice of >= 0.8 for every ROI and >= 0.9 on average.
"""

import numpy as np
import pytest
from matplotlib.figure import Figure

from discT2 import DiscGeometry, place_rois, propagate
from discT2.roi import registration_figure
from discT2.roi.levels import LEVELS

pytestmark = pytest.mark.slow  # two exams and seven registrations

LEVELS_USED = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")


@pytest.fixture(scope="module")
def visits(syn):
    shape = (140, 150, 5)
    affine = syn.sagittal_affine(shape=shape, pixel_mm=(1.5, 1.4), in_plane=("A-", "S+"))
    before = syn.make_spine(cortex_mm=0.8, degenerated=("L4-L5",))
    after = syn.make_spine(cortex_mm=0.8)
    baseline = syn.make_exam(before, shape=shape, affine=affine, sigma=0.02, supersample=2)
    motion = syn.rigid(4.0, (1.0, 3.0, -4.0))
    followup = syn.make_exam(
        after, shape=shape, affine=affine, sigma=0.02, supersample=2, transform=motion, seed=1
    )
    followup.series.meta["series_instance_uid"] = "1.2.826.0.1.3680043.10.2"
    drawn = [
        DiscGeometry(lv, corners_ras_mm=baseline.corners_ras[lv], reader="reader A")
        for lv in LEVELS_USED
    ]
    base_rois = place_rois(baseline.series, drawn, slices=1)
    return baseline, followup, base_rois


@pytest.fixture(scope="module")
def propagated(visits):
    baseline, followup, base_rois = visits
    return propagate(baseline.series, base_rois, followup.series, reader="reader B")


def test_propagated_rois_match_the_true_follow_up_rois(syn, visits, propagated):
    _, followup, base_rois = visits
    truth = place_rois(
        followup.series,
        [DiscGeometry(lv, corners_ras_mm=followup.corners_ras[lv]) for lv in LEVELS_USED],
        slices=1,
    )
    assert propagated.levels == list(LEVELS_USED)
    for level in LEVELS_USED:
        n = LEVELS.index(level)
        dice = np.array(
            [
                syn.dice(propagated.labels == 10 * n + r, truth.labels == 10 * n + r)
                for r in range(1, 6)
            ]
        )
        assert dice.min() >= 0.8 and dice.mean() >= 0.9, (level, dice)
    assert propagated.options == base_rois.options


def test_propagated_discs_are_flagged_with_registration_figures(visits, propagated):
    baseline, _, base_rois = visits
    for disc in propagated.discs:
        reg = disc.qa["registration"]
        assert disc.method == "propagated" and disc.reader == "reader B"
        assert disc.pfirrmann is None  # graded again at each visit
        assert "review" in disc.qa["flags"]
        assert reg["ncc_after"] > 0.95 > reg["ncc_before"]
        assert reg["review"] is False and "registration_review" not in disc.qa["flags"]
        assert disc.qa["propagated_from"]["reader"] == "reader A"
        assert disc.series["series_instance_uid"] == "1.2.826.0.1.3680043.10.2"
        assert (
            disc.qa["propagated_from"]["series"]["series_instance_uid"]
            == (baseline.series.meta["series_instance_uid"])
        )
        matrix = np.array(reg["matrix_ras"])
        assert np.degrees(np.arccos(matrix[1, 1])) == pytest.approx(4.0, abs=0.5)
    assert propagated.provenance["propagated_from"] == base_rois.provenance["series"]


def test_global_transform_recovers_the_motion(visits, propagated):
    matrix = np.array(propagated.provenance["global_matrix_ras"])
    _, followup, _ = visits
    point = np.array([0.0, 10.0, -30.0])
    expected = followup.transform[:3, :3] @ point + followup.transform[:3, 3]
    moved = matrix[:3, :3] @ point + matrix[:3, 3]
    # In-plane (y, z) to a fraction of a voxel; x is invisible in this phantom.
    np.testing.assert_allclose(moved[1:], expected[1:], atol=0.5)


def test_registration_figure(visits, propagated, tmp_path):
    baseline, followup, base_rois = visits
    fig = registration_figure(baseline.series, base_rois, followup.series, propagated)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 3 * len(LEVELS_USED)
    assert "NCC" in fig.axes[2].get_title()
    fig.savefig(tmp_path / "registration.png", dpi=40)
    assert (tmp_path / "registration.png").stat().st_size > 1000
