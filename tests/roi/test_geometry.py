import math

import numpy as np
import pytest

from discT2 import DiscGeometry, RoiError
from discT2.roi.geometry import corners_from_outline


def _quad(tilt_deg=0.0, length=40.0, h_ant=12.0, h_post=8.0, centre=(0.0, 0.0)):
    """Corners (y, z) of a wedge disc whose AP axis is tilted by tilt_deg (anterior up > 0)."""
    t = math.radians(tilt_deg)
    e = np.array([math.cos(t), math.sin(t)])  # anterior
    n = np.array([-math.sin(t), math.cos(t)])  # superior
    c = np.asarray(centre, float)
    a, p = c + e * length / 2, c - e * length / 2
    return {
        "AS": a + n * h_ant / 2,
        "AI": a - n * h_ant / 2,
        "PS": p + n * h_post / 2,
        "PI": p - n * h_post / 2,
    }


def _ras(c2, x=0.0):
    return {k: np.array([x, v[0], v[1]]) for k, v in c2.items()}


@pytest.mark.parametrize("tilt", [-35.0, -10.0, 0.0, 15.0])
def test_measures_of_a_known_wedge(tilt):
    g = DiscGeometry("L5-S1", corners_ras_mm=_ras(_quad(tilt, 40.0, 12.0, 8.0)))
    m = g.measures()
    assert m["height_anterior_mm"] == pytest.approx(12.0)
    assert m["height_posterior_mm"] == pytest.approx(8.0)
    assert m["height_middle_mm"] == pytest.approx(10.0)
    assert m["height_mean_mm"] == pytest.approx(10.0)
    assert m["ap_length_mm"] == pytest.approx(40.0)
    assert m["tilt_deg"] == pytest.approx(tilt)
    # Endplates at +-atan(2/40): the disc opens anteriorly by 2 * 2.86 degrees.
    assert m["wedge_deg"] == pytest.approx(2 * math.degrees(math.atan(2 / 40)))
    assert m["area_mm2"] == pytest.approx(40.0 * 10.0)
    assert "disc_height_index" not in m


def test_disc_height_index_from_the_adjacent_bodies():
    disc = _quad(0.0, 40.0, 12.0, 8.0)
    upper = {"AI": disc["AS"], "PI": disc["PS"]}
    upper |= {"AS": disc["AS"] + [0, 25.0], "PS": disc["PS"] + [0, 27.0]}
    lower = {"AS": disc["AI"], "PS": disc["PI"]}
    lower |= {"AI": disc["AI"] - [0, 24.0], "PI": disc["PI"] - [0, 24.0]}
    g = DiscGeometry(
        "L4-L5",
        corners_ras_mm=_ras(disc),
        vertebra_corners_ras_mm={"upper": _ras(upper), "lower": _ras(lower)},
    )
    m = g.measures()
    assert m["vertebral_height_mm"] == pytest.approx((26.0 + 24.0) / 2)
    assert m["disc_height_index"] == pytest.approx(10.0 / 25.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give corners_ras_mm, outline_ras_mm or center_ras_mm"),
        ({"corners_ras_mm": {"AS": [0, 0, 0]}}, r"missing \['PS', 'AI', 'PI'\]"),
        ({"center_ras_mm": [0, 1]}, "three finite numbers"),
        ({"center_ras_mm": [0, np.nan, 1]}, "three finite numbers"),
        ({"outline_ras_mm": [[0, 0, 0], [1, 1, 1]]}, "at least 3"),
        ({"center_ras_mm": [0, 0, 0], "pfirrmann": 6}, "Pfirrmann grade must be 1..5"),
        ({"center_ras_mm": [0, 0, 0], "method": "guessed"}, "method must be one of"),
        ({"center_ras_mm": [0, 0, 0], "slice": 2.5}, "slice must be an integer"),
    ],
)
def test_bad_geometry_is_refused(kwargs, message):
    with pytest.raises(RoiError, match=message):
        DiscGeometry("L4-L5", **kwargs)


def test_bad_level_is_refused():
    with pytest.raises(RoiError, match="unknown disc level 'L9-L10'"):
        DiscGeometry("L9-L10", center_ras_mm=[0, 0, 0])


