import itertools
import math

import numpy as np
import pytest

from discT2 import DisplayFrame, GeometryError, ShapeMismatchError, sample_study
from discT2.io import load_map

#: The sample study's layout: i posterior, j inferior, k towards +x (as the phantom writes it).
SAMPLE_AFFINE = np.array(
    [[0, 0, 4.4, -4.4], [-1.875, 0, 0, 89.0625], [0, -1.875, 0, 111.5625], [0, 0, 0, 1.0]]
)


def _regrid(volume, affine, perm, flips):
    """The same physical image on a grid with permuted and flipped axes (and its affine)."""
    shape = np.asarray(volume.shape[:3])
    new = np.transpose(volume, (*perm, *range(3, volume.ndim)))
    new = new[tuple(slice(None, None, -1) if f else slice(None) for f in flips)]
    # old index = T @ new index: old[perm[a]] = new[a], or n - 1 - new[a] when flipped.
    t = np.zeros((4, 4))
    t[3, 3] = 1
    for a, (g, f) in enumerate(zip(perm, flips, strict=True)):
        t[g, a] = -1.0 if f else 1.0
        t[g, 3] = shape[g] - 1 if f else 0.0
    return new, affine @ t


def _rotation_x(deg):
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1.0]])


def _volume(shape=(7, 9, 3), n_echoes=None):
    rng = np.random.default_rng(0)
    extra = () if n_echoes is None else (n_echoes,)
    return rng.normal(size=(*shape, *extra))


def test_sample_layout_is_shown_as_the_scanner_shows_it():
    frame = DisplayFrame.of(np.zeros((96, 120, 3)), SAMPLE_AFFINE)
    assert frame.axes == (2, 1, 0)
    assert frame.flipped == (False, False, False)
    assert frame.display_shape == (3, 120, 96)
    np.testing.assert_allclose(frame.scale_mm, [4.4, 1.875, 1.875])
    # Down the rows is inferior, along the columns posterior.
    np.testing.assert_allclose(frame.directions_ras, [[1, 0, 0], [0, 0, -1], [0, -1, 0]])


@pytest.mark.parametrize("perm", list(itertools.permutations(range(3))))
@pytest.mark.parametrize("flips", list(itertools.product([False, True], repeat=3)))
def test_any_storage_order_gives_the_same_picture(perm, flips):
    vol = _volume(n_echoes=2)
    base = DisplayFrame.of(vol, SAMPLE_AFFINE).to_display(vol)
    new, affine = _regrid(vol, SAMPLE_AFFINE, perm, flips)
    frame = DisplayFrame.of(new, affine)
    shown = frame.to_display(new)
    # The slice axis keeps the grid's own order, so only a flipped k reverses the slices.
    k_flipped = flips[perm.index(2)]
    np.testing.assert_array_equal(shown, base[::-1] if k_flipped else base)
    assert frame.slice_axis == perm.index(2)
    np.testing.assert_array_equal(frame.from_display(shown), new)


@pytest.mark.parametrize("tilt", [-30.0, -12.0, 0.0, 8.0, 40.0])
@pytest.mark.parametrize("perm", [(0, 1, 2), (1, 0, 2), (2, 0, 1)])
def test_oblique_grids_show_superior_up_and_anterior_left(tilt, perm):
    vol = _volume()
    new, affine = _regrid(vol, _rotation_x(tilt) @ SAMPLE_AFFINE, perm, (True, False, True))
    frame = DisplayFrame.of(new, affine)
    rows, cols = frame.directions_ras[1], frame.directions_ras[2]
    # Within 45 degrees of inferior and posterior: the closest the pixel grid allows.
    assert rows @ [0, 0, -1] > math.cos(math.radians(45))
    assert cols @ [0, -1, 0] > math.cos(math.radians(45))
    assert frame.slice_axis == perm.index(2)


