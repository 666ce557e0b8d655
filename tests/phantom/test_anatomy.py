"""The phantom's anatomy: disc geometry, lordosis, left-right extent, tissue labels."""

import numpy as np
import pytest

from discT2.errors import InputError
from discT2.phantom.anatomy import LEVELS, TRUTH_LEVELS, Quad, SpineModel, SpineShape
from discT2.phantom.tissues import DISC_CODE, TISSUES, degenerated_disc


@pytest.fixture(scope="module")
def model():
    return SpineModel(SpineShape())


def test_quad_coordinates_invert_points():
    quad = Quad(
        np.array([40.0, 10.0]), np.array([2.0, 14.0]), np.array([43.0, -2.0]), np.array([1.0, 5.0])
    )
    rng = np.random.default_rng(0)
    s, u = rng.uniform(-0.3, 1.3, 500), rng.uniform(-0.3, 1.3, 500)
    y, z = quad.point(s, u).T
    s_back, u_back = quad.coords(y, z)
    np.testing.assert_allclose(s_back, s, atol=1e-9)
    np.testing.assert_allclose(u_back, u, atol=1e-9)


def test_corners_are_vertices_of_the_outline_and_on_the_boundary(model):
    for level in LEVELS:
        disc = model.discs[level]
        outline = disc.outline()
        for name, corner in disc.corners.items():
            assert np.min(np.linalg.norm(outline - corner, axis=1)) < 1e-9, (level, name)
        # exactly on the boundary: inside at the corner, outside a hair beyond it
        q = disc.quad
        for s, u, ds, du in ((0, 0, -1, -1), (1, 0, 1, -1), (0, 1, -1, 1), (1, 1, 1, 1)):
            assert disc.inside(np.array([s]), np.array([u]), 0.0)[0]
            for step in ((ds * 1e-6, 0), (0, du * 1e-6)):
                assert not disc.inside(np.array([s + step[0]]), np.array([u + step[1]]), 0.0)[0]
        assert q.depth_mm > 25.0


def test_corners_on_the_labelled_disc_edge(model):
    # a small circle around each corner holds disc and non-disc tissue
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    for level in TRUTH_LEVELS:
        for corner in model.discs[level].corners.values():
            y = corner[0] + 0.5 * np.cos(angles)
            z = corner[1] + 0.5 * np.sin(angles)
            code, _, _ = model.label(model.fields(y, z), 0.0)
            assert (code == DISC_CODE).any() and (code != DISC_CODE).any(), level


def test_lordosis_increases_caudally_to_30_40_degrees_at_l5_s1(model):
    tilts = [model.disc_tilt_deg(level) for level in LEVELS]
    assert np.all(np.diff(tilts[1:]) > 0), tilts
    assert 28.0 <= tilts[-1] <= 40.0
    assert abs(tilts[1]) < 8.0  # upper lumbar discs roughly level
    l5s1 = model.discs["L5-S1"].quad
    anterior = np.linalg.norm(l5s1.a_inf - l5s1.a_sup)
    posterior = np.linalg.norm(l5s1.p_inf - l5s1.p_sup)
    assert anterior > 1.6 * posterior  # wedge-shaped


def test_section_is_exact_near_the_midline_and_narrower_paramedian(model):
    y, z = np.meshgrid(np.arange(-20, 100, 0.5), np.arange(-110, 110, 0.5))
    f = model.fields(y, z)
    mid, _, _ = model.label(f, 0.0)
    near, _, _ = model.label(f, 5.5)
    assert np.array_equal(mid == DISC_CODE, near == DISC_CODE)
    _, pd_mid, disc_mid = model.label(f, 0.0)
    _, pd_far, disc_far = model.label(f, 11.0)
    assert (disc_far >= 0).sum() < (disc_mid >= 0).sum()
    bright_mid = ((disc_mid >= 0) & (pd_mid > 0.85)).sum()
    bright_far = ((disc_far >= 0) & (pd_far > 0.85)).sum()
    assert bright_far < 0.6 * bright_mid  # the nucleus narrows away from the midline


def test_anatomy_has_the_expected_tissues_in_order(model):
    # a horizontal line through the L3 body at the midline, anterior to posterior
    centre = model.bodies["L3"].point(0.5, 0.5)
    y = np.arange(centre[0] + 60, -100, -0.25)
    code, _, _ = model.label(model.fields(y, np.full_like(y, centre[1])), 0.0)
    seen = [int(c) for i, c in enumerate(code) if i == 0 or c != code[i - 1]]
    names = {t.code: t.name for t in TISSUES.values()}
    order = [names[c] for c in seen]
    for earlier, later in (
        ("soft_tissue", "marrow"),
        ("marrow", "csf"),
        ("csf", "subcutaneous_fat"),
        ("subcutaneous_fat", "skin"),
        ("skin", "air"),
    ):
        assert order.index(earlier) < len(order) - 1 - order[::-1].index(later), order
    assert order[-1] == "air"


def test_degenerated_disc_is_lower(model):
    shape = SpineShape(discs={"L4-L5": degenerated_disc(grade=4)})
    low = SpineModel(shape).discs["L4-L5"].quad.height_mm
    assert low < 0.8 * model.discs["L4-L5"].quad.height_mm


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"discs": {"L6-S1": degenerated_disc()}}, "unknown levels"),
        ({"lordosis_scale": 3.0}, "lordosis_scale"),
        ({"sacral_slope_deg": 80.0}, "sacral_slope_deg"),
    ],
)
def test_shape_refusals(kwargs, match):
    with pytest.raises(InputError, match=match):
        SpineShape(**kwargs)