@pytest.mark.parametrize("nested", [False, True])
def test_dict_round_trip(nested):
    g = DiscGeometry(
        "l4/5",
        corners_ras_mm=_ras(_quad(-12.0)),
        outline_ras_mm=[[0, 1, 2], [0, 3, 4], [0, 5, 0]],
        center_ras_mm=[0, 1, 1],
        slice=3,
        pfirrmann=2,
        method="grown",
        reader="reader A",
        series={"series_instance_uid": "1.2.3"},
    )
    doc = g.to_dict(provenance="nested" if nested else "flat")
    if nested:
        assert doc["provenance"]["method"] == "grown" and "method" not in doc
    else:
        assert doc["method"] == "grown" and "provenance" not in doc
    back = DiscGeometry.from_dict(doc)
    assert back.level == "L4-L5"
    assert back.slice == 3 and back.pfirrmann == 2 and back.reader == "reader A"
    assert back.method == "grown" and back.created == g.created
    assert back.series == {"series_instance_uid": "1.2.3"}
    np.testing.assert_allclose(back.corner_array(), g.corner_array(), atol=1e-4)
    np.testing.assert_allclose(back.outline_ras_mm, g.outline_ras_mm)


def test_from_dict_accepts_made_by_and_names_the_entry():
    g = DiscGeometry.from_dict({"level": "L3-L4", "center_ras_mm": [0, 0, 0], "made_by": "auto"})
    assert g.method == "auto"
    with pytest.raises(RoiError, match=r"^discs\.json, disc 2: disc L3-L4: Pfirrmann"):
        DiscGeometry.from_dict(
            {"level": "L3-L4", "center_ras_mm": [0, 0, 0], "pfirrmann": 0},
            where="discs.json, disc 2",
        )
    with pytest.raises(RoiError, match="has no 'level'"):
        DiscGeometry.from_dict({"center_ras_mm": [0, 0, 0]})


def test_created_is_an_iso_timestamp_and_reader_never_guessed():
    import datetime

    g = DiscGeometry("L4-L5", center_ras_mm=[0, 0, 0])
    assert g.reader == ""
    assert datetime.datetime.fromisoformat(g.created).tzinfo is not None


def test_transformed_moves_every_point():
    g = DiscGeometry(
        "L4-L5",
        corners_ras_mm=_ras(_quad()),
        outline_ras_mm=[[0, 1, 2], [0, 3, 4], [0, 5, 0]],
        center_ras_mm=[0, 1, 1],
    )
    moved = g.transformed(lambda p: p + np.array([1.0, 2.0, 3.0]), method="propagated")
    np.testing.assert_allclose(moved.corner_array() - g.corner_array(), [[1, 2, 3]] * 4)
    np.testing.assert_allclose(moved.outline_ras_mm - g.outline_ras_mm, [[1, 2, 3]] * 3)
    np.testing.assert_allclose(moved.center_ras_mm, [1, 3, 4])
    assert moved.method == "propagated" and g.method == "drawn"


@pytest.mark.parametrize("tilt", [-40.0, -20.0, 0.0, 25.0])
@pytest.mark.parametrize("dense", [False, True])
def test_corners_from_a_quadrilateral_outline_are_its_vertices(tilt, dense):
    c = _quad(tilt, 42.0, 13.0, 7.0, centre=(5.0, -3.0))
    poly = np.array([c["AS"], c["PS"], c["PI"], c["AI"]])
    if dense:  # the same outline drawn with many points, starting elsewhere
        t = np.linspace(0, 1, 15, endpoint=False)[:, None]
        poly = np.vstack([a + t * (b - a) for a, b in zip(poly, np.roll(poly, -1, 0), strict=True)])
        poly = np.roll(poly, 7, axis=0)
    found = corners_from_outline(poly, np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    for name in c:
        np.testing.assert_allclose(found[name], c[name], atol=1e-6)


def test_corners_from_a_rounded_outline_ignore_the_bulge():
    # A disc whose anterior and posterior margins bulge 3 mm beyond the corners.
    c = _quad(-20.0, 40.0, 12.0, 8.0)
    e = (c["AS"] + c["AI"] - c["PS"] - c["PI"]) / 2
    e /= np.linalg.norm(e)
    t = np.linspace(0, 1, 40)[:, None]
    top = c["AS"] + t * (c["PS"] - c["AS"])
    bottom = c["PI"] + t * (c["AI"] - c["PI"])
    bulge = 3.0 * np.sin(np.pi * t)
    front = c["AI"] + t * (c["AS"] - c["AI"]) + bulge * e
    back = c["PS"] + t * (c["PI"] - c["PS"]) - bulge * e
    outline = np.vstack([top, back[1:], bottom[1:], front[1:-1]])
    found = corners_from_outline(outline, np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    for name in c:
        assert np.linalg.norm(found[name] - c[name]) < 1.0, name


def test_degenerate_outlines_are_refused():
    with pytest.raises(RoiError, match="at least 3 distinct"):
        corners_from_outline(np.zeros((4, 2)), np.array([1.0, 0]), np.array([0.0, 1]))
    with pytest.raises(RoiError, match="enclose an area"):
        line = np.array([[0.0, 0], [1, 0], [2, 0]])
        corners_from_outline(line, np.array([1.0, 0]), np.array([0.0, 1]))
