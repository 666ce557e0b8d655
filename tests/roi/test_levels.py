import pytest

from discT2 import LEVELS, ROI_NAMES, RoiError
from discT2.roi.levels import DERIVED_ROIS, label_value, level_index, normalise_level, parse_label


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("L4-L5", "L4-L5"),
        ("L4/L5", "L4-L5"),
        ("l4-5", "L4-L5"),
        ("L4L5", "L4-L5"),
        ("L4 L5", "L4-L5"),
        ("T12/L1", "T12-L1"),
        ("t12-l1", "T12-L1"),
        ("L5/S1", "L5-S1"),
        ("L5-1", None),
    ],
)
def test_level_spellings(name, canonical):
    if canonical is None:
        with pytest.raises(RoiError, match="unknown disc level"):
            normalise_level(name)
    else:
        assert normalise_level(name) == canonical


@pytest.mark.parametrize("name", ["L6-S1", "L3-L5", "C5-C6", "", "disc 4", "T11-T12"])
def test_unknown_levels_are_refused_with_the_list(name):
    with pytest.raises(RoiError, match=r"unknown disc level .*T12-L1, L1-L2"):
        normalise_level(name, where="discs.json")


def test_unknown_level_message_names_where():
    with pytest.raises(RoiError, match=r"^my/discs\.json: unknown"):
        normalise_level("L7-S1", where="my/discs.json")


def test_labels_follow_the_contract():
    # 10 n + k, n = lumbar position of the upper vertebra (T12 -> 0), k = 1..5 anterior first.
    assert label_value("L4-L5", "AF_anterior") == 41
    assert label_value("T12-L1", "AF_posterior") == 5
    assert label_value("L5-S1", 3) == 53
    assert [level_index(lv) for lv in LEVELS] == [0, 1, 2, 3, 4, 5]
    seen = set()
    for level in LEVELS:
        for k, roi in enumerate(ROI_NAMES, 1):
            value = label_value(level, roi)
            assert value == label_value(level, k)
            assert parse_label(value) == (level, roi)
            seen.add(value)
    assert len(seen) == 30 and max(seen) == 55


@pytest.mark.parametrize("value", [0, 10, 6, 60, 47])
def test_parse_label_refuses_non_roi_values(value):
    with pytest.raises(RoiError, match="not a disc ROI label"):
        parse_label(value)


def test_roi_numbers_out_of_range():
    with pytest.raises(RoiError, match=r"ROI number must be 1\.\.5"):
        label_value("L4-L5", 6)


def test_names_and_derived():
    assert ROI_NAMES == (
        "AF_anterior",
        "NP_anterior",
        "NP_central",
        "NP_posterior",
        "AF_posterior",
    )
    assert DERIVED_ROIS == {"NP": (2, 3, 4), "AF": (1, 5), "disc": (1, 2, 3, 4, 5)}
