import itertools
import math

import numpy as np
import pytest

from discT2 import RoiError, load_discs, order_corners, sample_study
from discT2.roi.geometry import CORNERS

SAMPLE_AFFINE = np.array(
    [[0, 0, 4.4, -4.4], [-1.875, 0, 0, 89.0625], [0, -1.875, 0, 111.5625], [0, 0, 0, 1.0]]
)


def _wedge(tilt_deg, length=40.0, h_ant=12.0, h_post=7.0):
    """Corners (RAS, x = 0) of a wedge disc tilted by tilt_deg (anterior end up when > 0)."""
    t = math.radians(tilt_deg)
    e = np.array([0.0, math.cos(t), math.sin(t)])  # anterior along the disc
    n = np.array([0.0, -math.sin(t), math.cos(t)])  # superior across it
    a, p = e * length / 2, -e * length / 2
    return {
        "AS": a + n * h_ant / 2,
        "PS": p + n * h_post / 2,
        "AI": a - n * h_ant / 2,
        "PI": p - n * h_post / 2,
    }


@pytest.mark.parametrize("subject", ["S01", "S02", "S03", "S04"])
def test_every_click_order_of_the_sample_discs_is_named_right(subject):
    discs = load_discs(sample_study() / subject / "baseline" / "truth" / "discs.json")
    for disc in discs:
        truth = disc.corners_ras_mm
        for order in itertools.permutations(CORNERS):
            named = order_corners([truth[c] for c in order], SAMPLE_AFFINE, where=disc.level)
            for c in CORNERS:
                np.testing.assert_array_equal(named[c], truth[c])


@pytest.mark.parametrize("tilt", [-40.0, -25.0, 0.0, 20.0, 40.0])
@pytest.mark.parametrize("flip_i", [False, True])
def test_tilted_wedges_on_any_in_plane_layout(tilt, flip_i):
    # i along +-y or along z: the naming uses patient directions, not the grid's axes.
    affine = SAMPLE_AFFINE.copy()
    if flip_i:
        affine[:3, :2] = affine[:3, :2][:, ::-1] * [-1, 1]
    truth = _wedge(tilt)
    for order in itertools.permutations(CORNERS):
        named = order_corners([truth[c] for c in order], affine)
        assert {c: named[c].tolist() for c in CORNERS} == {c: truth[c].tolist() for c in CORNERS}


def test_a_disc_about_as_tall_as_long_uses_the_patient_axes():
    truth = _wedge(5.0, length=14.0, h_ant=13.0, h_post=12.0)
    named = order_corners([truth[c] for c in ("PI", "AS", "AI", "PS")], SAMPLE_AFFINE)
    assert {c: named[c].tolist() for c in CORNERS} == {c: truth[c].tolist() for c in CORNERS}


def test_refusals():
    truth = _wedge(0.0)
    pts = [truth[c] for c in CORNERS]
    with pytest.raises(RoiError, match="exactly four"):
        order_corners(pts[:3], SAMPLE_AFFINE)
    with pytest.raises(RoiError, match="exactly four"):
        order_corners([*pts[:3], [np.nan, 0, 0]], SAMPLE_AFFINE)
    with pytest.raises(RoiError, match="L4-L5: two of the four corners coincide"):
        order_corners([pts[0], pts[0], pts[1], pts[2]], SAMPLE_AFFINE, where="L4-L5")
    # Four points on one line make no disc.
    line = [[0.0, y, 0.0] for y in (0.0, 10.0, 20.0, 30.0)]
    with pytest.raises(RoiError):
        order_corners(line, SAMPLE_AFFINE)