@pytest.mark.parametrize("tilt", [0.0, 17.0])
def test_points_round_trip_exactly(tilt):
    vol = _volume()
    new, affine = _regrid(vol, _rotation_x(tilt) @ SAMPLE_AFFINE, (1, 2, 0), (True, True, False))
    frame = DisplayFrame.of(new, affine)
    rng = np.random.default_rng(1)
    ras = rng.uniform(-80, 80, size=(50, 3))
    np.testing.assert_allclose(frame.display_to_ras(frame.ras_to_display(ras)), ras, atol=1e-9)
    ijk = rng.uniform(-1, 8, size=(50, 3))
    np.testing.assert_allclose(frame.display_to_voxel(frame.voxel_to_display(ijk)), ijk, atol=1e-12)
    # A display index names the voxel that to_display puts there, and its centre in RAS.
    shown = frame.to_display(new)
    for d in itertools.product(*(range(n) for n in frame.display_shape)):
        ijk = frame.display_to_voxel(d)
        assert shown[d] == new[tuple(np.rint(ijk).astype(int))]
        np.testing.assert_allclose(frame.display_to_ras(d), affine[:3, :3] @ ijk + affine[:3, 3])


def test_world_coordinates_are_patient_millimetres_on_an_aligned_grid():
    vol = _volume()
    new, affine = _regrid(vol, SAMPLE_AFFINE, (2, 0, 1), (True, False, True))
    frame = DisplayFrame.of(new, affine)
    d = np.array(list(itertools.product(*(range(n) for n in frame.display_shape))), float)
    world = frame.scale_mm * d + frame.translate_mm
    ras = frame.display_to_ras(d)
    np.testing.assert_allclose(world[:, 1], -ras[:, 2], atol=1e-9)
    np.testing.assert_allclose(world[:, 2], -ras[:, 1], atol=1e-9)
    np.testing.assert_allclose(np.abs(world[:, 0]), np.abs(ras[:, 0]), atol=1e-9)


def test_sample_rois_appear_where_a_radiologist_expects_them():
    labels, affine = load_map(sample_study() / "S01" / "baseline" / "truth" / "rois.nii.gz")
    frame = DisplayFrame.of(labels, affine)
    shown = frame.to_display(labels)
    rows = {v: np.nonzero(shown == v)[1].mean() for v in (21, 51)}  # L2-L3 and L5-S1
    cols = {v: np.nonzero(shown == v)[2].mean() for v in (31, 35)}  # L3-L4 AF anterior/posterior
    assert rows[21] < rows[51]  # upper disc higher on the screen
    assert cols[31] < cols[35]  # anterior annulus left of the posterior one


@pytest.mark.realdata
def test_real_ge_knee_is_shown_sagittal(realdata):
    from discT2 import load_series

    series = load_series(realdata / "knee_ge_mr750_3T_8echo")
    frame = DisplayFrame.of(series)
    assert frame.slice_axis == 2
    assert frame.directions_ras[1] @ [0, 0, -1] > 0.98  # 8.5 degrees oblique
    assert frame.directions_ras[2] @ [0, -1, 0] > 0.98
    assert frame.to_display(series.data).shape == (24, 256, 256, 8)


def test_refusals():
    with pytest.raises(GeometryError, match="no affine"):
        DisplayFrame.of(np.zeros((2, 2, 2)))
    with pytest.raises(GeometryError, match="singular"):
        DisplayFrame.of(np.zeros((2, 2, 2)), np.diag([1.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ShapeMismatchError, match="3-D grid"):
        DisplayFrame.of(np.zeros((2, 2)), np.eye(4))
    frame = DisplayFrame.of(np.zeros((2, 3, 4)), np.eye(4))
    with pytest.raises(ShapeMismatchError, match="not on this grid"):
        frame.to_display(np.zeros((3, 2, 4)))
    with pytest.raises(ShapeMismatchError, match=r"\(\.\.\., 3\)"):
        frame.ras_to_display([1.0, 2.0])
