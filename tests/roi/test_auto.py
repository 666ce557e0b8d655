"""Automatic disc detection on a whole synthetic exam.

Tolerance: the same growing as one click (see test_segment.py), from seeds that need not be at
the disc's centre: each ROI's Dice >= 0.55 and >= 0.7 on average over a disc's five.
"""

import numpy as np
import pytest

from discT2 import DiscGeometry, RoiError, detect_discs, place_rois
from discT2.roi import relabel
from discT2.roi.levels import LEVELS

pytestmark = pytest.mark.slow  # each detection grows a disc from tens of candidate points


@pytest.fixture(scope="module")
def found(noisy_exam):
    return detect_discs(noisy_exam.series, reader="batch")


def test_finds_every_disc_in_the_field_of_view_with_its_level(found, noisy_exam):
    assert [d.level for d in found] == list(LEVELS)  # top down, L5-S1 lowest
    for d in found:
        assert d.method == "auto" and d.reader == "batch"
        assert "review" in d.qa["flags"] and d.qa["auto"]["lowest_level"] == "L5-S1"
        assert d.slice in (noisy_exam.mid_slice - 1, noisy_exam.mid_slice, noisy_exam.mid_slice + 1)


def test_auto_rois_match_the_truth(syn, found, noisy_exam):
    k = noisy_exam.mid_slice
    on_mid = [
        DiscGeometry(
            d.level,
            corners_ras_mm={
                n: noisy_exam.series.voxel_to_world([*noisy_exam.series.world_to_voxel(p)[:2], k])
                for n, p in d.corners_ras_mm.items()
            },
        )
        for d in found
    ]
    rois = place_rois(noisy_exam.series, on_mid, endplate_margin=0, outer_margin=0)
    for d in found:
        n = LEVELS.index(d.level)
        dice = np.array(
            [
                syn.dice(
                    rois.labels[:, :, k] == 10 * n + r,
                    noisy_exam.truth_labels[:, :, k] == 10 * n + r,
                )
                for r in range(1, 6)
            ]
        )
        assert dice.min() >= 0.55 and dice.mean() >= 0.7, (d.level, dice)


def test_t2_map_alone(noisy_exam):
    found = detect_discs(noisy_exam.t2map, slice=noisy_exam.mid_slice)
    assert [d.level for d in found] == list(LEVELS)


def test_lowest_level_override(noisy_exam):
    found = detect_discs(noisy_exam.series, slice=noisy_exam.mid_slice, lowest_level="L4/L5")
    # Six discs cannot end at L4-L5 (only five levels lie at or above it): the lowest are kept.
    assert [d.level for d in found] == list(LEVELS[:5])
    assert found[-1].qa["auto"]["lowest_level"] == "L4-L5"


def test_relabel(found):
    by_map = relabel(found[-2:], {"L5-S1": "L4-L5", "L4-L5": "L3-L4"})
    assert [d.level for d in by_map] == ["L3-L4", "L4-L5"]
    assert by_map[1].qa["relabelled_from"] == "L5-S1"
    by_lowest = relabel(found[-3:], lowest_level="L4-L5")
    assert [d.level for d in by_lowest] == ["L2-L3", "L3-L4", "L4-L5"]
    np.testing.assert_allclose(by_lowest[2].corner_array(), found[-1].corner_array())
    with pytest.raises(RoiError, match="same level twice"):
        relabel(found[-2:], {"L5-S1": "L4-L5"})
    with pytest.raises(RoiError, match="only 2 levels lie at or above"):
        relabel(found[:3], lowest_level="L1-L2")
    with pytest.raises(RoiError, match="either a level mapping or the lowest level"):
        relabel(found, {"L5-S1": "L4-L5"}, lowest_level="L4-L5")


def test_nothing_to_find():
    from discT2 import MultiEchoSeries

    affine = np.array([[0, 0, 4.0, 0], [1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1]])
    rng = np.random.default_rng(0)
    empty = MultiEchoSeries(rng.normal(100, 1, (60, 60, 1, 3)), [10, 20, 30], affine)
    with pytest.raises(RoiError, match="no disc found automatically"):
        detect_discs(empty)
