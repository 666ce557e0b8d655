"""Growing a disc from one click, against the synthetic spine's true geometry.

Tolerances: at 1.2-1.3 mm pixels the corners land within about one pixel of the truth (SD 0.2-1
mm; partial volume at the vertebral corners, a 0.8 mm cortical line that the disc side of the
boundary blurs into), never more than 4 pixels. A band is ~6 pixels wide and ~8 high, so
boundaries off by 1-1.5 pixels on two sides cost up to ~1 - 6 * 8 / (7.5 * 9.5) ~ 0.3 of an ROI's
Dice: each ROI >= 0.6, and >= 0.75 on average over a disc's five.
"""

import numpy as np
import pytest

from discT2 import DiscGeometry, RoiError, grow_disc, place_rois, save_discs
from discT2.roi.levels import LEVELS


def _inside(exam):
    out = []
    for lv in LEVELS:
        ijk = exam.series.world_to_voxel(np.array(list(exam.corners_ras[lv].values())))
        if np.all(ijk[:, :2] >= 2) and np.all(ijk[:, :2] <= np.array(exam.series.shape[:2]) - 3):
            out.append(lv)
    return out


def _dice(syn, exam, rois, level):
    n = LEVELS.index(level)
    k = exam.mid_slice
    return np.array(
        [
            syn.dice(rois.labels[:, :, k] == 10 * n + r, exam.truth_labels[:, :, k] == 10 * n + r)
            for r in range(1, 6)
        ]
    )


def _point(corners, t, s):
    upper = corners["AS"] + t * (corners["PS"] - corners["AS"])
    lower = corners["AI"] + t * (corners["PI"] - corners["AI"])
    return lower + s * (upper - lower)


@pytest.mark.parametrize("which", ["series", "t2map"])
def test_grown_discs_match_the_truth(syn, noisy_exam, which):
    image = getattr(noisy_exam, which)
    pixel = float(np.mean(noisy_exam.series.voxel_size_mm[:2]))
    levels = _inside(noisy_exam)
    assert len(levels) >= 5
    for level in levels:
        truth = noisy_exam.corners_ras[level]
        g = grow_disc(image, _point(truth, 0.5, 0.5), level)
        assert g.method == "grown" and g.slice == noisy_exam.mid_slice
        for name in truth:
            assert np.linalg.norm(g.corners_ras_mm[name] - truth[name]) < 4.0 * pixel, name
        rois = place_rois(image, [g], endplate_margin=0, outer_margin=0)
        d = _dice(syn, noisy_exam, rois, level)
        assert d.min() >= 0.6 and d.mean() >= 0.75, (level, d)


@pytest.mark.parametrize(("t", "s"), [(0.3, 0.5), (0.7, 0.5), (0.5, 0.3), (0.5, 0.7)])
def test_off_centre_clicks(syn, noisy_exam, t, s):
    level = "L3-L4"
    g = grow_disc(noisy_exam.series, _point(noisy_exam.corners_ras[level], t, s), level)
    d = _dice(
        syn,
        noisy_exam,
        place_rois(noisy_exam.series, [g], endplate_margin=0, outer_margin=0),
        level,
    )
    assert d.min() >= 0.6 and d.mean() >= 0.75


def _outside_points(spine):
    """Clicks outside any disc: vertebral bodies, spinal canal, muscle, soft tissue, air."""
    c = spine.discs["L3-L4"]
    a_mid, p_mid = (c["AS"] + c["AI"]) / 2, (c["PS"] + c["PI"]) / 2
    e = (a_mid - p_mid) / np.linalg.norm(a_mid - p_mid)
    points = {
        "vertebra L3": spine.vertebrae[3].mean(axis=0),
        "vertebra L4 near its endplate": spine.vertebrae[2].mean(axis=0) * 0.4
        + 0.6 * (spine.vertebrae[2][2] + spine.vertebrae[2][3]) / 2,
        "spinal canal": p_mid - 9 * e,
        "muscle": p_mid - 40 * e,
        "prevertebral soft tissue": a_mid + 30 * e,
        "air": a_mid + 95 * e,
    }
    return {name: np.array([0.0, *yz]) for name, yz in points.items()}


@pytest.mark.parametrize("which", ["series", "t2map"])
def test_clicks_outside_any_disc_are_refused(noisy_exam, which):
    image = getattr(noisy_exam, which)
    for name, point in _outside_points(noisy_exam.spine).items():
        with pytest.raises(RoiError, match=r"disc L3-L4: the click at RAS .* is not inside a disc"):
            grow_disc(image, point, "L3-L4")
            pytest.fail(f"click in {name} accepted")


def test_click_outside_the_image(noisy_exam):
    with pytest.raises(RoiError, match="lies outside the image"):
        grow_disc(noisy_exam.series, [0.0, 500.0, 0.0], "L3-L4")


def test_place_rois_grows_discs_given_by_a_centre(syn, noisy_exam, tmp_path):
    centre = np.mean(list(noisy_exam.corners_ras["L2-L3"].values()), axis=0)
    path = save_discs(
        [DiscGeometry("L2-L3", center_ras_mm=centre, pfirrmann=1)], tmp_path / "discs.json"
    )
    rois = place_rois(noisy_exam.series, path, reader="reader D")
    disc = rois.disc("L2-L3")
    assert disc.method == "grown" and disc.pfirrmann == 1 and disc.reader == "reader D"
    assert "review" in disc.qa["flags"] and disc.qa["grow"]["height_mm"] > 5
    np.testing.assert_allclose(disc.center_ras_mm, centre, atol=1e-3)
    # A centre in a vertebral body: the error names the disc and the file.
    bad = _outside_points(noisy_exam.spine)["vertebra L3"]
    path = save_discs([DiscGeometry("L3-L4", center_ras_mm=bad)], tmp_path / "bad.json")
    with pytest.raises(RoiError, match=rf"disc L3-L4 in {path}: .*not inside a disc"):
        place_rois(noisy_exam.series, path)
