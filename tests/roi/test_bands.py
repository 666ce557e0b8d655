import math

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from discT2 import RoiError
from discT2.roi.bands import (
    DEFAULT_FRACTIONS,
    band_index,
    bilinear_coordinates,
    check_corners_2d,
    check_fractions,
    edge_distances,
)

ANT = np.array([1.0, 0.0])
SUP = np.array([0.0, 1.0])


def _random_disc(rng):
    """A wedge disc with random tilt, size and corner jitter (a convex quadrilateral)."""
    t = math.radians(rng.uniform(-40, 30))
    e = np.array([math.cos(t), math.sin(t)])
    n = np.array([-math.sin(t), math.cos(t)])
    length = rng.uniform(25, 50)
    h_a, h_p = rng.uniform(5, 16), rng.uniform(3, 12)
    c = rng.uniform(-20, 20, 2)
    jit = rng.normal(0, 1.0, (4, 2))
    return {
        "AS": c + e * length / 2 + n * h_a / 2 + jit[0],
        "AI": c + e * length / 2 - n * h_a / 2 + jit[1],
        "PS": c - e * length / 2 + n * h_p / 2 + jit[2],
        "PI": c - e * length / 2 - n * h_p / 2 + jit[3],
    }


def test_bilinear_coordinates_invert_the_bilinear_map():
    rng = np.random.default_rng(1)
    for _ in range(20):
        c = _random_disc(rng)
        t = rng.uniform(-0.2, 1.2, 200)
        s = rng.uniform(-0.2, 1.2, 200)
        upper = c["AS"] + t[:, None] * (c["PS"] - c["AS"])
        lower = c["AI"] + t[:, None] * (c["PI"] - c["AI"])
        x = (1 - s[:, None]) * lower + s[:, None] * upper
        t2, s2 = bilinear_coordinates(x, c)
        np.testing.assert_allclose(t2, t, atol=1e-9)
        np.testing.assert_allclose(s2, s, atol=1e-9)


def test_parallelogram_takes_the_linear_branch():
    c = {
        "AS": np.array([20.0, 5]),
        "PS": np.array([-20.0, 5]),
        "AI": np.array([22.0, -5]),
        "PI": np.array([-18.0, -5]),
    }
    t, s = bilinear_coordinates(np.array([[1.0, 0.0], [21.0, 0.0]]), c)
    np.testing.assert_allclose(t, [0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(s, [0.5, 0.5], atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_bands_equal_the_band_quadrilaterals(seed):
    """Without margins, band k is exactly the quadrilateral S(f_k-1) S(f_k) I(f_k) I(f_k-1)."""
    rng = np.random.default_rng(seed)
    c = _random_disc(rng)
    f = (0.0, 0.1, 0.35, 0.65, 0.9, 1.0) if seed % 2 else DEFAULT_FRACTIONS
    pts = rng.uniform(-50, 50, (60000, 2))
    band = band_index(pts, c, fractions=f)
    for k in range(1, 6):
        s0 = c["AS"] + f[k - 1] * (c["PS"] - c["AS"])
        s1 = c["AS"] + f[k] * (c["PS"] - c["AS"])
        i0 = c["AI"] + f[k - 1] * (c["PI"] - c["AI"])
        i1 = c["AI"] + f[k] * (c["PI"] - c["AI"])
        truth = MplPath(np.array([s0, s1, i1, i0])).contains_points(pts)
        assert truth.sum() > 30
        np.testing.assert_array_equal(band == k, truth)
    # ROI 1 is the anterior one: its points are nearer the anterior edge than ROI 5's.
    a_mid = (c["AS"] + c["AI"]) / 2
    d1 = np.linalg.norm(pts[band == 1] - a_mid, axis=1).mean()
    d5 = np.linalg.norm(pts[band == 5] - a_mid, axis=1).mean()
    assert d1 < d5


def test_margins_remove_exactly_the_points_near_the_edges():
    rng = np.random.default_rng(7)
    c = _random_disc(rng)
    pts = rng.uniform(-60, 60, (40000, 2))
    plain = band_index(pts, c)
    margined = band_index(pts, c, endplate_margin_mm=(1.0, 1.5), outer_margin_mm=(2.0, 0.5))
    assert np.all((margined == 0) | (margined == plain))
    d = edge_distances(pts, c)
    near = (
        (d["superior"] < 1.0)
        | (d["inferior"] < 1.5)
        | (d["anterior"] < 2.0)
        | (d["posterior"] < 0.5)
    )
    np.testing.assert_array_equal(margined > 0, (plain > 0) & ~near)


def test_outline_clips_the_bands():
    c = {
        "AS": np.array([20.0, 5]),
        "PS": np.array([-20.0, 5]),
        "AI": np.array([20.0, -5]),
        "PI": np.array([-20.0, -5]),
    }
    outline = np.array([[0.0, 10], [-30, 0], [0, -10], [30, 0]])  # a diamond
    xs, ys = np.meshgrid(np.arange(-25, 25.5, 0.5), np.arange(-8, 8.5, 0.5))
    pts = np.stack([xs.ravel(), ys.ravel()], axis=1)
    clipped = band_index(pts, c, outline=outline)
    inside = MplPath(outline).contains_points(pts)
    plain = band_index(pts, c)
    np.testing.assert_array_equal(clipped, np.where(inside, plain, 0))


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ((0, 0.2, 0.4, 0.6, 1), "6 boundaries"),
        ((0, 0.4, 0.2, 0.6, 0.8, 1), "increase strictly"),
        ((-0.1, 0.2, 0.4, 0.6, 0.8, 1), "increase strictly"),
        ((0, 0.2, 0.4, 0.6, 0.8, 1.2), "increase strictly"),
    ],
)
def test_bad_fractions(fractions, message):
    with pytest.raises(RoiError, match=message):
        check_fractions(fractions)


def test_good_corners_pass():
    check_corners_2d(_random_disc(np.random.default_rng(3)), ANT, SUP, where="disc L4-L5")


_DISC = {"AS": (20.0, 6.0), "PS": (-20.0, 4.0), "AI": (20.0, -6.0), "PI": (-20.0, -4.0)}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"AS": (-20, 6), "AI": (-20, -6), "PS": (20, 4), "PI": (20, -4)}, "swap anterior and"),
        ({"AS": (20, -6), "AI": (20, 6), "PS": (-20, -4), "PI": (-20, 4)}, "swap superior and"),
        ({"PS": (-20, -4), "PI": (-20, 4)}, "crossed endplate lines"),
        ({"AS": (20, -6), "AI": (20, 6)}, "crossed endplate lines"),
        ({"AS": (-5, 6), "PS": (5, 4)}, "crossed or mislabelled"),
    ],
)
def test_swapped_or_crossed_corners_are_refused(changes, message):
    c = {k: np.array(changes.get(k, v), float) for k, v in _DISC.items()}
    with pytest.raises(RoiError, match=f"disc L4-L5 in discs.json: .*{message}"):
        check_corners_2d(c, ANT, SUP, where="disc L4-L5 in discs.json")


def test_axis_far_from_anterior_is_refused():
    c = {
        "AS": np.array([5.0, 20]),
        "PS": np.array([5.0, -20]),
        "AI": np.array([-5.0, 20]),
        "PI": np.array([-5.0, -20]),
    }
    with pytest.raises(RoiError, match="degrees from the patient's anterior"):
        check_corners_2d(c, ANT, SUP, where="disc L1-L2")
